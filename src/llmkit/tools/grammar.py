"""Grammars that force a tool call, in the format the parser reads back (pure).

For ``tool_choice="required"`` or a tool's name, an in-process runtime constrains its
output to one call of the offered tool(s). :func:`call_schema` is the JSON schema of one
call object (``{"name": <a tool's name>, "arguments": <that tool's parameters>}``, one
``anyOf`` branch per tool), and :class:`ToolCallGrammar` wraps it in the format's markup
(Hermes' ``<tool_call>...</tool_call>``, Mistral's ``[TOOL_CALLS] [...]``...). The JSON
part becomes GBNF through a converter the runtime supplies (llama.cpp's
``json_schema_to_gbnf``), so this module needs no runtime.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from llmkit.errors import InvalidRequestError
from llmkit.types.messages import Tool

__all__ = ["CALL_LAYOUTS", "CallLayout", "ToolCallGrammar", "call_schema", "gbnf_literal"]


@dataclass(frozen=True)
class CallLayout:
    """How a format writes one call: markup before and after the call object, and the
    keys of the name and the arguments."""

    prefix: str
    suffix: str
    name_key: str = "name"
    arguments_key: str = "arguments"


CALL_LAYOUTS: dict[str, CallLayout] = {
    "hermes": CallLayout("<tool_call>\n", "\n</tool_call>"),
    "qwen": CallLayout("<tool_call>\n", "\n</tool_call>"),
    "llama3_json": CallLayout("", "", arguments_key="parameters"),
    "mistral": CallLayout("[TOOL_CALLS] [", "]"),
    "nemotron": CallLayout("<toolcall> ", " </toolcall>"),
    "firefunction": CallLayout("functools[", "]"),
    "granite": CallLayout("<|tool_call|>[", "]"),
    "phi4": CallLayout("<|tool_call|>[", "]<|/tool_call|>"),
    "command_r": CallLayout("Action: ```json\n[", "]\n```", "tool_name", "parameters"),
}
"""The formats a call can be forced in (every named format except ``pythonic``)."""


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def call_schema(tools: Sequence[Tool], layout: CallLayout | None = None) -> dict[str, Any]:
    """The JSON schema of one call object to any of ``tools``. Each tool's ``$defs`` are
    moved to the top (their ``#/$defs/...`` references then resolve), renamed apart when
    two tools define the same name differently."""
    layout = layout or CALL_LAYOUTS["hermes"]
    if not tools:
        raise InvalidRequestError("a forced tool call needs tools to choose from", fields=["tools"])
    defs: dict[str, Any] = {}
    branches = []
    for tool in tools:
        parameters = dict(tool.function.parameters)
        own = parameters.pop("$defs", None) or {}
        clashes = {key for key, value in own.items() if key in defs and defs[key] != value}
        if clashes:
            text = json.dumps(parameters)
            own_text = json.dumps(own)
            for key in clashes:
                renamed = f"{tool.function.name}__{key}"
                ref = f'"#/$defs/{key}"'
                text = text.replace(ref, f'"#/$defs/{renamed}"')
                own_text = own_text.replace(ref, f'"#/$defs/{renamed}"')
                own_text = own_text.replace(f'"{key}":', f'"{renamed}":', 1)
            parameters, own = json.loads(text), json.loads(own_text)
        defs.update(own)
        branches.append(
            {
                "type": "object",
                "properties": {
                    layout.name_key: {"const": tool.function.name},
                    layout.arguments_key: parameters,
                },
                "required": [layout.name_key, layout.arguments_key],
            }
        )
    schema: dict[str, Any] = branches[0] if len(branches) == 1 else {"anyOf": branches}
    if defs:
        schema = {**schema, "$defs": defs}
    return schema


@dataclass(frozen=True)
class ToolCallGrammar:
    """A grammar for exactly one call to one of ``tools``, written in ``format``."""

    tools: tuple[Tool, ...]
    format: str = "hermes"

    def __post_init__(self) -> None:
        if self.format not in CALL_LAYOUTS:
            raise InvalidRequestError(
                f"tool_choice cannot force a call in the {self.format!r} format; "
                f"choose one of {', '.join(sorted(CALL_LAYOUTS))} with tool_format=",
                fields=["tool_choice"],
            )

    @classmethod
    def for_choice(
        cls, tools: Sequence[Tool] | None, choice: str | None, format: str | None = None
    ) -> ToolCallGrammar | None:
        """The grammar ``tool_choice`` asks for: ``None`` unless it is ``"required"`` (any
        of ``tools``) or a tool's name (that tool); ``format`` defaults to ``hermes``."""
        if choice in (None, "auto", "none") or not tools:
            return None
        chosen = [t for t in tools if choice == "required" or t.function.name == choice]
        if not chosen:
            raise InvalidRequestError(
                f"tool_choice={choice!r} is not one of the offered tools", fields=["tool_choice"]
            )
        return cls(tuple(chosen), format or "hermes")

    @property
    def layout(self) -> CallLayout:
        return CALL_LAYOUTS[self.format]

    def schema(self) -> dict[str, Any]:
        """The JSON schema of the call object."""
        return call_schema(self.tools, self.layout)

    def gbnf(self, schema_to_gbnf: Callable[[str], str]) -> str:
        """The whole grammar; ``schema_to_gbnf(schema_json)`` turns a JSON schema into GBNF
        whose start rule is ``root`` (llama.cpp's ``json_schema_to_gbnf``)."""
        body = schema_to_gbnf(json.dumps(self.schema()))
        body = re.sub(r"^root\s*::=", "tool-call-object ::=", body, count=1, flags=re.M)
        parts = [gbnf_literal(self.layout.prefix)] if self.layout.prefix else []
        parts.append("tool-call-object")
        if self.layout.suffix:
            parts.append(gbnf_literal(self.layout.suffix))
        return f"root ::= {' '.join(parts)}\n{body}"
