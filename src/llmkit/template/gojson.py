"""Go's ``encoding/json``: what ``json.Marshal`` writes for llmkit's Go values (pure).

:func:`go_json` is Go's ``json.Marshal``: compact, map keys sorted by bytes, ``<>&`` and
U+2028/U+2029 escaped, float64 numbers as Go writes them, structs by their declared fields
(``json_names``, ``json_omitempty``) or their ``MarshalJSON`` (``go_json()``).  Where
``json.dumps`` (C code) writes exactly Go's bytes, it is used (the fast path); everything
else goes through the hand-written encoder.  Verified against Go in
``tests/template/test_gofmt.py``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

from llmkit.template.gofmt import _SURROGATE, _canon, _Deref, _type_name, format_float, go_bytes
from llmkit.template.values import GoNil, GoStruct

__all__ = ["NeedsSlowPath", "go_json"]


def _json_escapes(short_bf: bool) -> dict[str, str]:
    table = {chr(c): f"\\u{c:04x}" for c in range(0x20)}
    table.update({chr(0xDC00 + b): "\\ufffd" for b in range(0x80, 0x100)})
    table.update({c: f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"})
    table.update({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
    if short_bf:
        table.update({"\b": "\\b", "\f": "\\f"})
    return table


_JSON_SPECIAL = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\udc80-\udcff]')
_JSON_ESCAPES: Final = {True: _json_escapes(True), False: _json_escapes(False)}


def _json_string(s: str, short_bf: bool) -> str:
    table = _JSON_ESCAPES[short_bf]
    return '"' + _JSON_SPECIAL.sub(lambda m: table[m.group()], _canon(s)) + '"'


def _json_float(x: float) -> str:
    """encoding/json's floatEncoder: like JavaScript, exponents only below 1e-6 or from 1e21."""
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"json: unsupported value: {format_float(x)}")
    a = abs(x)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = format_float(x, "e")
        return s[:-2] + s[-1] if s[-4:-1] == "e-0" else s
    return format_float(x, "f")


def _compact(raw: str) -> str:
    """encoding/json's appendCompact with HTML escaping, applied to MarshalJSON output."""
    out: list[str] = []
    in_string = escaped = False
    for c in raw:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c in " \t\n\r":
            continue
        elif c == '"':
            in_string = True
        out.append(f"\\u{ord(c):04x}" if c in "<>&\u2028\u2029" else c)
    return "".join(out)


def _is_empty(value: Any, struct: GoStruct, name: str) -> bool:
    """encoding/json's isEmptyValue; the field's kind comes from ``go_zero``.

    A field whose zero value is ``None`` is an interface or pointer: only nil is empty.
    Without a ``go_zero`` entry the kind is taken from the value itself.
    """
    if value is None or isinstance(value, GoNil):
        return True
    if name in struct.go_zero and struct.go_zero[name] is None:
        return False
    if isinstance(value, (str, list, dict)):
        return len(value) == 0
    return isinstance(value, (bool, int, float, complex)) and value == 0


def _json_value(value: Any, out: list[str], short_bf: bool) -> None:
    if not isinstance(value, GoStruct) and (marshal := getattr(value, "go_json", None)):
        # Go slice and map types with a MarshalJSON method (see ollama_types).
        raw = marshal()
        if raw is not None:
            # llmkit's own MarshalJSON methods already write compact, escaped JSON
            trusted = getattr(value, "go_json_is_compact", False)
            out.append(raw if trusted else _compact(raw))
            return
    if value is None or isinstance(value, GoNil):
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_json_float(value))
    elif isinstance(value, str):
        out.append(_json_string(value, short_bf))
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _json_value(item, out, short_bf)
        out.append("]")
    elif isinstance(value, dict):
        keys = {_json_key(k): k for k in value}
        out.append("{")
        for i, key in enumerate(sorted(keys, key=go_bytes)):
            out.append(("," if i else "") + _json_string(key, short_bf) + ":")
            _json_value(value[keys[key]], out, short_bf)
        out.append("}")
    elif isinstance(value, (GoStruct, _Deref)):
        _json_struct(value.struct if isinstance(value, _Deref) else value, out, short_bf)
    else:
        raise ValueError(f"json: unsupported type: {_type_name(value)}")


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise ValueError(f"json: unsupported type: map[{_type_name(key)}]interface {{}}")


def _json_struct(struct: GoStruct, out: list[str], short_bf: bool) -> None:
    raw = struct.go_json()
    if raw is not None:
        out.append(raw if getattr(struct, "go_json_is_compact", False) else _compact(raw))
        return
    out.append("{")
    first = True
    for name in struct.go_fields:
        key = struct.json_names.get(name, name)
        value = struct.field(name)
        if key is None or (name in struct.json_omitempty and _is_empty(value, struct, name)):
            continue
        out.append(("" if first else ",") + _json_string(key, short_bf) + ":")
        _json_value(value, out, short_bf)
        first = False
    out.append("}")


def go_json(value: Any, *, short_bf: bool = True) -> str:
    """Go's ``json.Marshal`` (compact, HTML-escaped, map keys sorted by bytes).

    Structs use ``go_json()`` (MarshalJSON, compacted and HTML-escaped as Go does) or their
    fields in declaration order with ``json_names`` and ``json_omitempty``. NaN, infinities,
    complex numbers and unsupported map keys raise ``ValueError``, as ``json.Marshal``
    returns an error. ``short_bf=False`` writes ``\\b``/``\\f`` as ``\\u0008``/``\\u000c``
    like Go before 1.22.
    """
    if short_bf:
        try:
            plain = _plain_json(value)
        except NeedsSlowPath:
            pass
        else:
            text = json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
            return text.translate(_HTML_SAFE_JSON)
    out: list[str] = []
    _json_value(value, out, short_bf)
    return "".join(out)


# The fast path: the value as plain Python data whose json.dumps (C code) is exactly what
# Go writes, once <, >, &, U+2028 and U+2029 are escaped; anything else takes the slow path.
# (Hand-written printing is the bottleneck of template rendering: see bench/templates.py.)

_HTML_SAFE_JSON: Final = str.maketrans({c: f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"})


class NeedsSlowPath(Exception):
    """Raised by a ``go_plain_json()`` whose value only the slow encoder writes exactly."""


def _plain_json(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        if not value.isascii() and _SURROGATE.search(value):
            raise NeedsSlowPath
        return value
    if kind is bool or kind is int or value is None:
        return value
    if kind is float:
        magnitude = abs(value)
        # Below 1e16 an integral float's exact digits are its shortest ones; above, Go pads
        # the shortest digits with zeros (12345678901234567000), so the slow path decides.
        if value.is_integer() and magnitude < 1e16 and (value != 0 or math.copysign(1, value) > 0):
            return int(value)
        if 1e-4 <= magnitude < 1e16:
            return value  # Python's repr is Go's shortest fixed notation here
        raise NeedsSlowPath
    if isinstance(value, GoNil):
        return None
    plain = getattr(value, "go_plain_json", None)
    if plain is not None:
        return _plain_json(plain())
    if isinstance(value, GoStruct):
        if value.go_json() is not None:
            raise NeedsSlowPath
        result: dict[str, Any] = {}
        fields = value.field_values
        for name in value.go_fields:
            key = value.json_names.get(name, name)
            item = fields[name]
            if key is None or (name in value.json_omitempty and _is_empty(item, value, name)):
                continue
            result[key] = _plain_json(item)
        return result
    if getattr(value, "go_json", None) is not None:
        raise NeedsSlowPath
    if isinstance(value, list | tuple):
        return [_plain_json(item) for item in value]
    if isinstance(value, dict):
        if not all(
            type(key) is str and (key.isascii() or not _SURROGATE.search(key)) for key in value
        ):
            raise NeedsSlowPath  # non-string keys, or raw bytes Go sorts and writes as \ufffd
        keys = value if getattr(value, "go_json_in_order", False) else sorted(value)
        return {key: _plain_json(value[key]) for key in keys}
    raise NeedsSlowPath
