"""How Go prints a value, as Jinja expressions of the export.

This module owns the text of a value three ways: what ``{{ value }}`` prints
(:func:`_printed`), what ``json`` writes (:func:`_json`) and what fmt's ``%v`` writes for
``print``/``printf`` (:func:`_text_of`), each for every kind the exporter knows, using the
helper macros of :mod:`llmkit.template.jinja._macros` where stock Jinja does not suffice, and
refusing what Go can only print with heap addresses or raw bytes.
"""

from __future__ import annotations

from llmkit.template import gojson
from llmkit.template.jinja._macros import _lit
from llmkit.template.jinja._state import _Export
from llmkit.template.jinja._truth import _choose
from llmkit.template.jinja._values import K, _Val
from llmkit.template.nodes import Node
from llmkit.template.runtime import NO_VALUE, Runtime


def _printed(export: _Export, val: _Val, node: Node) -> str:
    """Jinja expression of the text Go prints for ``val`` (``{{ val }}``)."""
    use = export.use
    kind, e = val.kind, val.expr
    if val.is_const:
        return _lit(Runtime.printable(val.const))
    if kind is K.UNION and val.alts:
        return _choose(export, val.alts, val.is_and, lambda v: _printed(export, v, node))
    if kind is K.STR or kind is K.INT:
        return e
    if kind is K.BOOL:
        return f"('true' if {e} else 'false')"
    if kind is K.FLOAT:
        return f"{use('go_float')}({e}, false)"
    if kind is K.ANY:
        return f"('<no value>' if {e} is none else {use('go_text')}({e}))"
    if kind is K.ARGS:
        return f"{use('go_json')}({e} or {{}})"
    if kind is K.TOOLS:
        return f"('null' if {e} is none else {use('go_tools_json')}({e}))"
    if kind is K.TOOL:
        return f"{use('go_tool_json')}({e})"
    if kind is K.TOOLFN:
        return f"{use('go_toolfn_text')}({e})"
    if kind is K.PARAMS:
        return f"{use('go_params_text')}({e})"
    if kind is K.PROPS:
        return f"('{{}}' if {e} is none else {use('go_props_json')}({e}))"
    if kind is K.PROPTYPE and val.of is not None:
        return f"{use('go_prop_type')}({val.of})"
    if kind is K.PROPTYPE:
        return f"({e}[0] if {e}|length == 1 else ('[' ~ {e}|join(' ') ~ ']' if {e} else ''))"
    if kind is K.STRLIST:
        return f"('[' ~ ({e} or [])|join(' ') ~ ']')"
    if kind is K.ANYLIST:
        return f"{use('go_text')}({e} or [])"
    if kind is K.CALLFN:
        return (
            f"('{{' ~ {e}['index'] ~ ' ' ~ {e}['name'] ~ ' ' ~ "
            f"{use('go_json')}({e}['arguments'] or {{}}) ~ '}}')"
        )
    if kind is K.CALL:
        return f"{use('go_call_text')}({e})"
    if kind is K.CALLS:
        return f"{use('go_calls_text')}({e})"
    reasons = {
        K.MESSAGES: "Go prints the messages as heap addresses",
        K.MESSAGE: "printing a whole message (Go struct syntax with image bytes)",
        K.IMAGES: "printing image bytes",
        K.PROP: "printing an api.ToolProperty (Go struct syntax with a pointer address)",
        K.PROPLIST: "printing api.ToolProperty values (Go struct syntax with pointers)",
        K.PROPMAP: "Go prints nested properties as a heap address",
        K.DATA: "printing the whole data map (it holds pointers)",
        K.UNION: "printing an and/or result whose type is not known in advance",
        K.NOVALUE: "printing no value",
    }
    raise export.refuse(reasons.get(kind, f"printing a {kind.value}"), node)


def _json(export: _Export, val: _Val, node: Node) -> str:
    """Jinja expression of ``json val``."""
    use = export.use
    kind, e = val.kind, val.expr
    if kind is K.UNION and val.alts:
        return _choose(export, val.alts, val.is_and, lambda v: _json(export, v, node))
    if val.is_const:
        try:
            return _lit(gojson.go_json(None if val.const is NO_VALUE else val.const))
        except ValueError:
            return "''"
    simple = {
        K.STR: "go_json", K.ANY: "go_json", K.ARGS: "go_json", K.STRLIST: "go_json",
        K.ANYLIST: "go_json", K.TOOL: "go_tool_json", K.TOOLFN: "go_toolfn_json",
        K.PARAMS: "go_params_json", K.PROP: "go_prop_json", K.CALL: "go_call_json",
        K.CALLS: "go_calls_json", K.MESSAGE: "go_message_json",
        K.MESSAGES: "go_messages_json",
    }  # fmt: skip
    if kind is K.MESSAGES:  # every slice of no messages is Go's nil slice: null
        return f"{use(simple[kind])}({e}, ollama.messages)"
    if kind in simple:
        return f"{use(simple[kind])}({e})"
    if kind is K.INT:
        return f"({e}|string)"
    if kind is K.BOOL:
        return f"('true' if {e} else 'false')"
    if kind is K.FLOAT:
        return f"{use('go_float')}({e}, true)"
    if kind is K.TOOLS:
        return f"('null' if {e} is none else {use('go_tools_json')}({e}))"
    if kind is K.PROPS:
        return f"('null' if {e} is none else {use('go_props_json')}({e}))"
    if kind is K.PROPTYPE and val.of is not None:
        return f"{use('go_prop_type')}({val.of}, true)"
    if kind is K.PROPTYPE:
        return f"{use('go_json')}({e}[0] if {e}|length == 1 else {e})"
    if kind is K.PROPLIST:
        return f"('null' if {e} is none else {use('go_proplist_json')}({e}))"
    if kind is K.PROPMAP:
        return f"('null' if {e} is none else {use('go_propmap_json')}({e}))"
    if kind is K.CALLFN:
        go_json = use("go_json")
        return (
            f"('{{\"Index\":' ~ {e}['index'] ~ ',\"Name\":' ~ {go_json}({e}['name'])"
            f" ~ ',\"Arguments\":' ~ {go_json}({e}['arguments']) ~ '}}')"
        )
    raise export.refuse(f"json of a {kind.value} is not supported", node)


def _text_of(export: _Export, val: _Val, node: Node) -> str:
    """Jinja expression of ``val`` printed by fmt's %v (``print``, ``printf %v``)."""
    if val.kind is K.NOVALUE:
        return "'<nil>'"
    if val.kind is K.ANY:
        raise export.refuse("printing a JSON value of unknown type with print/printf", node)
    if val.kind is K.INT:
        return f"({val.expr}|string)"
    if val.kind is K.UNION and val.alts:
        return _choose(export, val.alts, val.is_and, lambda v: _text_of(export, v, node))
    return _printed(export, val, node)
