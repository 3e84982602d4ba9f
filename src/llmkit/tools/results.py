"""What calling a tool produced, as the model will read it (pure).

:class:`ToolResult` carries a tool's outcome back to the model as a ``tool`` message: the
return value as text, or what went wrong. Invalid arguments are listed one
:class:`ArgumentProblem` each, with the path of the argument (``stops[2].city``) rather than
pydantic's location, which also names the forms of a union it tried (kept apart, as
``variant``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import pydantic_core
from pydantic import BaseModel, ValidationError

from llmkit.types.messages import Message

__all__ = [
    "ArgumentProblem",
    "ToolErrorKind",
    "ToolResult",
    "content_of",
    "exception_result",
    "invalid_arguments_result",
    "problems_of",
    "shown",
]

ToolErrorKind = Literal["invalid_arguments", "exception"]
_INPUT_CHARS = 80


@dataclass(frozen=True)
class ArgumentProblem:
    """One thing wrong with a call's arguments: where (``unit``, ``stops[2].city``; empty for
    the arguments as a whole), what, and, inside a union, which of its forms was tried
    (``variant``, e.g. ``"Address"``; empty elsewhere)."""

    path: str
    message: str
    variant: str = ""

    def __str__(self) -> str:
        where = self.path + (f" (as {self.variant})" if self.variant else "")
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True)
class ToolResult:
    """The outcome of calling a tool, ready to go back to the model as a ``tool`` message.

    ``content`` is the text for the model: the return value (a string as is, anything else
    as JSON), or what went wrong. ``error`` says which kind of failure it was, if any;
    ``problems`` lists invalid arguments; ``exception`` holds what the function raised.
    """

    tool_name: str
    content: str
    call_id: str | None = None
    value: Any = None
    error: ToolErrorKind | None = None
    problems: tuple[ArgumentProblem, ...] = ()
    exception: Exception | None = None

    @property
    def is_error(self) -> bool:
        """Whether the call failed (invalid arguments or an exception)."""
        return self.error is not None

    def to_message(self) -> Message:
        """The ``tool`` message that carries this result back to the model."""
        return Message(
            role="tool", content=self.content, tool_name=self.tool_name, tool_call_id=self.call_id
        )


def _path(parts: list[int | str]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_PYTHON_TYPES = {
    "int": "integer",
    "str": "string",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "tuple": "array",
    "set": "array",
    "dict": "object",
}


def _member(options: list[Any], tag: str) -> Any:
    """The union member pydantic's error names ``tag``: a model's title, a Python type name
    (``int``, ``list[int]``), or a discriminator's value; ``None`` when it cannot be told."""
    kind = _PYTHON_TYPES.get(tag.split("[", 1)[0])
    for option in options:
        if not isinstance(option, dict):
            continue
        properties = option.get("properties")
        consts = (
            [v.get("const") for v in properties.values() if isinstance(v, dict)]
            if isinstance(properties, dict)
            else []
        )
        if tag == option.get("title") or (kind and kind == option.get("type")) or tag in consts:
            return option
    return None


def _locate(loc: tuple[int | str, ...], schema: dict[str, Any]) -> tuple[str, str]:
    """Split pydantic's error location into the arguments' path and the union forms tried.

    Walks the schema beside the location: in a union of two or more forms (other than null),
    pydantic's next location part is the tag of the form it tried, not a field name."""
    defs = schema.get("$defs", {})
    node: Any = schema
    parts: list[int | str] = []
    variants: list[str] = []
    for part in loc:
        node = _unwrap(node, defs)
        options = node.get("anyOf") or node.get("oneOf")
        if (
            isinstance(options, list)
            and isinstance(part, str)
            and part not in node.get("properties", {})
        ):
            variants.append(part)
            node = _unwrap(_member(options, part), defs)
        elif isinstance(part, int):
            parts.append(part)
            items = node.get("prefixItems")
            node = (
                items[part] if isinstance(items, list) and part < len(items) else node.get("items")
            )
        else:
            parts.append(part)
            properties = node.get("properties")
            node = (
                properties.get(part)
                if isinstance(properties, dict) and part in properties
                else node.get("additionalProperties")
            )
    return _path(parts), ", ".join(variants)


def _unwrap(node: Any, defs: Any) -> dict[str, Any]:
    """A schema node with its ``$ref`` resolved and an optional (``X | None``) seen as ``X``;
    ``{}`` when unknown."""
    for _ in range(8):  # refs and optionals nest only a few levels
        if not isinstance(node, dict):
            return {}
        ref = node.get("$ref")
        if isinstance(ref, str) and isinstance(defs, dict):
            node = defs.get(ref.rsplit("/", 1)[-1])
            continue
        options = node.get("anyOf") or node.get("oneOf")
        if isinstance(options, list):
            real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(real) == 1 and len(options) == 2:
                node = real[0]
                continue
        break
    return node if isinstance(node, dict) else {}


def shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _INPUT_CHARS else text[: _INPUT_CHARS - 3] + "..."


def problems_of(exc: ValidationError, schema: dict[str, Any]) -> tuple[ArgumentProblem, ...]:
    problems: list[ArgumentProblem] = []
    for error in exc.errors():
        path, variant = _locate(tuple(error["loc"]), schema)
        if error["type"] == "missing":
            message = "missing required argument"
        elif error["type"] == "extra_forbidden":
            message = "unexpected argument"
        else:
            message = f"{error['msg']} (got {shown(error.get('input'))})"
        problems.append(ArgumentProblem(path, message, variant))
    return tuple(problems)


def content_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return pydantic_core.to_json(value, fallback=str).decode()


def invalid_arguments_result(
    name: str, problems: tuple[ArgumentProblem, ...], call_id: str | None
) -> ToolResult:
    """The result of a call whose arguments did not validate: each problem on its line."""
    noun = "problem" if len(problems) == 1 else "problems"
    lines = [f"Error: invalid arguments for tool {name!r} ({len(problems)} {noun}):"]
    lines += [f"- {problem}" for problem in problems]
    lines.append(f"Call {name} again with arguments that match its parameters.")
    return ToolResult(name, "\n".join(lines), call_id, error="invalid_arguments", problems=problems)


def exception_result(name: str, exc: Exception, call_id: str | None) -> ToolResult:
    """The result of a call whose function raised: the exception's type and message."""
    detail = f": {exc}" if str(exc) else ""
    return ToolResult(
        name,
        f"Error: tool {name!r} raised {type(exc).__name__}{detail}",
        call_id,
        error="exception",
        exception=exc,
    )
