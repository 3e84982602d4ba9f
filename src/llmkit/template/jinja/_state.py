"""The state of one Jinja export and its bookkeeping.

This module owns :class:`_Export`, what every part of the exporter shares while it writes one
template: the compiled template and its source, the Jinja lines written so far and their
indentation (:meth:`~_Export.emit`, :meth:`~_Export.text`, :meth:`~_Export.output`), the
Go variables in scope (:meth:`~_Export.lookup`, :meth:`~_Export.declare`,
:meth:`~_Export.assign`) and the names taken (:meth:`~_Export.fresh`), the helper macros
used (:meth:`~_Export.use`) and the inputs the prologue must prepare (``needs``), and the
errors that name the construct being exported (:meth:`~_Export.refuse`).
"""

from __future__ import annotations

import re

from llmkit.errors import JinjaExportError
from llmkit.template.jinja._flow import _Loop
from llmkit.template.jinja._macros import _lit
from llmkit.template.jinja._values import K, _Val
from llmkit.template.jinja._variables import _DeclInfo, _fresh_name, _Var
from llmkit.template.nodes import Node, VariableNode
from llmkit.template.ollama import OllamaTemplate
from llmkit.template.parser import position


class _Export:
    """One export in progress (the walk over the tree is :class:`._emitter._Emitter`)."""

    def __init__(self, template: OllamaTemplate) -> None:
        self.template = template
        self.source = template.source
        self.name = template.name
        self.trees = template.trees
        #: Helper macros used (written before the prologue).
        self.helpers: set[str] = set()
        #: What the prologue prepares: "messages", "tools", "think".
        self.needs: set[str] = set()
        #: Jinja names taken by Go variables and the export's own variables.
        self.names: set[str] = set()
        self.lines: list[str] = []
        self.level = 0
        self.scopes: list[dict[str, _Var]] = []
        self.decls: dict[int, _DeclInfo] = {}
        self.loops: list[_Loop] = []
        #: The templates being inlined (``{{ template }}``), innermost last.
        self.inlining: list[str] = []
        self.dot = _Val("", K.DATA)
        self.legacy = False
        #: The last legacy turn: Ollama runs it without its own functions.
        self.no_functions = False
        self.ns_used = False
        #: The statement being exported (what errors name).
        self.node: Node | None = None

    # -- errors and naming ---------------------------------------------------------------

    def refuse(self, reason: str, node: Node | None = None) -> JinjaExportError:
        """The error for something the export cannot express (the caller raises it)."""
        node = node if node is not None else self.node
        pos = node.pos if node is not None else -1
        if pos < 0:
            construct = "{{ .Response }} (appended by Ollama)"
            return JinjaExportError(
                f"cannot export {construct}: {reason}", construct=construct, name=self.name
            )
        start = self.source.rfind("{{", 0, pos + 1)
        end = self.source.find("}}", pos)
        if start < 0 or end < 0 or self.source.rfind("}}", start, pos) >= 0:
            construct = self.source[pos : pos + 60]
        else:
            construct = self.source[start : end + 2]
        if len(construct) > 100:
            construct = construct[:97] + "..."
        line, column, source_line = position(self.source, pos)
        return JinjaExportError(
            f"cannot export {construct} (line {line}): {reason}",
            construct=construct,
            name=self.name,
            line=line,
            column=column,
            source_line=source_line,
        )

    def fresh(self, base: str) -> str:
        """A new Jinja name derived from ``base``."""
        return _fresh_name(base, self.names, legacy=self.legacy)

    def use(self, helper: str) -> str:
        """The name of a helper macro, which the export will then write out."""
        self.helpers.add(helper)
        return helper

    # -- output ----------------------------------------------------------------------------

    def emit(self, statement: str) -> None:
        self.lines.append("  " * self.level + statement)

    def text(self, text: str) -> None:
        if not text:
            return
        for piece in re.findall(r"[^\n]*\n+|[^\n]+", text):
            self.emit(f"{{{{- {_lit(piece)} }}}}")

    def output(self, expr: str) -> None:
        self.emit(f"{{{{- {expr} }}}}")

    # -- variables --------------------------------------------------------------------------

    def lookup(self, name: str) -> _Var:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise self.refuse(f"variable {name} is not defined here")

    def declare(self, variable: VariableNode, val: _Val, *, origin: str | None = None) -> str:
        """A new Go variable holding ``val``; returns its Jinja reference."""
        info = self.decls.get(id(variable), _DeclInfo(0))
        if val.kind is K.UNION and val.truth is not None:
            raise self.refuse("a variable cannot hold an and/or result of mixed types")
        base = self.fresh(variable.ident[0].lstrip("$") or "v")
        if info.needs_ns:
            self.ns_used = True
            ref = f"ns.{base}"
        else:
            ref = base
        stored = _Val(
            ref,
            val.kind,
            truth=None,
            origin=origin if not info.assigned else None,
        )
        self.scopes[-1][variable.ident[0]] = _Var(ref, stored)
        return ref

    def assign(self, variable: VariableNode, val: _Val) -> None:
        var = self.lookup(variable.ident[0])
        if var.val.kind is not val.kind:
            raise self.refuse(
                f"variable {variable.ident[0]} changes type ({var.val.kind.value} to "
                f"{val.kind.value})"
            )
        self.emit(f"{{%- set {var.ref} = {val.expr} %}}")
