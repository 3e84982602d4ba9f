"""Static types of Go values for the Jinja export (:mod:`llmkit.template.jinja`).

This module owns what the exporter knows about a Go value at export time: its kind
(:class:`K`), the value itself as a Jinja expression with its kind, constant and truth
(:class:`_Val`, :func:`_const`, :func:`_number_value`), and the typing tables that follow
from Ollama's template data: struct fields and their Jinja expressions (``_FIELDS``,
:func:`_prop_fields`, :func:`_item`), element kinds of lists and maps, which kinds have
Python's truth or may be ``none``, and the loop variable names per kind.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from llmkit.template.jinja._macros import _is_list, _lit
from llmkit.template.nodes import NumberNode
from llmkit.template.runtime import NO_VALUE


class K(enum.Enum):
    """What a Go value is, known at export time; the value's Jinja form follows from it."""

    STR = "string"
    BOOL = "bool"
    INT = "int"
    FLOAT = "float64"
    NOVALUE = "no value"
    ANY = "JSON value (interface {})"
    UNION = "mixed and/or result"
    DATA = "map[string]interface {} (the template data)"
    MESSAGES = "[]*template.templateMessage"
    MESSAGE = "*template.templateMessage"
    IMAGES = "[]api.ImageData"
    CALLS = "[]template.templateToolCall"
    CALL = "template.templateToolCall"
    CALLFN = "template.templateToolCallFunction"
    ARGS = "template.templateArgs"
    TOOLS = "template.templateTools"
    TOOL = "template.templateTool"
    TOOLFN = "template.templateToolFunction"
    PARAMS = "template.templateToolFunctionParameters"
    PROPS = "template.templateProperties"
    PROP = "api.ToolProperty"
    PROPTYPE = "api.PropertyType"
    PROPLIST = "[]api.ToolProperty"
    PROPMAP = "*api.ToolPropertiesMap"
    STRLIST = "[]string"
    ANYLIST = "[]interface {}"


#: Kinds whose Jinja value has Python's truth, which equals Go's.
_NATIVE_TRUTH: Final = frozenset(
    {
        K.STR, K.BOOL, K.INT, K.FLOAT, K.ANY, K.MESSAGES, K.IMAGES, K.CALLS, K.ARGS, K.TOOLS,
        K.PROPS, K.PROPTYPE, K.PROPLIST, K.STRLIST, K.ANYLIST,
    }
)  # fmt: skip
#: Structs: always true in Go (their Jinja value may be an empty dict).
_STRUCTS: Final = frozenset(
    {K.DATA, K.MESSAGE, K.CALL, K.CALLFN, K.TOOL, K.TOOLFN, K.PARAMS, K.PROP}
)
_BASIC: Final = {K.STR: "string", K.BOOL: "bool", K.INT: "int", K.FLOAT: "float"}

_NO_CONST: Final = object()


@dataclass(frozen=True)
class _Val:
    """A Go value at export time: its Jinja expression and what it is."""

    expr: str
    kind: K
    const: Any = _NO_CONST
    #: Jinja expression of its Go truth, where Python's truth of ``expr`` differs.
    truth: str | None = None
    #: A value straight from a field (Go's nil interface), not yet a pipeline result.
    raw: bool = False
    #: For a range index variable: the Jinja expression of the list it indexes.
    origin: str | None = None
    #: For a field read from a struct: the struct's Jinja expression.
    of: str | None = None
    #: For an and/or result: its operands and whether it is ``and``.
    alts: tuple[_Val, ...] = ()
    is_and: bool = False

    @property
    def is_const(self) -> bool:
        return self.const is not _NO_CONST


def _const(value: Any) -> _Val:
    """A constant Go value (string, bool, int, float or no value)."""
    if value is NO_VALUE or value is None:
        return _Val("none", K.NOVALUE, NO_VALUE)
    if isinstance(value, bool):
        return _Val("true" if value else "false", K.BOOL, value)
    if isinstance(value, int):
        return _Val(str(value) if value >= 0 else f"({value})", K.INT, value)
    if isinstance(value, float):
        text = repr(value)
        if text in ("inf", "-inf", "nan"):
            return _Val(f"({text!r}|float)", K.FLOAT, value)
        return _Val(text if value >= 0 else f"({text})", K.FLOAT, value)
    if isinstance(value, str):
        return _Val(_lit(value), K.STR, value)
    raise TypeError(type(value).__name__)  # pragma: no cover


def _number_value(node: NumberNode) -> Any:
    """Go's ``idealConstant``: what a number literal is as a value (see codegen)."""
    text = node.text
    if node.is_complex:
        return None
    hex_int = (
        len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")
    )
    if (
        node.is_float
        and not hex_int
        and not text.startswith("'")
        and any(c in text for c in ".eEpP")
    ):
        return node.float64
    if node.is_int:
        return node.int64
    return None


# Struct fields: kind -> field -> (kind of the field, Jinja expression from the struct's).
_Field = tuple[K, Callable[[str], str]]


def _prop_fields() -> dict[str, _Field]:
    def get(key: str) -> Callable[[str], str]:
        return lambda e: f"{e}.get({_lit(key)})"

    def listed(key: str, then: str) -> Callable[[str], str]:
        def build(e: str) -> str:
            value = f"{e}.get({_lit(key)})"
            return f"({value}{then} if {_is_list(value)} else none)"

        return build

    def types(e: str) -> str:
        value = f"{e}.get('type')"
        return (
            f"([{value}] if {value} is string else ([''] if 'type' in {e} and {value} is none "
            f"else ({value}|map('string')|list if {_is_list(value)} else [])))"
        )

    return {
        "AnyOf": (K.PROPLIST, listed("anyOf", "|select('mapping')|list")),
        "Type": (K.PROPTYPE, types),
        "Items": (K.ANY, get("items")),
        "Description": (
            K.STR,
            lambda e: f"({e}.get('description') if {e}.get('description') is string else '')",
        ),
        "Enum": (K.ANYLIST, listed("enum", "")),
        "Properties": (
            K.PROPMAP,
            lambda e: f"({e}.get('properties') if {e}.get('properties') is mapping else none)",
        ),
        "Required": (K.STRLIST, listed("required", "|map('string')|list")),
    }


def _item(key: str) -> Callable[[str], str]:
    return lambda e: f"{e}[{_lit(key)}]"


_FIELDS: Final[dict[K, dict[str, _Field]]] = {
    K.MESSAGE: {
        "Role": (K.STR, _item("role")),
        "Content": (K.STR, _item("content")),
        "Thinking": (K.STR, _item("thinking")),
        "Images": (K.IMAGES, _item("images")),
        "ToolCalls": (K.CALLS, _item("tool_calls")),
        "ToolName": (K.STR, _item("tool_name")),
        "ToolCallID": (K.STR, _item("tool_call_id")),
    },
    K.CALL: {"ID": (K.STR, _item("id")), "Function": (K.CALLFN, lambda e: e)},
    K.CALLFN: {
        "Index": (K.INT, _item("index")),
        "Name": (K.STR, _item("name")),
        "Arguments": (K.ARGS, _item("arguments")),
    },
    K.TOOL: {
        "Type": (K.STR, _item("type")),
        "Items": (K.ANY, _item("items")),
        "Function": (K.TOOLFN, _item("function")),
    },
    K.TOOLFN: {
        "Name": (K.STR, _item("name")),
        "Description": (K.STR, _item("description")),
        "Parameters": (K.PARAMS, _item("parameters")),
    },
    K.PARAMS: {
        "Type": (K.STR, _item("type")),
        "Defs": (K.ANY, _item("defs")),
        "Items": (K.ANY, _item("items")),
        "Required": (K.STRLIST, _item("required")),
        "Properties": (K.PROPS, _item("properties")),
    },
    K.PROP: _prop_fields(),
}

#: Element kinds of the lists and maps a template can range over or index.
_ELEMENTS: Final = {
    K.MESSAGES: K.MESSAGE,
    K.CALLS: K.CALL,
    K.TOOLS: K.TOOL,
    K.STRLIST: K.STR,
    K.ANYLIST: K.ANY,
    K.PROPLIST: K.PROP,
    K.PROPTYPE: K.STR,
}
#: Lists whose Jinja value may be ``none`` for Go's nil.
_NILLABLE: Final = frozenset({K.TOOLS, K.STRLIST, K.ANYLIST, K.PROPLIST, K.ARGS, K.PROPS})
_MAPS: Final = {K.ARGS: K.ANY, K.PROPS: K.PROP}
_LOOP_NAMES: Final = {
    K.MESSAGE: "message", K.CALL: "tool_call", K.TOOL: "tool", K.STR: "item", K.ANY: "value",
    K.PROP: "property", K.INT: "n",
}  # fmt: skip
