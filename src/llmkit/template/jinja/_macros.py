"""The Jinja macro library of the Jinja export (:mod:`llmkit.template.jinja`).

This module owns the Jinja source text the exporter emits besides the template's own
statements: :func:`_lit` (Jinja string literals), the ``_GO_*`` macro sources that print JSON
values, tools, tool calls and messages exactly as Go and Ollama do, their expansion
(:func:`_macro`), the table of helper macros with what each calls (``_HELPERS``) and the
fixed order in which the used ones are written out (:func:`_helper_order`).
"""

from __future__ import annotations

import re
from typing import Final


def _lit(text: str) -> str:
    """A Jinja string literal for ``text`` (escapes decoded by Jinja's ``unicode-escape``)."""
    out = ["'"]
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x80 or (ch.isprintable() and not 0xD800 <= code <= 0xDFFF):
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append("'")
    return "".join(out)


def _is_list(expr: str) -> str:
    """Jinja test for a JSON array (Python ``list``)."""
    return f"({expr} is iterable and {expr} is not string and {expr} is not mapping)"


#: encoding/json's escapes after the backslash and the quote (those two come first).
_JSON_ESCAPES: Final = [
    ("\n", "\\n"),
    ("\r", "\\r"),
    ("\t", "\\t"),
    ("\b", "\\b"),
    ("\f", "\\f"),
    *[(chr(c), f"\\u{c:04x}") for c in range(0x20) if chr(c) not in "\n\r\t\b\f"],
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
]


def _escape_list() -> str:
    pairs = [f"({_lit(a)}, {_lit(b)})" for a, b in _JSON_ESCAPES]
    rows = [", ".join(pairs[i : i + 5]) for i in range(0, len(pairs), 5)]
    return "[\n      " + ",\n      ".join(rows) + "\n    ]"


# Helper macros, written into an export when it needs them.  Each takes and returns only
# strings and plain data; all text they print is inside {{- ... }}, so they add no whitespace.

_GO_JSON_STR = r"""{#- a string as Go's encoding/json writes it (easy: \b \f as easyjson does) #}
{%- macro go_json_str(s, easy=false) %}
  {%- set state = namespace(s=(s|string)|replace('\\', '\\\\')|replace('"', '\\"')) %}
  {%- if easy %}
    {%- set state.s = state.s|replace('\x08', '\\u0008')|replace('\x0c', '\\u000c') %}
  {%- endif %}
  {%- for old, new in @ESCAPES@ %}
    {%- set state.s = state.s|replace(old, new) %}
  {%- endfor %}
  {{- '"' ~ state.s ~ '"' }}
{%- endmacro %}"""

_GO_FLOAT = r"""{#- a number as Go prints its float64: %v (js=false) or encoding/json (js=true) #}
{%- macro go_float(x, js) %}
  {%- set s = (x|float)|string %}
  {%- if s in ('inf', '-inf', 'nan') %}
    {%- if js %}{{- raise_exception('json: unsupported value: ' ~ s) }}{%- endif %}
    {{- {'inf': '+Inf', '-inf': '-Inf', 'nan': 'NaN'}[s] }}
  {%- else %}
    {#- Python's repr has Go's shortest digits: find them and the decimal point #}
    {%- set sign = '-' if s.startswith('-') else '' %}
    {%- set s = s.lstrip('-') %}
    {%- set mantissa = s.split('e')[0] %}
    {%- set exp = s.split('e')[1]|int if 'e' in s else 0 %}
    {%- set whole = mantissa.split('.')[0] %}
    {%- set all = whole ~ (mantissa.split('.')[1] if '.' in mantissa else '') %}
    {%- set digits = all.lstrip('0').rstrip('0') %}
    {%- set dp = whole|length + exp - (all|length - all.lstrip('0')|length) %}
    {%- set nd = digits|length %}
    {%- if nd == 0 %}
      {%- set out = '0' %}
    {%- elif (js and (dp - 1 < -6 or dp - 1 >= 21))
          or (not js and (dp - 1 < -4 or dp - 1 >= 6)) %}
      {%- set e = (dp - 1)|abs %}
      {%- set out = digits[0] ~ ('.' ~ digits[1:] if nd > 1 else '') ~ 'e'
          ~ ('-' if dp - 1 < 0 else '+') ~ ('0' if e < 10 and not js else '') ~ e %}
    {%- elif dp <= 0 %}
      {%- set out = '0.' ~ '0' * (0 - dp) ~ digits %}
    {%- elif dp >= nd %}
      {%- set out = digits ~ '0' * (dp - nd) %}
    {%- else %}
      {%- set out = digits[:dp] ~ '.' ~ digits[dp:] %}
    {%- endif %}
    {{- sign ~ out }}
  {%- endif %}
{%- endmacro %}"""

_GO_JSON = r"""{#- a JSON value as Go's json.Marshal writes it (map keys sorted) #}
{%- macro go_json(v) %}
  {%- if v is none %}
    {{- 'null' }}
  {%- elif v is boolean %}
    {{- 'true' if v else 'false' }}
  {%- elif v is string %}
    {{- go_json_str(v) }}
  {%- elif v is number %}
    {{- go_float(v, true) }}
  {%- elif v is mapping %}
    {{- '{' }}
    {%- for key, value in v|dictsort(true) %}
      {{- (',' if not loop.first else '') ~ go_json_str(key) ~ ':' ~ go_json(value) }}
    {%- endfor %}
    {{- '}' }}
  {%- else %}
    {{- '[' }}
    {%- for value in v %}
      {{- (',' if not loop.first else '') ~ go_json(value) }}
    {%- endfor %}
    {{- ']' }}
  {%- endif %}
{%- endmacro %}"""

_GO_TEXT = r"""{#- a JSON value inside a Go value printed with %v: map[k:v], [a b], <nil> #}
{%- macro go_text(v) %}
  {%- if v is none %}
    {{- '<nil>' }}
  {%- elif v is boolean %}
    {{- 'true' if v else 'false' }}
  {%- elif v is string %}
    {{- v }}
  {%- elif v is number %}
    {{- go_float(v, false) }}
  {%- elif v is mapping %}
    {{- 'map[' }}
    {%- for key, value in v|dictsort(true) %}
      {{- (' ' if not loop.first else '') ~ key ~ ':' ~ go_text(value) }}
    {%- endfor %}
    {{- ']' }}
  {%- else %}
    {{- '[' }}
    {%- for value in v %}
      {{- (' ' if not loop.first else '') ~ go_text(value) }}
    {%- endfor %}
    {{- ']' }}
  {%- endif %}
{%- endmacro %}"""

_GO_PROP_JSON = r"""{#- a tool parameter's property (Ollama's api.ToolProperty) as JSON #}
{%- macro go_prop_json(s) %}
  {%- set state = namespace(parts=[]) %}
  {%- set any_of = s.get('anyOf') %}
  {%- if @LIST(any_of)@ and any_of|select('mapping')|list %}
    {%- set state.parts = state.parts
        + ['"anyOf":' ~ go_proplist_json(any_of|select('mapping')|list)] %}
  {%- endif %}
  {%- set type = s.get('type') %}
  {%- if type is string %}
    {%- set state.parts = state.parts + ['"type":' ~ go_json_str(type)] %}
  {%- elif 'type' in s and type is none %}
    {%- set state.parts = state.parts + ['"type":""'] %}
  {%- elif @LIST(type)@ and type %}
    {%- set types = type|map('string')|list %}
    {%- set state.parts = state.parts
        + ['"type":' ~ (go_json_str(types[0]) if types|length == 1 else go_json(types))] %}
  {%- endif %}
  {%- if s.get('items') is not none %}
    {%- set state.parts = state.parts + ['"items":' ~ go_json(s.get('items'))] %}
  {%- endif %}
  {%- if s.get('description') is string and s.get('description') %}
    {%- set state.parts = state.parts + ['"description":' ~ go_json_str(s.get('description'))] %}
  {%- endif %}
  {%- set enum = s.get('enum') %}
  {%- if @LIST(enum)@ and enum %}
    {%- set state.parts = state.parts + ['"enum":' ~ go_json(enum)] %}
  {%- endif %}
  {%- if s.get('properties') is mapping %}
    {%- set state.parts = state.parts + ['"properties":' ~ go_propmap_json(s.get('properties'))] %}
  {%- endif %}
  {%- set required = s.get('required') %}
  {%- if @LIST(required)@ and required %}
    {%- set state.parts = state.parts + ['"required":' ~ go_json(required|map('string')|list)] %}
  {%- endif %}
  {{- '{' ~ state.parts|join(',') ~ '}' }}
{%- endmacro %}"""

_GO_PROPLIST_JSON = r"""{%- macro go_proplist_json(properties) %}
  {{- '[' }}
  {%- for value in properties %}
    {{- (',' if not loop.first else '') ~ go_prop_json(value) }}
  {%- endfor %}
  {{- ']' }}
{%- endmacro %}"""

_GO_PROPMAP_JSON = r"""{#- nested properties (*api.ToolPropertiesMap) as JSON, in request order #}
{%- macro go_propmap_json(properties) %}
  {{- '{' }}
  {%- for key, value in properties.items() if value is mapping %}
    {{- (',' if not loop.first else '') ~ go_json_str(key, true) ~ ':' ~ go_prop_json(value) }}
  {%- endfor %}
  {{- '}' }}
{%- endmacro %}"""

_GO_PROPS_JSON = r"""{#- a tool's parameter properties as JSON, sorted by name #}
{%- macro go_props_json(properties) %}
  {{- '{' }}
  {%- for key, value in properties|dictsort(true) %}
    {{- (',' if not loop.first else '') ~ go_json_str(key) ~ ':' ~ go_prop_json(value) }}
  {%- endfor %}
  {{- '}' }}
{%- endmacro %}"""

_GO_PARAMS_JSON = r"""{%- macro go_params_json(p) %}
  {{- '{"type":' ~ go_json(p['type'])
      ~ (',"$defs":' ~ go_json(p['defs']) if p['defs'] is not none else '')
      ~ (',"items":' ~ go_json(p['items']) if p['items'] is not none else '')
      ~ (',"required":' ~ go_json(p['required']) if p['required'] else '')
      ~ ',"properties":'
      ~ (go_props_json(p['properties']) if p['properties'] is not none else 'null') ~ '}' }}
{%- endmacro %}"""

_GO_TOOLFN_JSON = r"""{%- macro go_toolfn_json(f) %}
  {{- '{"name":' ~ go_json(f['name']) ~ ',"description":' ~ go_json(f['description'])
      ~ ',"parameters":' ~ go_params_json(f['parameters']) ~ '}' }}
{%- endmacro %}"""

_GO_TOOL_JSON = r"""{#- a tool as Ollama's template sees it, as JSON #}
{%- macro go_tool_json(t) %}
  {{- '{"type":' ~ go_json(t['type'])
      ~ (',"items":' ~ go_json(t['items']) if t['items'] is not none else '')
      ~ ',"function":' ~ go_toolfn_json(t['function']) ~ '}' }}
{%- endmacro %}"""

_GO_TOOLS_JSON = r"""{%- macro go_tools_json(tools) %}
  {{- '[' }}
  {%- for tool in tools %}
    {{- (',' if not loop.first else '') ~ go_tool_json(tool) }}
  {%- endfor %}
  {{- ']' }}
{%- endmacro %}"""

_GO_PARAMS_TEXT = r"""{#- tool parameters in Go struct syntax #}
{%- macro go_params_text(p) %}
  {{- '{' ~ p['type'] ~ ' ' ~ go_text(p['defs']) ~ ' ' ~ go_text(p['items'])
      ~ ' [' ~ (p['required'] or [])|join(' ') ~ '] '
      ~ (go_props_json(p['properties']) if p['properties'] is not none else '{}') ~ '}' }}
{%- endmacro %}"""

_GO_TOOLFN_TEXT = r"""{#- a tool's function in Go struct syntax, as Ollama prints {{ .Function }} #}
{%- macro go_toolfn_text(f) %}
  {{- '{' ~ f['name'] ~ ' ' ~ f['description'] ~ ' ' ~ go_params_text(f['parameters']) ~ '}' }}
{%- endmacro %}"""

_GO_TS_TYPE = r"""{#- Ollama's toTypeScriptType of a property #}
{%- macro go_ts_type(s) %}
  {%- set state = namespace(parts=[]) %}
  {%- set any_of = s.get('anyOf') %}
  {%- if @LIST(any_of)@ %}
    {%- for alt in any_of|select('mapping') %}
      {%- set state.parts = state.parts + [go_ts_type(alt)] %}
    {%- endfor %}
  {%- endif %}
  {%- if not state.parts %}
    {%- set type = s.get('type') %}
    {%- set types = [type] if type is string else ([''] if 'type' in s and type is none
        else (type|map('string')|list if @LIST(type)@ else [])) %}
    {%- for t in types %}
      {%- set state.parts = state.parts + [{'string': 'string', 'number': 'number',
          'integer': 'number', 'boolean': 'boolean', 'array': 'any[]',
          'object': 'Record<string, any>', 'null': 'null'}.get(t, 'any')] %}
    {%- endfor %}
  {%- endif %}
  {{- state.parts|join(' | ') if state.parts else 'any' }}
{%- endmacro %}"""

_GO_PROP_TYPE = r"""{#- a property's type (api.PropertyType): one prints as is, several as [a b] #}
{%- macro go_prop_type(s, js=false) %}
  {%- set type = s.get('type') %}
  {%- set types = [type] if type is string else ([''] if 'type' in s and type is none
      else (type|map('string')|list if @LIST(type)@ else [])) %}
  {%- if js %}
    {{- go_json(types[0] if types|length == 1 else types) }}
  {%- elif types|length == 1 %}
    {{- types[0] }}
  {%- elif types %}
    {{- '[' ~ types|join(' ') ~ ']' }}
  {%- endif %}
{%- endmacro %}"""

_GO_CALL_TEXT = r"""{#- a tool call in Go struct syntax: {id {index name arguments}} #}
{%- macro go_call_text(c) %}
  {{- '{' ~ c['id'] ~ ' {' ~ c['index'] ~ ' ' ~ c['name'] ~ ' '
      ~ go_json(c['arguments'] or {}) ~ '}}' }}
{%- endmacro %}"""

_GO_CALLS_TEXT = r"""{%- macro go_calls_text(calls) %}
  {{- '[' }}
  {%- for c in calls %}
    {{- (' ' if not loop.first else '') ~ go_call_text(c) }}
  {%- endfor %}
  {{- ']' }}
{%- endmacro %}"""

_GO_CALL_JSON = r"""{%- macro go_call_json(c) %}
  {{- '{"ID":' ~ go_json(c['id']) ~ ',"Function":{"Index":' ~ c['index']
      ~ ',"Name":' ~ go_json(c['name']) ~ ',"Arguments":' ~ go_json(c['arguments']) ~ '}}' }}
{%- endmacro %}"""

_GO_CALLS_JSON = r"""{%- macro go_calls_json(calls) %}
  {%- if not calls %}
    {{- 'null' }}
  {%- else %}
    {{- '[' }}
    {%- for c in calls %}
      {{- (',' if not loop.first else '') ~ go_call_json(c) }}
    {%- endfor %}
    {{- ']' }}
  {%- endif %}
{%- endmacro %}"""

_GO_MESSAGE_JSON = r"""{#- a message as Go's json.Marshal writes Ollama's templateMessage #}
{%- macro go_message_json(m) %}
  {%- if m['images'] %}
    {{- raise_exception('the exported template cannot write image data as JSON') }}
  {%- endif %}
  {{- '{"Role":' ~ go_json(m['role']) ~ ',"Content":' ~ go_json(m['content'])
      ~ ',"Thinking":' ~ go_json(m['thinking']) ~ ',"Images":null,"ToolCalls":'
      ~ go_calls_json(m['tool_calls']) ~ ',"ToolName":' ~ go_json(m['tool_name'])
      ~ ',"ToolCallID":' ~ go_json(m['tool_call_id']) ~ '}' }}
{%- endmacro %}"""

_GO_MESSAGES_JSON = r"""{#- messages (a slice of all_messages) as Go's json.Marshal writes them #}
{%- macro go_messages_json(messages, all_messages) %}
  {%- if not all_messages %}
    {{- 'null' }}
  {%- else %}
    {{- '[' }}
    {%- for m in messages %}
      {{- (',' if not loop.first else '') ~ go_message_json(m) }}
    {%- endfor %}
    {{- ']' }}
  {%- endif %}
{%- endmacro %}"""

_GO_YESTERDAY = r"""{#- Ollama's yesterdayDate #}
{%- macro go_yesterday() %}
  {%- set today = strftime_now('%Y-%m-%d').split('-') %}
  {%- set year = today[0]|int %}
  {%- set month = today[1]|int %}
  {%- set day = today[2]|int - 1 %}
  {%- if day == 0 %}
    {%- set month = month - 1 %}
    {%- if month == 0 %}
      {%- set year = year - 1 %}
      {%- set month = 12 %}
    {%- endif %}
    {%- set leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 %}
    {%- set day = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] %}
  {%- endif %}
  {{- '%04d-%02d-%02d'|format(year, month, day) }}
{%- endmacro %}"""


def _macro(source: str) -> str:
    source = source.replace("@ESCAPES@", _escape_list())
    return re.sub(r"@LIST\((\w+)\)@", lambda m: _is_list(m.group(1)), source)


#: Helper macros by name: (the macros it calls, its Jinja source).
_HELPERS: Final[dict[str, tuple[tuple[str, ...], str]]] = {
    "go_json_str": ((), _macro(_GO_JSON_STR)),
    "go_float": ((), _macro(_GO_FLOAT)),
    "go_json": (("go_json_str", "go_float"), _macro(_GO_JSON)),
    "go_text": (("go_float",), _macro(_GO_TEXT)),
    "go_prop_json": (
        ("go_json", "go_json_str", "go_proplist_json", "go_propmap_json"),
        _macro(_GO_PROP_JSON),
    ),
    "go_proplist_json": (("go_prop_json",), _macro(_GO_PROPLIST_JSON)),
    "go_propmap_json": (("go_json_str", "go_prop_json"), _macro(_GO_PROPMAP_JSON)),
    "go_props_json": (("go_json_str", "go_prop_json"), _macro(_GO_PROPS_JSON)),
    "go_params_json": (("go_json", "go_props_json"), _macro(_GO_PARAMS_JSON)),
    "go_toolfn_json": (("go_json", "go_params_json"), _macro(_GO_TOOLFN_JSON)),
    "go_tool_json": (("go_json", "go_toolfn_json"), _macro(_GO_TOOL_JSON)),
    "go_tools_json": (("go_tool_json",), _macro(_GO_TOOLS_JSON)),
    "go_params_text": (("go_text", "go_props_json"), _macro(_GO_PARAMS_TEXT)),
    "go_toolfn_text": (("go_params_text",), _macro(_GO_TOOLFN_TEXT)),
    "go_ts_type": ((), _macro(_GO_TS_TYPE)),
    "go_prop_type": (("go_json",), _macro(_GO_PROP_TYPE)),
    "go_call_text": (("go_json",), _macro(_GO_CALL_TEXT)),
    "go_calls_text": (("go_call_text",), _macro(_GO_CALLS_TEXT)),
    "go_call_json": (("go_json",), _macro(_GO_CALL_JSON)),
    "go_calls_json": (("go_call_json",), _macro(_GO_CALLS_JSON)),
    "go_message_json": (("go_json", "go_calls_json"), _macro(_GO_MESSAGE_JSON)),
    "go_messages_json": (("go_message_json",), _macro(_GO_MESSAGES_JSON)),
    "go_yesterday": ((), _macro(_GO_YESTERDAY)),
}


def _helper_order(used: set[str]) -> list[str]:
    """The used helpers and what they call, in a fixed order (macros resolve at call time)."""
    needed: set[str] = set()
    todo = sorted(used)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(_HELPERS[name][0])
    return [name for name in _HELPERS if name in needed]
