"""Ollama's rendering of chat templates: data, paths, collation, the legacy cut (pure).

Follows ``template/template.go`` and ``server/prompt.go`` as described in
``shared/reference/ollama-template-semantics.md``: parse with
``missingkey=zero`` and Ollama's functions; append ``{{ .Response }}`` when the
template names neither ``.Messages`` nor ``.Response``; collate same-role
messages; pick the fill-in-the-middle, messages or legacy path; and on the
legacy path run a copy of the template cut after ``.Response``.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from llmkit.errors import TemplateExecError, TemplateSyntaxError
from llmkit.template import gojson
from llmkit.template.gotemplate import GoTemplate
from llmkit.template.nodes import (
    ActionNode,
    BranchNode,
    CommandNode,
    FieldNode,
    ListNode,
    Node,
    PipeNode,
    TemplateNode,
    VariableNode,
)
from llmkit.template.ollama_types import (
    ToolProperty,
    ToolPropertyV13,
    messages_for,
    tools_for,
)
from llmkit.template.parser import parse
from llmkit.template.runtime import Budget, Limits
from llmkit.template.values import NIL_SLICE

__all__ = ["Compat", "OllamaTemplate", "collate", "template_vars"]

Compat = Literal["current", "v0.14", "v0.13"]
OLLAMA_FUNCTIONS = ("json", "currentDate", "yesterdayDate", "toTypeScriptType")
#: The functions whose results are always short (a date): no size check (see Limits).
_SMALL_RESULTS = frozenset({"currentDate", "yesterdayDate"})


def _json(value: Any) -> str:
    try:
        return gojson.go_json(value)
    except ValueError:
        return ""


def _to_typescript(value: Any) -> str:
    if isinstance(value, ToolProperty | ToolPropertyV13):
        return value.typescript_type()
    return "any"


@functools.lru_cache(maxsize=8)
def ollama_functions(today: dt.date) -> dict[str, Callable[..., Any]]:
    """Ollama's FuncMap, with "today" fixed for ``currentDate`` (made once per date)."""
    return {
        "json": _json,
        "currentDate": lambda *args: today.isoformat(),
        "yesterdayDate": lambda *args: (today - dt.timedelta(days=1)).isoformat(),
        "toTypeScriptType": _to_typescript,
    }


def identifiers(node: Node | None) -> list[str]:
    """Ollama's ``Identifiers``: field and variable names in pipelines and bodies."""
    if node is None:
        return []
    if isinstance(node, ListNode):
        return [name for child in node.nodes for name in identifiers(child)]
    if isinstance(node, TemplateNode):
        if node.pipe is None:
            raise TemplateSyntaxError("undefined template specified")
        return identifiers(node.pipe)
    if isinstance(node, ActionNode):
        return identifiers(node.pipe)
    if isinstance(node, BranchNode):
        return identifiers(node.pipe) + identifiers(node.list) + identifiers(node.else_list)
    if isinstance(node, PipeNode):
        return [name for cmd in node.cmds for arg in cmd.args for name in identifiers(arg)]
    if isinstance(node, FieldNode | VariableNode):
        return list(node.ident)
    return []


def template_vars(trees: Mapping[str, ListNode]) -> list[str]:
    """Ollama's ``Vars``: every identifier of every template, lower-cased, sorted."""
    found: set[str] = set()
    for tree in trees.values():
        for node in tree.nodes:
            found.update(name.lower() for name in identifiers(node))
    return sorted(found)


def collate(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[Mapping[str, Any]]]:
    """Merge consecutive same-role messages (not tool ones); return (system, messages).

    The given messages are never modified: a merged message is a new dict.
    """
    system: list[str] = []
    collated: list[Mapping[str, Any]] = []
    previous_role = None
    for message in messages:
        role = message.get("role", "")
        if role == "system":
            system.append(message.get("content") or "")
        if collated and previous_role == role and role != "tool":
            last = collated[-1]
            merged = (last.get("content") or "") + "\n\n" + (message.get("content") or "")
            collated[-1] = {**last, "content": merged}
        else:
            collated.append(message)
        previous_role = role
    return "\n\n".join(system), collated


def _response_action() -> ActionNode:
    return ActionNode(-1, PipeNode(-1, cmds=[CommandNode(-1, [FieldNode(-1, ["Response"])])]))


class _CutPanic(Exception):
    pass


def cut_at_response(root: ListNode) -> ListNode:
    """Ollama's ``deleteNode``: drop everything after the first ``.Response`` field."""
    cut = False

    def predicate(node: Node) -> bool:
        nonlocal cut
        if isinstance(node, FieldNode) and "Response" in node.ident:
            cut = True
            return False
        return cut

    def walk(node: Node) -> Node | None:
        if predicate(node):
            return None
        if isinstance(node, ListNode):
            node.nodes = [kept for child in node.nodes if (kept := walk(child)) is not None]
            return node
        if isinstance(node, BranchNode):
            body = walk(node.list)
            if not isinstance(body, ListNode):
                raise _CutPanic  # Go's type assertion on the removed list panics
            node.list = body
            if node.else_list is not None:
                rest = walk(node.else_list)
                if not isinstance(rest, ListNode):
                    raise _CutPanic
                node.else_list = rest
            return node
        if isinstance(node, ActionNode):
            pipe = walk(node.pipe)
            if not isinstance(pipe, PipeNode):
                return None
            node.pipe = pipe
            return node
        if isinstance(node, PipeNode):
            commands = []
            for cmd in node.cmds:
                args = [kept for arg in cmd.args if (kept := walk(arg)) is not None]
                if not args:
                    return None
                cmd.args = args
                commands.append(cmd)
            if not commands:
                return None
            node.cmds = commands
            return node
        return node

    result = walk(copy.deepcopy(root))
    assert isinstance(result, ListNode)
    return result


class OllamaTemplate:
    """A Go chat template as Ollama parses and executes it."""

    def __init__(self, source: str, *, name: str = "") -> None:
        self.source = source
        self.name = name
        trees = parse(source, name=name, functions=OLLAMA_FUNCTIONS)
        self.vars = template_vars(trees)
        if "messages" not in self.vars and "response" not in self.vars:
            trees[name].nodes.append(_response_action())
        self.trees = trees
        self.uses_messages = "messages" in self.vars
        self._placeholder = dict.fromkeys(OLLAMA_FUNCTIONS, _json)
        self.go = GoTemplate(
            source,
            name=name,
            functions=self._placeholder,
            trees=trees,
            small_results=_SMALL_RESULTS,
        )
        self._legacy: GoTemplate | None = None
        self._tools_cache: tuple[str, Any, Any] | None = None

    def _tools(self, tools: Sequence[Mapping[str, Any]] | None, compat: Compat) -> Any:
        """The converted tools, reused while a conversation keeps offering the same ones."""
        cached = self._tools_cache
        if cached is not None and cached[0] == compat and cached[1] == tools:
            return cached[2]
        converted = tools_for(tools, compat)
        self._tools_cache = (compat, copy.deepcopy(tools), converted)
        return converted

    @property
    def python_source(self) -> str:
        return self.go.python_source

    def _legacy_final(self) -> GoTemplate:
        if self._legacy is None:
            try:
                root = cut_at_response(self.trees[self.name])
            except _CutPanic:
                raise TemplateExecError(
                    "Ollama cannot cut this template at .Response (it sits in a block with "
                    "an else branch); Ollama itself fails on it",
                    name=self.name,
                ) from None
            self._legacy = GoTemplate(
                self.source, name=self.name, trees={self.name: root}, missing_key="default"
            )
        return self._legacy

    def execute(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        prompt: str = "",
        suffix: str = "",
        think: bool | str | None = None,
        today: dt.date | None = None,
        compat: Compat = "current",
        limits: Limits | None = None,
    ) -> str:
        """Ollama's ``Template.Execute`` on chat-API shaped values.

        ``limits`` bound the whole render, whichever path it takes (the legacy path's
        executions share them); the default is ``Limits()``.
        """
        budget = Budget(limits or _DEFAULT_LIMITS)
        functions = ollama_functions(today or dt.date.today())
        think_on = think not in (None, False, "")
        think_level = "medium" if think is True else (think if isinstance(think, str) else "")
        think_values = {
            "Think": think_on,
            "ThinkLevel": think_level,
            "IsThinkSet": think is not None,
        }
        system, collated = collate(messages)
        if prompt and suffix:
            data = {"Prompt": prompt, "Suffix": suffix, "Response": "", **think_values}
            return self.go.execute(data, functions=functions, budget=budget)
        if self.uses_messages:
            data = {
                "System": system,
                # collate appends to a nil slice: no messages is a nil slice (json: null)
                "Messages": messages_for(collated, compat) if collated else NIL_SLICE,
                "Tools": self._tools(tools, compat),
                "Response": "",
                **think_values,
            }
            return self.go.execute(data, functions=functions, budget=budget)
        return self._execute_legacy(collated, think_values, functions, budget)

    def _execute_legacy(
        self,
        messages: list[Mapping[str, Any]],
        think_values: dict[str, Any],
        functions: dict[str, Callable[..., Any]],
        budget: Budget,
    ) -> str:
        parts: list[str] = []
        registers = {"System": "", "Prompt": "", "Response": ""}

        def run() -> None:
            data = {**registers, **think_values}
            parts.append(self.go.execute(data, functions=functions, budget=budget))
            registers.update(System="", Prompt="", Response="")

        for message in messages:
            role = message.get("role")
            content = message.get("content") or ""
            if role == "system":
                if registers["Prompt"] or registers["Response"]:
                    run()
                registers["System"] = content
            elif role == "user":
                if registers["Response"]:
                    run()
                registers["Prompt"] = content
            elif role == "assistant":
                registers["Response"] = content
        final = self._legacy_final()
        parts.append(final.execute({**registers, **think_values}, budget=budget))
        return "".join(parts)


_DEFAULT_LIMITS = Limits()
