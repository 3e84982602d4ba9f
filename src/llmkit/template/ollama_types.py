"""The Go types Ollama hands to chat templates, as :class:`GoStruct` models (pure).

Current Ollama (v0.30 and later) converts the API values into template types
(``template/template.go``): messages are ``*templateMessage``; tool-call
arguments a map that prints as JSON; tools a slice that prints as JSON, whose
``Function`` and ``Parameters`` print in Go struct syntax (Ollama issue
#14601).  JSON numbers are ``float64`` in Go, so every number that came from
JSON becomes a Python ``float`` here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from llmkit.template import gojson
from llmkit.template.values import NIL_MAP, NIL_POINTER, NIL_SLICE, GoStruct

__all__ = [
    "GoJSONList",
    "GoJSONMap",
    "PropertyType",
    "TemplateMessage",
    "TemplateTool",
    "TemplateToolCall",
    "ToolProperty",
    "json_value",
    "template_messages",
    "template_tools",
]


def json_value(value: Any) -> Any:
    """A decoded JSON value as Go's ``any`` holds it: numbers are float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value


class GoJSONMap(dict[str, Any]):
    """A Go map type whose ``String()`` is its JSON (``templateArgs``, ``templateProperties``).

    ``nil`` maps print ``{}`` and encode as ``null``.
    """

    go_json_is_compact: ClassVar[bool] = True

    go_type: ClassVar[str] = "template.templateArgs"

    def __init__(self, items: Mapping[str, Any] | None = None, *, is_nil: bool = False) -> None:
        super().__init__(items or {})
        self.is_nil = is_nil and not items

    go_string_needs_address: ClassVar[bool] = False

    def go_string(self) -> str:
        if self.is_nil:
            return "{}"
        cached: str | None = self.__dict__.get("_json")
        if cached is None:
            cached = self.__dict__["_json"] = _json_or_empty(self)
        return cached

    def go_json(self) -> str | None:
        return "null" if self.is_nil else None

    def go_plain_json(self) -> Any:
        return None if self.is_nil else dict(self)


class GoJSONList(list[Any]):
    """A Go slice type whose ``String()`` is its JSON (``templateTools``).

    A nil one prints and encodes as ``null``.
    """

    go_json_is_compact: ClassVar[bool] = True

    go_type: ClassVar[str] = "template.templateTools"

    def __init__(self, items: Iterable[Any] = (), *, is_nil: bool = False) -> None:
        super().__init__(items)
        self.is_nil = is_nil and not self

    def go_string(self) -> str:
        return _json_or_empty(None if self.is_nil else list(self))

    def go_json(self) -> str | None:
        return "null" if self.is_nil else None

    def go_plain_json(self) -> Any:
        return None if self.is_nil else list(self)


def _json_or_empty(value: Any) -> str:
    try:
        return gojson.go_json(value)
    except ValueError:
        return ""


class PropertyType(list[str]):
    """``api.PropertyType``: one type prints as ``string``, several as ``[string null]``."""

    go_json_is_compact: ClassVar[bool] = True

    go_type: ClassVar[str] = "api.PropertyType"

    def go_string(self) -> str:
        if not self:
            return ""
        if len(self) == 1:
            return self[0]
        return "[" + " ".join(self) + "]"

    def go_json(self) -> str:
        return gojson.go_json(self.go_plain_json())

    def go_plain_json(self) -> Any:
        return self[0] if len(self) == 1 else list(self)


class ToolPropertiesMap(GoStruct):
    """``*api.ToolPropertiesMap``: nested properties, kept in request order."""

    go_json_is_compact: ClassVar[bool] = True

    go_type = "*api.ToolPropertiesMap"
    go_fields = ("om",)

    def __init__(self, properties: Mapping[str, ToolProperty]) -> None:
        super().__init__(om=dict(properties))

    def go_json(self) -> str:
        # wk8's ordered map writes keys with easyjson's escaper, values with encoding/json.
        om: dict[str, ToolProperty] = self.values["om"]
        parts = [_easyjson_key(key) + ":" + gojson.go_json(value) for key, value in om.items()]
        return "{" + ",".join(parts) + "}"

    def go_plain_json(self) -> Any:
        om: dict[str, ToolProperty] = self.values["om"]
        if any("\b" in key or "\f" in key for key in om):
            raise gojson.NeedsSlowPath  # easyjson keeps \u0008 and \u000c in keys
        return _InOrder(om)


class _InOrder(dict[str, Any]):
    """A map that encodes in insertion order (the fast path sorts plain maps)."""

    go_json_in_order: ClassVar[bool] = True


def _easyjson_key(key: str) -> str:
    """easyjson's string writer: like encoding/json, but ``\\b``/``\\f`` stay ``\\u00XX``."""
    out = ['"']
    for char in key:
        code = ord(char)
        if char in "\t\r\n":
            out.append({"\t": "\\t", "\r": "\\r", "\n": "\\n"}[char])
        elif char in '\\"':
            out.append("\\" + char)
        elif code < 0x20 or char in "<>&" or char in "\u2028\u2029":
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


class ToolProperty(GoStruct):
    """``api.ToolProperty``: only the JSON-schema keywords Ollama keeps."""

    go_type = "api.ToolProperty"
    go_fields = ("AnyOf", "Type", "Items", "Description", "Enum", "Properties", "Required")
    go_zero: ClassVar[dict[str, Any]] = {
        "AnyOf": NIL_SLICE, "Type": PropertyType(), "Items": None, "Description": "",
        "Enum": NIL_SLICE, "Properties": NIL_POINTER, "Required": NIL_SLICE,
    }  # fmt: skip
    json_names: ClassVar[dict[str, str | None]] = {
        "AnyOf": "anyOf", "Type": "type", "Items": "items", "Description": "description",
        "Enum": "enum", "Properties": "properties", "Required": "required",
    }  # fmt: skip
    json_omitempty = frozenset(go_fields)

    @classmethod
    def from_schema(cls, schema: Mapping[str, Any]) -> ToolProperty:
        values: dict[str, Any] = {}
        if isinstance(schema.get("anyOf"), list):
            values["AnyOf"] = [
                cls.from_schema(s) for s in schema["anyOf"] if isinstance(s, Mapping)
            ]
        kind = schema.get("type", ...)
        if kind is None:
            values["Type"] = PropertyType([""])  # JSON null decodes to one empty type
        elif isinstance(kind, str):
            values["Type"] = PropertyType([kind])
        elif isinstance(kind, list):
            values["Type"] = PropertyType(str(k) for k in kind)
        if "items" in schema:
            values["Items"] = json_value(schema["items"])
        if isinstance(schema.get("description"), str):
            values["Description"] = schema["description"]
        if isinstance(schema.get("enum"), list):
            values["Enum"] = json_value(schema["enum"])
        if isinstance(schema.get("properties"), Mapping):
            values["Properties"] = ToolPropertiesMap(
                {
                    k: cls.from_schema(v)
                    for k, v in schema["properties"].items()
                    if isinstance(v, Mapping)
                }
            )
        if isinstance(schema.get("required"), list):
            values["Required"] = [str(r) for r in schema["required"]]
        return cls(**values)

    def typescript_type(self) -> str:
        """``ToTypeScriptType``."""
        any_of: Any = self.field("AnyOf")
        if isinstance(any_of, list) and any_of:
            return " | ".join(p.typescript_type() for p in any_of)
        types: PropertyType = self.field("Type")
        if not types:
            return "any"
        return " | ".join(_TS_TYPES.get(t, "any") for t in types)


_TS_TYPES = {
    "string": "string", "number": "number", "integer": "number", "boolean": "boolean",
    "array": "any[]", "object": "Record<string, any>", "null": "null",
}  # fmt: skip


class TemplateToolFunctionParameters(GoStruct):
    go_type = "template.templateToolFunctionParameters"
    go_fields = ("Type", "Defs", "Items", "Required", "Properties")
    go_zero: ClassVar[dict[str, Any]] = {
        "Type": "", "Defs": None, "Items": None, "Required": NIL_SLICE,
        "Properties": GoJSONMap(is_nil=True),
    }  # fmt: skip
    json_names: ClassVar[dict[str, str | None]] = {
        "Type": "type", "Defs": "$defs", "Items": "items", "Required": "required",
        "Properties": "properties",
    }  # fmt: skip
    json_omitempty = frozenset({"Defs", "Items", "Required"})


class TemplateToolFunction(GoStruct):
    go_type = "template.templateToolFunction"
    go_fields = ("Name", "Description", "Parameters")
    go_zero: ClassVar[dict[str, Any]] = {"Name": "", "Description": ""}
    json_names: ClassVar[dict[str, str | None]] = {
        "Name": "name", "Description": "description", "Parameters": "parameters",
    }  # fmt: skip


class TemplateTool(GoStruct):
    go_type = "template.templateTool"
    go_fields = ("Type", "Items", "Function")
    go_zero: ClassVar[dict[str, Any]] = {"Type": "", "Items": None}
    json_names: ClassVar[dict[str, str | None]] = {
        "Type": "type", "Items": "items", "Function": "function",
    }  # fmt: skip
    json_omitempty = frozenset({"Items"})

    def go_string(self) -> str | None:
        cached: str | None = self.__dict__.get("_json")
        if cached is None:
            cached = self.__dict__["_json"] = _json_or_empty(self)
        return cached


class TemplateToolCallFunction(GoStruct):
    go_type = "template.templateToolCallFunction"
    go_fields = ("Index", "Name", "Arguments")
    go_zero: ClassVar[dict[str, Any]] = {
        "Index": 0,
        "Name": "",
        "Arguments": GoJSONMap(is_nil=True),
    }


class TemplateToolCall(GoStruct):
    go_type = "template.templateToolCall"
    go_fields = ("ID", "Function")
    go_zero: ClassVar[dict[str, Any]] = {"ID": ""}


class TemplateMessage(GoStruct):
    go_type = "*template.templateMessage"
    go_fields = ("Role", "Content", "Thinking", "Images", "ToolCalls", "ToolName", "ToolCallID")
    go_zero: ClassVar[dict[str, Any]] = {
        "Role": "", "Content": "", "Thinking": "", "Images": NIL_SLICE, "ToolCalls": NIL_SLICE,
        "ToolName": "", "ToolCallID": "",
    }  # fmt: skip


_TOOL_CALLS: dict[str, TemplateToolCall] = {}


def _tool_call(call: Mapping[str, Any]) -> TemplateToolCall:
    """A converted tool call; a conversation re-sends the same calls every turn, so they are
    kept (the values are never modified by a template)."""
    try:
        key = json.dumps(call, sort_keys=True)
    except (TypeError, ValueError):
        return _convert_tool_call(call)
    cached = _TOOL_CALLS.get(key)
    if cached is None:
        if len(_TOOL_CALLS) >= 512:
            _TOOL_CALLS.clear()
        cached = _TOOL_CALLS[key] = _convert_tool_call(call)
    return cached


def _convert_tool_call(call: Mapping[str, Any]) -> TemplateToolCall:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, Mapping):
        args = GoJSONMap(json_value(arguments))  # {} is an empty map, not nil
    else:
        args = GoJSONMap(is_nil=True)
    return TemplateToolCall.trusted(
        {
            "ID": call.get("id") or "",
            "Function": TemplateToolCallFunction.trusted(
                {
                    "Index": int(function.get("index") or 0),
                    "Name": function.get("name") or "",
                    "Arguments": args,
                }
            ),
        }
    )


def template_messages(messages: Sequence[Mapping[str, Any]]) -> list[GoStruct]:
    """``convertMessagesForTemplate``."""
    result: list[GoStruct] = []
    make = TemplateMessage.trusted
    for message in messages:
        values = {"Role": message.get("role", ""), "Content": message.get("content") or ""}
        if message.get("thinking"):
            values["Thinking"] = message["thinking"]
        if images := message.get("images"):
            values["Images"] = [_image_bytes(i) for i in images]
        if calls := message.get("tool_calls"):
            values["ToolCalls"] = [_tool_call(c) for c in calls]
        if message.get("tool_name"):
            values["ToolName"] = message["tool_name"]
        if message.get("tool_call_id"):
            values["ToolCallID"] = message["tool_call_id"]
        result.append(make(values))
    return result


def _image_bytes(image: Any) -> Any:
    import base64

    try:
        return ImageData(base64.b64decode(image))
    except (ValueError, TypeError):
        return ImageData(str(image).encode())


class ImageData(bytes):
    """``api.ImageData`` ([]byte): prints as a byte list, encodes as base64."""

    go_json_is_compact: ClassVar[bool] = True

    go_type: ClassVar[str] = "api.ImageData"

    def go_json(self) -> str:
        import base64

        return '"' + base64.b64encode(bytes(self)).decode("ascii") + '"'


def _parameters(parameters: Mapping[str, Any]) -> TemplateToolFunctionParameters:
    props = parameters.get("properties")
    values: dict[str, Any] = {"Type": parameters.get("type") or ""}
    if "$defs" in parameters:
        values["Defs"] = json_value(parameters["$defs"])
    if "items" in parameters:
        values["Items"] = json_value(parameters["items"])
    if isinstance(parameters.get("required"), list):
        values["Required"] = [str(r) for r in parameters["required"]]
    if isinstance(props, Mapping):
        values["Properties"] = GoJSONMap(
            {k: ToolProperty.from_schema(v) for k, v in props.items() if isinstance(v, Mapping)}
        )
    else:
        values["Properties"] = GoJSONMap(is_nil=True)
    return TemplateToolFunctionParameters(**values)


def template_tools(tools: Sequence[Mapping[str, Any]] | None) -> GoJSONList:
    """``convertToolsForTemplate``: ``None`` stays nil (prints ``null``, is false)."""
    if tools is None:
        return GoJSONList(is_nil=True)
    result = GoJSONList()
    for tool in tools:
        function = tool.get("function") or {}
        values: dict[str, Any] = {"Type": tool.get("type") or ""}
        if "items" in tool:
            values["Items"] = json_value(tool["items"])
        values["Function"] = TemplateToolFunction(
            Name=function.get("name") or "",
            Description=function.get("description") or "",
            Parameters=_parameters(function.get("parameters") or {}),
        )
        result.append(TemplateTool(**values))
    return result


# -- Ollama v0.14 to v0.29: the same values, but a tool has no String() -------------------


class TemplateToolV14(TemplateTool):
    """``templateTool`` before it printed as JSON: ``{{ . }}`` gives Go struct syntax."""

    def go_string(self) -> None:
        return None


# -- Ollama up to v0.13: templates received the API types themselves -------------------


class ArgumentsV13(GoJSONMap):
    """``api.ToolCallFunctionArguments`` (a map) with a pointer-receiver ``String()``."""

    go_type: ClassVar[str] = "api.ToolCallFunctionArguments"
    go_string_needs_address: ClassVar[bool] = True

    def go_string(self) -> str:
        return "null" if self.is_nil else _json_or_empty(dict(self))


class ToolCallFunctionV13(GoStruct):
    go_type = "api.ToolCallFunction"
    go_fields = ("Index", "Name", "Arguments")
    go_zero: ClassVar[dict[str, Any]] = {
        "Index": 0,
        "Name": "",
        "Arguments": ArgumentsV13(is_nil=True),
    }
    json_names: ClassVar[dict[str, str | None]] = {
        "Index": "index", "Name": "name", "Arguments": "arguments",
    }  # fmt: skip


class ToolCallV13(GoStruct):
    go_type = "api.ToolCall"
    go_fields = ("ID", "Function")
    go_zero: ClassVar[dict[str, Any]] = {"ID": ""}
    json_names: ClassVar[dict[str, str | None]] = {"ID": "id", "Function": "function"}
    json_omitempty = frozenset({"ID"})


class MessageV13(GoStruct):
    go_type = "*api.Message"
    go_fields = TemplateMessage.go_fields
    go_zero = TemplateMessage.go_zero
    json_names: ClassVar[dict[str, str | None]] = {
        "Role": "role", "Content": "content", "Thinking": "thinking", "Images": "images",
        "ToolCalls": "tool_calls", "ToolName": "tool_name", "ToolCallID": "tool_call_id",
    }  # fmt: skip
    json_omitempty = frozenset({"Thinking", "Images", "ToolCalls", "ToolName", "ToolCallID"})


class ToolPropertyV13(GoStruct):
    """``api.ToolProperty`` of v0.13: no ``required``; nested properties a plain map."""

    go_type = "api.ToolProperty"
    go_fields = ("AnyOf", "Type", "Items", "Description", "Enum", "Properties")
    go_zero: ClassVar[dict[str, Any]] = {
        "AnyOf": NIL_SLICE, "Type": PropertyType(), "Items": None, "Description": "",
        "Enum": NIL_SLICE, "Properties": NIL_MAP,
    }  # fmt: skip
    json_names: ClassVar[dict[str, str | None]] = {
        "AnyOf": "anyOf", "Type": "type", "Items": "items", "Description": "description",
        "Enum": "enum", "Properties": "properties",
    }  # fmt: skip
    json_omitempty = frozenset(go_fields)

    @classmethod
    def from_schema(cls, schema: Mapping[str, Any]) -> ToolPropertyV13:
        values = ToolProperty.from_schema(schema).values
        values.pop("Required", None)
        if isinstance(values.get("AnyOf"), list):
            values["AnyOf"] = [
                cls.from_schema(s) for s in schema["anyOf"] if isinstance(s, Mapping)
            ]
        if "Properties" in values:
            values["Properties"] = {
                k: cls.from_schema(v)
                for k, v in schema["properties"].items()
                if isinstance(v, Mapping)
            }
        return cls(**values)

    def typescript_type(self) -> str:
        any_of: Any = self.field("AnyOf")
        if isinstance(any_of, list) and any_of:
            return " | ".join(p.typescript_type() for p in any_of)
        types: PropertyType = self.field("Type")
        if not types:
            return "any"
        return " | ".join(_TS_TYPES.get(t, "any") for t in types)


class ToolFunctionParametersV13(GoStruct):
    go_type = "api.ToolFunctionParameters"
    go_fields = TemplateToolFunctionParameters.go_fields
    go_zero: ClassVar[dict[str, Any]] = {
        "Type": "", "Defs": None, "Items": None, "Required": NIL_SLICE, "Properties": NIL_MAP,
    }  # fmt: skip
    json_names = TemplateToolFunctionParameters.json_names
    json_omitempty = TemplateToolFunctionParameters.json_omitempty
    go_string_needs_address: ClassVar[bool] = True

    def go_string(self) -> str:
        return _json_or_empty(self)


class ToolFunctionV13(GoStruct):
    go_type = "api.ToolFunction"
    go_fields = ("Name", "Description", "Parameters")
    go_zero: ClassVar[dict[str, Any]] = {"Name": "", "Description": ""}
    json_names = TemplateToolFunction.json_names
    json_omitempty = frozenset({"Description"})
    go_string_needs_address: ClassVar[bool] = True

    def go_string(self) -> str:
        return _json_or_empty(self)


class ToolV13(TemplateTool):
    go_type = "api.Tool"


def _tool_call_v13(call: Mapping[str, Any]) -> ToolCallV13:
    current = _tool_call(call)
    function = current.field("Function")
    arguments = function.field("Arguments")
    return ToolCallV13(
        ID=current.field("ID"),
        Function=ToolCallFunctionV13(
            Index=function.field("Index"),
            Name=function.field("Name"),
            Arguments=ArgumentsV13(arguments, is_nil=arguments.is_nil),
        ),
    )


def messages_for(messages: Sequence[Mapping[str, Any]], compat: str) -> list[GoStruct]:
    """The value of ``.Messages`` in a compatibility mode."""
    current = template_messages(messages)
    if compat != "v0.13":
        return current
    result: list[GoStruct] = []
    for message, converted in zip(messages, current, strict=True):
        values = dict(converted.values)
        calls = message.get("tool_calls") or []
        values["ToolCalls"] = [_tool_call_v13(c) for c in calls] if calls else NIL_SLICE
        result.append(MessageV13(**values))
    return result


def tools_for(tools: Sequence[Mapping[str, Any]] | None, compat: str) -> GoJSONList:
    """The value of ``.Tools`` in a compatibility mode."""
    if compat == "current":
        return template_tools(tools)
    if tools is None:
        return GoJSONList(is_nil=True)
    result = GoJSONList()
    for tool, converted in zip(tools, template_tools(tools), strict=True):
        if compat == "v0.14":
            result.append(TemplateToolV14(**converted.values))
            continue
        function = tool.get("function") or {}
        parameters = function.get("parameters") or {}
        params = dict(_parameters(parameters).values)
        props = parameters.get("properties")
        params["Properties"] = (
            {k: ToolPropertyV13.from_schema(v) for k, v in props.items() if isinstance(v, Mapping)}
            if isinstance(props, Mapping)
            else NIL_MAP
        )
        values = dict(converted.values)
        values["Function"] = ToolFunctionV13(
            Name=function.get("name") or "",
            Description=function.get("description") or "",
            Parameters=ToolFunctionParametersV13(**params),
        )
        result.append(ToolV13(**values))
    return result
