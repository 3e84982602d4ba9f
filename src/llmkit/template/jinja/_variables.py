"""Go variables in the Jinja export: what they are called and how they are stored.

This module owns the names the export gives Go variables: the names it never uses
(``_RESERVED``: Jinja's words, the template's inputs and the export's own names;
``_LEGACY_PARAMS``: the legacy turn macros' parameters) and the choice of a fresh one
(:func:`_fresh_name`); a variable in scope (:class:`_Var`); and the analysis, before a
template body is written, of which declared variables are assigned and which are assigned
from inside a deeper ``range`` and so must live in Jinja's ``ns`` namespace
(:class:`_DeclInfo`, :func:`_analyse`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from llmkit.template.jinja._macros import _HELPERS
from llmkit.template.jinja._values import _Val
from llmkit.template.nodes import (
    ActionNode,
    BranchNode,
    ListNode,
    Node,
    PipeNode,
    RangeNode,
    TemplateNode,
)

#: Names the export never gives a Go variable: Jinja's words, inputs and its own names.
_RESERVED: Final = frozenset(
    (
        "and", "or", "not", "in", "is", "if", "else", "elif", "endif", "for", "endfor", "true",
        "false", "none", "True", "False", "None", "loop", "self", "caller", "varargs", "kwargs",
        "namespace", "range", "dict", "lipsum", "cycler", "joiner", "macro", "endmacro", "call",
        "set", "block", "extends", "include", "import", "from", "with", "without", "context",
        "raw", "filter", "messages", "tools", "think", "enable_thinking", "add_generation_prompt",
        "bos_token", "eos_token", "raise_exception", "strftime_now", "ollama", "ns", "turn",
        "think_value", "ollama_turn", "ollama_last_turn",
    )
) | frozenset(_HELPERS)  # fmt: skip
#: The legacy turn macros' parameters.
_LEGACY_PARAMS: Final = frozenset({"system", "prompt", "response"})


@dataclass
class _Var:
    """A Go variable in scope: its Jinja reference and the value it holds."""

    ref: str
    val: _Val


@dataclass
class _DeclInfo:
    """What the analysis found about one declared variable."""

    loop_depth: int
    needs_ns: bool = False
    assigned: bool = False


def _fresh_name(base: str, taken: set[str], *, legacy: bool) -> str:
    """A Jinja name derived from ``base`` that is not taken, reserved or (legacy) a parameter;
    it is added to ``taken``."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", base).strip("_") or "v"
    if base[0].isdigit():
        base = "v" + base
    name = base
    number = 1
    while name in taken or name in _RESERVED or (legacy and name in _LEGACY_PARAMS):
        number += 1
        name = f"{base}_{number}"
    taken.add(name)
    return name


def _analyse(root: ListNode, decls: dict[int, _DeclInfo]) -> None:
    """Which variables are assigned, and which from inside a deeper loop (need ``ns``).

    Records a :class:`_DeclInfo` in ``decls`` for each declaring variable node (by ``id``).
    """
    scopes: list[dict[str, _DeclInfo]] = [{"$": _DeclInfo(0)}]

    def lookup(name: str) -> _DeclInfo | None:
        for scope in reversed(scopes):
            if name in scope:
                return scope[name]
        return None

    def pipe(node: PipeNode | None, depth: int) -> None:
        if node is None:
            return
        for cmd in node.cmds:
            for arg in cmd.args:
                if isinstance(arg, PipeNode):
                    pipe(arg, depth)
        for variable in node.decl:
            if node.is_assign:
                info = lookup(variable.ident[0])
                if info is not None:
                    info.assigned = True
                    info.needs_ns |= depth > info.loop_depth
            else:
                info = _DeclInfo(depth)
                decls[id(variable)] = info
                scopes[-1][variable.ident[0]] = info

    def walk(node: Node | None, depth: int) -> None:
        if isinstance(node, ListNode):
            for child in node.nodes:
                walk(child, depth)
        elif isinstance(node, ActionNode):
            pipe(node.pipe, depth)
        elif isinstance(node, RangeNode):
            scopes.append({})
            pipe(node.pipe, depth + 1)
            scopes.append({})
            walk(node.list, depth + 1)
            scopes.pop()
            scopes.append({})
            walk(node.else_list, depth)
            scopes.pop()
            scopes.pop()
        elif isinstance(node, BranchNode):
            scopes.append({})
            pipe(node.pipe, depth)
            for body in (node.list, node.else_list):
                scopes.append({})
                walk(body, depth)
                scopes.pop()
            scopes.pop()
        elif isinstance(node, TemplateNode):
            pipe(node.pipe, depth)

    walk(root, 0)
