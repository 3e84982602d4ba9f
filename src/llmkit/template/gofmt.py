"""Go's printing of values, byte for byte (pure, stdlib only).

This module mirrors the parts of Go's standard library that decide how a
``text/template`` renders values (the Python representation of Go values is
described in :mod:`llmkit.template.values`):

* ``fmt``: :func:`sprint`, :func:`sprintln`, :func:`sprintf` (``fmt/print.go``,
  ``fmt/format.go``), and :func:`format_value`, the template's own printing
  (``text/template``'s ``printableValue`` + ``fmt.Fprint``);
* ``strconv``: :func:`format_float` (``FormatFloat``), :func:`go_quote`
  (``Quote``), :func:`is_print` (``IsPrint``, Go 1.26's Unicode 15.0 tables);
* (``encoding/json`` lives in :mod:`llmkit.template.gojson`, built on this module);
* ``text/template``'s escapers: :func:`html_escape`, :func:`js_escape`,
  :func:`url_query_escape` (``net/url.QueryEscape``) and :func:`eval_args_string`.

Everything was checked against real Go (1.19 and 1.26) by
``tests/template/test_gofmt.py``. What cannot be reproduced:

* Pointers printed *inside* a value (a ``GoStruct`` whose ``go_type`` starts with ``*``
  nested in a list, map or struct, without a ``String()``) print as a memory address in
  Go; here every address is :data:`ADDRESS` (``0xc000000000``). Top-level pointers are
  dereferenced (``{...}``) by the template and ``&{...}`` by ``fmt``, as in Go.
* Type names appear only in error text (``%!d(string=x)``), ``%T`` and ``%#v``: lists and
  dicts are ``[]interface {}`` and ``map[string]interface {}``, a typed nil pointer is
  ``*struct {}``; Go would name the declared types.
* Map keys of mixed types (impossible in ``map[string]any``) are ordered by type name;
  Go orders them by type-descriptor address.
* ``int`` is Go's 64-bit ``int``; larger Python ints print in full instead of wrapping.

Strings: a Python ``str`` stands for the Go string of its UTF-8 bytes, where the
surrogates U+DC80..U+DCFF stand for the raw bytes 0x80..0xFF (Python's
``surrogateescape``) and any other lone surrogate for U+FFFD (what Go's JSON decoder makes
of one). Results follow the same convention: :func:`go_bytes` gives Go's exact bytes.
"""

from __future__ import annotations

import math
import re
import struct
from bisect import bisect_right
from decimal import Decimal
from typing import Any, Final

from llmkit.template.values import GoNil, GoStruct

__all__ = [
    "ADDRESS",
    "FormatLimitError",
    "bounded_eval_args",
    "bounded_sprint",
    "bounded_sprintf",
    "bounded_sprintln",
    "eval_args_string",
    "format_float",
    "format_value",
    "go_bytes",
    "go_quote",
    "html_escape",
    "is_print",
    "js_escape",
    "sprint",
    "sprintf",
    "sprintln",
    "url_query_escape",
]

#: The address printed for every non-nil pointer inside a value (Go prints a real one).
ADDRESS: Final = 0xC000000000

_MASK64: Final = (1 << 64) - 1
_MAX_RUNE: Final = 0x10FFFF
_SURROGATE = re.compile("[\ud800-\udfff]")
_LONE = re.compile("[\ud800-\udc7f\udd00-\udfff]")
_NIL_TYPES: Final = {
    "slice": "[]interface {}",
    "map": "map[string]interface {}",
    "pointer": "*struct {}",
}

# Runs of code points, alternately not printable and printable, from U+0000 (base 36),
# generated from Go 1.26's strconv.IsPrint (== unicode.IsPrint, Unicode 15.0.0).
_PRINT_RUNS: Final = (
    "w,2n,y,c,1,ju,2,6,4,7,1,1,1,k,1,b1,1,12,2,1e,2,3,1,1j,8,r,4,6,h,m,1,5c,1,1c,2,1n,2,2t,e,"
    "1n,2,1d,2,f,1,s,2,1,1,b,5,v,9,22,1,4h,1,8,2,2,2,m,1,7,1,1,3,4,2,9,2,2,2,4,8,1,4,2,1,5,2,"
    "p,2,3,1,6,4,2,2,m,1,7,1,2,1,2,1,2,2,1,1,5,4,2,2,3,3,1,7,4,1,1,7,h,a,3,1,9,1,3,1,m,1,7,1,"
    "2,1,5,2,a,1,3,1,3,2,1,f,4,2,c,7,7,1,3,1,8,2,2,2,m,1,7,1,2,1,5,2,9,2,2,2,3,7,3,4,2,1,5,2,"
    "i,a,2,1,6,3,3,1,4,3,2,1,1,1,2,3,2,3,3,3,c,4,5,3,3,1,4,2,1,6,1,e,l,5,d,1,3,1,n,1,g,2,9,1,"
    "3,1,4,7,2,1,3,2,1,2,4,2,a,7,m,1,3,1,n,1,a,1,5,2,9,1,3,1,4,7,2,6,2,1,4,2,a,1,3,c,d,1,3,1,"
    "1f,1,3,1,6,4,g,2,q,1,3,1,i,3,o,1,9,1,1,2,7,3,1,4,6,1,1,1,8,6,a,2,3,c,1m,4,t,11,2,1,1,1,"
    "5,1,o,1,1,1,n,2,5,1,1,1,7,1,a,2,4,w,20,1,10,4,13,1,10,1,f,1,d,11,5i,1,1,5,1,2,ah,1,4,2,"
    "7,1,1,1,4,2,15,1,4,2,x,1,4,2,7,1,1,1,4,2,f,1,1l,1,4,2,1v,2,w,3,q,6,2e,2,6,2,hs,1,s,3,2h,"
    "7,m,9,o,9,k,c,d,1,3,1,2,c,2m,2,a,6,a,6,e,1,b,6,2h,7,17,5,1y,a,v,1,c,4,c,4,1,3,16,2,5,b,"
    "18,4,q,6,b,3,1q,2,1t,1,t,2,b,6,a,6,e,2,v,1d,25,3,1b,1,38,8,1o,3,f,3,1o,7,17,2,b,8,17,5,"
    "eu,2,6,2,12,2,6,2,8,1,1,1,1,1,1,1,v,2,1h,1,f,1,e,2,6,1,j,2,3,1,9,h,o,8,1b,h,2,2,r,1,d,3,"
    "x,f,x,f,3w,4,if,p,b,l,1ec,2,w,1,9p,5,19,1,1,5,1,2,1k,7,2,e,o,9,7,1,7,1,7,1,7,1,7,1,7,1,"
    "7,1,7,1,3i,y,q,1,2h,c,5y,q,c,5,1r,1,2e,2,2v,5,17,1,2m,1,2c,c,1b,1,mlp,3,1j,9,9o,k,54,8,"
    "5n,5,2,1,1,1,5,o,1n,3,a,6,1k,8,1y,8,c,6,38,b,u,3,26,1,b,4,x,1,1j,9,e,2,a,2,2v,o,s,a,6,2,"
    "6,2,6,9,7,1,7,1,1o,4,3i,2,a,6,8mc,c,n,4,1d,6is,a6,2,2y,12,7,c,5,5,q,1,5,1,1,1,2,1,2,1,"
    "3h,g,cd,2,1i,7,1,w,16,6,1f,1,j,1,4,4,5,1,3r,4,5a,3,6,2,6,2,6,2,3,3,7,1,7,d,2,2,c,1,q,1,"
    "j,1,2,1,f,2,e,y,3f,5,3,4,19,3,2g,1,d,3,1,1b,1a,3m,t,3,1d,f,s,4,10,9,u,5,17,5,u,1,11,4,e,"
    "16,4e,2,a,6,10,4,10,4,14,8,1g,b,c,1,f,1,7,1,2,1,b,1,f,1,7,1,2,1v,8n,9,m,a,8,o,6,1,16,1,"
    "9,1x,6,2,1,1,18,1,2,3,1,2,n,1,20,8,9,1c,j,1,2,5,x,3,r,5,1,1s,1k,4,k,2,1e,1,2,5,8,1,3,1,"
    "t,2,3,4,a,7,9,7,1s,w,13,4,c,9,1i,3,t,2,r,5,q,7,4,c,7,28,21,1j,1f,d,1f,7,1a,8,a,86,v,1,"
    "16,1,3,2,2,23,17,8,16,m,q,12,s,k,n,9,26,4,10,9,1q,1,5,d,p,7,a,6,1h,1,i,8,13,9,2o,1,k,b,"
    "i,1,1b,1q,7,1,1,1,4,1,f,1,b,6,1n,5,a,6,4,1,8,2,2,2,m,1,7,1,2,1,5,1,a,2,2,2,3,2,1,6,1,5,"
    "7,2,7,3,5,3v,2k,1,5,u,20,8,a,4m,1i,2,12,y,1x,b,a,6,d,j,1m,6,a,1i,r,2,f,4,n,55,1o,2s,2b,"
    "c,8,2,1,2,8,1,2,1,u,1,2,2,c,9,a,1y,8,2,1a,2,b,r,20,8,2b,d,21,7,a,6u,9,1,19,1,e,a,t,3,w,"
    "2,m,1,e,21,7,1,2,1,18,3,1,1,2,1,9,8,a,6,6,1,2,1,11,1,2,1,6,7,a,8m,p,7,h,1,15,3,s,2e,1,f,"
    "1e,d,pn,2u,33,1,5,b,5g,218,2r,d,ts,g,m,33e,g7,6nt,ft,7,v,1,a,4,29,1,a,6,u,2,6,a,1y,a,a,"
    "1,7,1,l,5,j,j4,2j,2t,23,4,1l,7,h,1s,5,b,2,e,4qg,8,ye,16,9,6w7,4,1,7,1,2,1,83,f,1,t,3,2,"
    "1,e,4,8,b0,1s4,2z,5,d,3,9,7,a,2,4,3mo,1a,2,n,9,38,1o,6u,a,13,2,22,8,34,l,1y,3e,k,c,k,c,"
    "2f,9,p,3r,2d,1,1z,1,2,2,1,2,2,2,4,1,c,1,1,1,7,1,1t,1,4,2,8,1,7,1,s,1,4,1,5,1,1,3,7,1,9g,"
    "2,84,2,ji,f,5,1,f,uo,v,6,6,5x,7,1,h,2,7,1,2,1,5,5,1q,x,1,34,19,3,e,2,a,4,2,8w,v,h,1m,5,"
    "1,cw,16,km,7,1,4,1,2,1,f,1,5h,2,g,15,24,4,a,4,2,lt,1w,24,1p,5e,4,1,r,1,2,1,1,2,1,1,a,1,"
    "4,1,1,1,1,6,1,4,1,1,1,1,1,1,3,1,2,1,1,2,1,1,1,1,1,1,1,1,1,1,2,1,1,2,4,1,7,1,4,1,4,1,1,1,"
    "a,1,h,5,3,1,5,1,h,1g,2,7i,18,4,2s,c,f,2,f,1,f,1,11,a,4u,1k,t,d,18,4,9,7,2,e,6,4a,rc,4,h,"
    "3,d,3,3b,4,2n,6,c,4,1,f,c,4,1k,8,a,6,14,8,u,2,2,26,9g,c,e,2,d,3,9,7,1a,1,7,8,e,4,9,7,9,"
    "7,43,1,1j,11,a,sm,wyo,w,37e,6,66,2,4g2,e,5rl,2e7,f2,15u,3t7,5,38g,f9e8,6o,47bk"
)


def _print_bounds() -> list[int]:
    bounds, pos = [], 0
    for run in _PRINT_RUNS.split(","):
        pos += int(run, 36)
        bounds.append(pos)
    return bounds


_PRINT_BOUNDS: Final = _print_bounds()


def _printable_class() -> str:
    """A regular-expression class body matching exactly the code points ``is_print`` accepts."""
    ranges = []
    for low, high in zip(_PRINT_BOUNDS[0::2], _PRINT_BOUNDS[1::2], strict=False):
        high = min(high, _MAX_RUNE + 1)
        if low < high:
            ranges.append(f"\\U{low:08x}-\\U{high - 1:08x}")
    return "".join(ranges)


#: What ``go_quote`` cannot copy as is (``"``, ``\\``, anything not printable), and the same
#: for ``QuoteToASCII`` (everything outside printable ASCII).
_QUOTE_SPECIAL: Final = re.compile(f'[^{_printable_class()}]|["\\\\]')
_QUOTE_SPECIAL_ASCII: Final = re.compile('[^\\x20-\\x7e]|["\\\\]')
#: What ``strconv.CanBackquote`` refuses in a canonical string.
_NOT_BACKQUOTABLE: Final = re.compile("[\\x00-\\x08\\x0a-\\x1f`\\x7f\\ufeff\\udc80-\\udcff]")


def is_print(r: int) -> bool:
    """Go's ``strconv.IsPrint`` / ``unicode.IsPrint`` for the code point ``r``."""
    return 0 <= r <= _MAX_RUNE and bisect_right(_PRINT_BOUNDS, r) % 2 == 1


def go_bytes(s: str) -> bytes:
    """The bytes of the Go string that ``s`` stands for (see the module docstring)."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE.sub("\ufffd", s).encode("utf-8", "surrogateescape")


def _canon(s: str) -> str:
    """``s`` with one character per Go rune (an invalid byte counting as one)."""
    if _SURROGATE.search(s) is None:
        return s
    return go_bytes(s).decode("utf-8", "surrogateescape")


def _is_raw_byte(c: str) -> bool:
    return "\udc80" <= c <= "\udcff"


# ---------------------------------------------------------------- strconv


def _escape_rune(r: int, quote: str, ascii_only: bool) -> str:
    """strconv.appendEscapedRune."""
    c = chr(r)
    if c == quote or c == "\\":
        return "\\" + c
    if (r < 0x80 or not ascii_only) and is_print(r):
        return c
    named = _NAMED_ESCAPES.get(c)
    if named is not None:
        return named
    if r < 0x20 or r == 0x7F:
        return f"\\x{r:02x}"
    if r > _MAX_RUNE or 0xD800 <= r <= 0xDFFF:
        r = 0xFFFD
    return f"\\u{r:04x}" if r < 0x10000 else f"\\U{r:08x}"


_NAMED_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _quote_char(c: str, ascii_only: bool) -> str:
    if _is_raw_byte(c):
        return f"\\x{ord(c) - 0xDC00:02x}"
    return _escape_rune(ord(c), '"', ascii_only)


def go_quote(s: str, *, ascii_only: bool = False) -> str:
    """Go's ``strconv.Quote`` (``QuoteToASCII`` with ``ascii_only``).

    Only the characters that need an escape go through Python code: quoting a long string
    runs at the speed of a regular-expression scan.
    """
    special = _QUOTE_SPECIAL_ASCII if ascii_only else _QUOTE_SPECIAL
    return '"' + special.sub(lambda m: _quote_char(m.group(), ascii_only), _canon(s)) + '"'


def _can_backquote(s: str) -> bool:
    """strconv.CanBackquote (``s`` canonical)."""
    return _NOT_BACKQUOTABLE.search(s) is None


def _digits(a: float, n: int) -> tuple[str, int]:
    """The decimal digits of ``a`` >= 0 and the position of the decimal point
    (``0.DIGITS * 10**dp``), trailing zeros trimmed: shortest if ``n`` < 0, else
    rounded to ``n`` significant digits (strconv's ``decimalSlice``)."""
    if a == 0:
        return "", 0
    if n < 0:
        t = Decimal(repr(a)).as_tuple()
        digits = "".join(map(str, t.digits))
        dp = len(digits) + int(t.exponent)
    else:
        mant, _, exp = f"{a:.{n - 1}e}".partition("e")
        digits, dp = mant.replace(".", ""), int(exp) + 1
    return digits.rstrip("0"), dp


def _fmt_e(d: str, dp: int, prec: int, ech: str) -> str:
    """strconv.fmtE (without the sign)."""
    out = d[:1] or "0"
    if prec > 0:
        out += "." + d[1 : prec + 1].ljust(prec, "0")
    exp = dp - 1 if d else 0
    return f"{out}{ech}{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fmt_f(d: str, dp: int, prec: int) -> str:
    """strconv.fmtF (without the sign)."""
    out = d[:dp].ljust(dp, "0") if dp > 0 else "0"
    if prec > 0:
        out += "." + "".join(d[j] if 0 <= j < len(d) else "0" for j in range(dp, dp + prec))
    return out


def _float_bits(a: float) -> tuple[int, int]:
    """The mantissa (with the implicit bit) and unbiased exponent of ``a``."""
    bits = struct.unpack("<Q", struct.pack("<d", a))[0]
    exp, mant = (bits >> 52) & 0x7FF, bits & ((1 << 52) - 1)
    if exp == 0:
        exp = 1
    else:
        mant |= 1 << 52
    return mant, exp - 1023


def _fmt_x(a: float, prec: int, fmt: str) -> str:
    """strconv.fmtX: hexadecimal mantissa and binary exponent (without the sign)."""
    mant, exp = _float_bits(a)
    if mant == 0:
        exp = 0
    mant <<= 8
    while mant and not mant & (1 << 60):
        mant <<= 1
        exp -= 1
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mant << shift) & ((1 << 60) - 1)
        mant >>= 60 - shift
        if extra | (mant & 1) > 1 << 59:
            mant += 1
        mant <<= 60 - shift
        if mant & (1 << 61):
            mant >>= 1
            exp += 1
    digits = "0123456789abcdef" if fmt == "x" else "0123456789ABCDEF"
    out = ["0", fmt, str((mant >> 60) & 1)]
    mant = (mant << 4) & _MASK64
    if (prec < 0 and mant) or prec > 0:
        out.append(".")
        count = 0
        while (prec < 0 and mant) or count < prec:
            out.append(digits[(mant >> 60) & 15])
            mant = (mant << 4) & _MASK64
            count += 1
    out.append(f"{'p' if fmt == 'x' else 'P'}{'-' if exp < 0 else '+'}{abs(exp):02d}")
    return "".join(out)


def format_float(x: float, fmt: str = "g", prec: int = -1) -> str:
    """Go's ``strconv.FormatFloat(x, fmt, prec, 64)`` for ``fmt`` in ``beEfgGxX``.

    ``prec`` -1 means the shortest representation that reads back as ``x``.
    """
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    a = abs(x)
    if fmt == "b":
        mant, exp = _float_bits(a)
        return f"{sign}{mant}p{exp - 52:+d}"
    if fmt in "xX":
        return sign + _fmt_x(a, prec, fmt)
    low, shortest = fmt.lower(), prec < 0
    if shortest:
        d, dp = _digits(a, -1)
        prec = {"e": max(len(d) - 1, 0), "f": max(len(d) - dp, 0)}.get(low, len(d))
    elif low == "f":
        return f"{sign}{a:.{prec}f}"
    elif low == "e":
        d, dp = _digits(a, prec + 1)
    else:
        prec = max(prec, 1)
        d, dp = _digits(a, prec)
    ech = "e" if fmt in "eg" else "E"
    if low == "e":
        return sign + _fmt_e(d, dp, prec, ech)
    if low == "f":
        return sign + _fmt_f(d, dp, prec)
    eprec = 6 if shortest else len(d) if prec > len(d) >= dp else prec
    if not -4 <= dp - 1 < eprec:
        return sign + _fmt_e(d, dp, min(prec, len(d)) - 1, ech)
    if prec > dp:
        prec = len(d)
    return sign + _fmt_f(d, dp, max(prec - dp, 0))


# ---------------------------------------------------------------- fmt


class _Deref:
    """A pointer struct seen through its pointer (the template's ``indirect``)."""

    __slots__ = ("struct",)

    def __init__(self, struct: GoStruct) -> None:
        self.struct = struct


def _printable(value: Any) -> Any:
    """text/template's printableValue: a top-level pointer struct is dereferenced."""
    if isinstance(value, GoStruct) and value.is_pointer:
        return _Deref(value)
    return value


def _type_name(v: Any) -> str:
    """The Go type name of a value, as ``reflect.Type.String`` writes it."""
    if isinstance(v, _Deref):
        return v.struct.go_type.lstrip("*")
    if isinstance(v, GoStruct):
        return v.go_type
    if isinstance(v, GoNil):
        return _NIL_TYPES[v.kind]
    if isinstance(getattr(v, "go_type", None), str):
        return str(v.go_type)
    if isinstance(v, bytes):
        return "[]uint8"
    for typ, name in _TYPE_NAMES:
        if isinstance(v, typ):
            return name
    raise TypeError(f"not a Go value: {type(v).__name__}")


_TYPE_NAMES: Final = (
    (bool, "bool"),
    (int, "int"),
    (float, "float64"),
    (complex, "complex128"),
    (str, "string"),
    (list, "[]interface {}"),
    (dict, "map[string]interface {}"),
)


def _is_pointer_kind(v: Any) -> bool:
    return isinstance(v, (list, dict, GoNil)) or (isinstance(v, GoStruct) and v.is_pointer)


def _sort_key(keys: list[Any]) -> Any:
    """internal/fmtsort's order for map keys of one type."""
    if all(isinstance(k, str) for k in keys):
        return go_bytes
    if all(isinstance(k, (int, float)) for k in keys):
        return lambda k: (not (isinstance(k, float) and math.isnan(k)), k)
    return lambda k: (_type_name(k), str(k))


def _sorted_items(d: dict[Any, Any]) -> list[tuple[Any, Any]]:
    order = _sort_key(list(d))
    return sorted(d.items(), key=lambda kv: order(kv[0]))


def _too_large(x: int) -> bool:
    return x > 1_000_000 or x < -1_000_000


def _parsenum(s: str, start: int, end: int) -> tuple[int, bool, int]:
    """fmt.parsenum: the number at ``s[start:end]``, whether there is one, where it ends."""
    if start >= end:
        return 0, False, end
    num, isnum, i = 0, False, start
    while i < end and "0" <= s[i] <= "9":
        if _too_large(num):
            return 0, False, end
        num, isnum, i = num * 10 + ord(s[i]) - 48, True, i + 1
    return num, isnum, i


def _parse_arg_number(s: str) -> tuple[int, int, bool]:
    """fmt.parseArgNumber: the index in ``[n]``, its width, and whether it is valid."""
    if len(s) >= 3:
        close = s.find("]", 1)
        if close > 0:
            width, ok, newi = _parsenum(s, 1, close)
            if not ok or newi != close:
                return 0, close + 1, False
            return width - 1, close + 1, True
    return 0, 1, False


def _int_from_arg(args: tuple[Any, ...], arg_num: int) -> tuple[int, bool, int]:
    """fmt.intFromArg: a ``*`` width or precision."""
    if arg_num >= len(args):
        return 0, False, arg_num
    a = args[arg_num]
    if isinstance(a, int) and not isinstance(a, bool) and not _too_large(a):
        return a, True, arg_num + 1
    return 0, False, arg_num + 1


class FormatLimitError(Exception):
    """A bounded print (:func:`bounded_sprint` ...) would exceed its limits: ``kind`` is
    ``"length"`` (the result's) or ``"width"`` (a printf width or precision)."""

    def __init__(self, message: str, kind: str = "length") -> None:
        super().__init__(message)
        self.kind = kind


_DIGIT_RUN: Final = re.compile("[0-9]*")


class _Printer:
    """fmt's ``pp`` and ``fmt`` state: one call of Sprint, Sprintln or Sprintf.

    ``limit`` (characters of the result) and ``max_width`` (of a width or precision) bound
    what one call may build; ``None`` is no bound.  A bounded printer checks its size after
    each operand and each padding, so it never builds much more than ``limit``.
    """

    def __init__(self, limit: int | None = None, max_width: int | None = None) -> None:
        self.buf: list[str] = []
        self.limit = limit
        self.max_width = max_width
        self.size = 0
        self.counted = 0
        self.erroring = False
        self.value: Any = None
        self.reordered = False
        self.good_arg_num = True
        self.clear_flags()

    def clear_flags(self) -> None:
        self.wid = self.prec = 0
        self.wid_present = self.prec_present = False
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False

    # -- fmt/format.go

    def write_padding(self, n: int) -> None:
        if n > 0:
            if self.limit is not None:
                self.checkpoint(n)
            self.buf.append(("0" if self.zero and not self.minus else " ") * n)

    def checkpoint(self, more: int = 0) -> None:
        """Refuse when the result (plus ``more`` characters about to be written) is too long."""
        limit = self.limit
        if limit is None:
            return
        buf = self.buf
        if len(buf) > self.counted:
            self.size += sum(map(len, buf[self.counted :]))
            self.counted = len(buf)
        if self.size + more > limit:
            raise FormatLimitError(f"result exceeds {limit} characters")

    def check_number(self, what: str, value: int) -> None:
        """Refuse a width or precision above ``max_width``."""
        if self.max_width is not None and abs(value) > self.max_width:
            raise FormatLimitError(f"printf {what} {value} exceeds {self.max_width}", "width")

    def check_digits(self, what: str, fmt: str, i: int, end: int) -> None:
        """Refuse a width or precision written in the format above ``max_width``."""
        if self.max_width is None:
            return
        match = _DIGIT_RUN.match(fmt, i, end)
        digits = match.group().lstrip("0") if match else ""
        if len(digits) > len(str(self.max_width)) or (digits and int(digits) > self.max_width):
            shown = digits if len(digits) <= 20 else digits[:20] + "..."
            raise FormatLimitError(f"printf {what} {shown} exceeds {self.max_width}", "width")

    def check_star(self, what: str, args: tuple[Any, ...], arg_num: int) -> None:
        """Refuse a ``*`` width or precision argument above ``max_width``."""
        if self.max_width is None or arg_num >= len(args):
            return
        value = args[arg_num]
        if isinstance(value, int) and not isinstance(value, bool):
            if what == "precision" and value < 0:
                return  # a negative precision is no precision (fmt)
            self.check_number(what, value)

    def pad(self, s: str) -> None:
        if not self.wid_present or self.wid == 0:
            self.buf.append(s)
        elif self.minus:
            self.buf.append(s)
            self.write_padding(self.wid - len(s))
        else:
            self.write_padding(self.wid - len(s))
            self.buf.append(s)

    def pad_no_zero(self, s: str) -> None:
        zero, self.zero = self.zero, False
        self.pad(s)
        self.zero = zero

    def fmt_integer(self, u: int, base: int, signed: bool, verb: str, upper: bool) -> None:
        negative = signed and u < 0
        u = abs(u)
        prec = 0
        if self.prec_present:
            prec = self.prec
            if prec == 0 and u == 0:
                zero, self.zero = self.zero, False
                self.write_padding(self.wid)
                self.zero = zero
                return
        elif self.zero and not self.minus and self.wid_present:
            prec = self.wid - (negative or self.plus or self.space)
        num = {10: "d", 16: "X" if upper else "x", 8: "o", 2: "b"}[base]
        num = format(u, num).rjust(prec, "0")
        if self.sharp:
            if base == 2:
                num = "0b" + num
            elif base == 8 and num[0] != "0":
                num = "0" + num
            elif base == 16:
                num = ("0X" if upper else "0x") + num
        if verb == "O":
            num = "0o" + num
        if negative:
            num = "-" + num
        elif self.plus:
            num = "+" + num
        elif self.space:
            num = " " + num
        self.pad_no_zero(num)

    def fmt_unicode(self, u: int) -> None:
        prec = self.prec if self.prec_present and self.prec > 4 else 4
        out = "U+" + format(u, "X").rjust(prec, "0")
        if self.sharp and u <= _MAX_RUNE and is_print(u):
            out += " '" + chr(u) + "'"
        self.pad_no_zero(out)

    def truncate(self, s: str) -> str:
        return s[: self.prec] if self.prec_present else s

    def fmt_sbx(self, s: str, upper: bool) -> None:
        b = go_bytes(s)
        length = min(len(b), self.prec) if self.prec_present else len(b)
        width = 2 * length
        if width <= 0:
            if self.wid_present:
                self.write_padding(self.wid)
            return
        if self.space:
            width += length - 1 + (2 * length if self.sharp else 0)
        elif self.sharp:
            width += 2
        if self.wid_present and self.wid > width and not self.minus:
            self.write_padding(self.wid - width)
        prefix = ("0X" if upper else "0x") if self.sharp else ""
        hexed = b[:length].hex(" ") if self.space else b[:length].hex()
        if upper:
            hexed = hexed.upper()
        if self.space and prefix:
            hexed = hexed.replace(" ", " " + prefix)
        self.buf.append(prefix + hexed)
        if self.wid_present and self.wid > width and self.minus:
            self.write_padding(self.wid - width)

    def fmt_q(self, s: str) -> None:
        s = self.truncate(s)
        if self.sharp and _can_backquote(s):
            self.pad("`" + s + "`")
        else:
            self.pad(go_quote(s, ascii_only=self.plus))

    def fmt_float(self, v: float, verb: str, prec: int) -> None:
        """fmt.(*fmt).fmtFloat."""
        if self.prec_present:
            prec = self.prec
        num = format_float(v, verb, prec)
        if num[0] not in "+-":
            num = "+" + num
        if self.space and num[0] == "+" and not self.plus:
            num = " " + num[1:]
        if num[1] in "IN":
            if num[1] == "N" and not self.space and not self.plus:
                num = num[1:]
            self.pad_no_zero(num)
            return
        if self.sharp and verb != "b":
            digits = (6 if prec == -1 else prec) if verb in "gGx" else 0
            tail, has_point, seen_nonzero = "", False, False
            for i in range(1, len(num)):
                c = num[i]
                if c == ".":
                    has_point = True
                    continue
                if c in "pP" or (c in "eE" and verb not in "xX"):
                    tail, num = num[i:], num[:i]
                    break
                seen_nonzero = seen_nonzero or c != "0"
                digits -= seen_nonzero
            if not has_point:
                if num[1:] == "0":
                    digits -= 1
                num += "."
            num += "0" * max(digits, 0) + tail
        if self.plus or num[0] != "+":
            if self.zero and not self.minus and self.wid_present and self.wid > len(num):
                self.buf.append(num[0])
                self.write_padding(self.wid - len(num))
                self.buf.append(num[1:])
            else:
                self.pad(num)
        else:
            self.pad(num[1:])

    # -- fmt/print.go

    def bad_verb(self, verb: str) -> None:
        value, self.erroring = self.value, True
        self.buf.append("%!" + verb + "(")
        if value is _NOTHING:
            self.buf.append("<nil>")
        else:
            self.buf.append(_type_name(value) + "=")
            self.print_value(value, "v", 0)
        self.buf.append(")")
        self.erroring = False

    def fmt_bool(self, v: bool, verb: str) -> None:
        if verb in "tv":
            self.pad("true" if v else "false")
        else:
            self.bad_verb(verb)

    def fmt_0x64(self, u: int, leading_0x: bool) -> None:
        sharp, self.sharp = self.sharp, leading_0x
        self.fmt_integer(u, 16, False, "v", False)
        self.sharp = sharp

    def fmt_int(self, v: int, signed: bool, verb: str) -> None:
        """fmt.(*pp).fmtInteger."""
        if verb == "v" and self.sharp_v and not signed:
            self.fmt_0x64(v, True)
        elif verb in _INT_BASES:
            self.fmt_integer(v, _INT_BASES[verb], signed, verb, verb == "X")
        elif verb in "cqU":
            u = v & _MASK64
            if verb == "U":
                self.fmt_unicode(u)
                return
            r = 0xFFFD if u > _MAX_RUNE or 0xD800 <= u <= 0xDFFF else u
            if verb == "c":
                self.pad(chr(r))
            else:
                self.pad("'" + _escape_rune(r, "'", self.plus) + "'")
        else:
            self.bad_verb(verb)

    def fmt_float_verb(self, v: float, verb: str) -> None:
        """fmt.(*pp).fmtFloat."""
        if verb == "v":
            self.fmt_float(v, "g", -1)
        elif verb in "bgGxX":
            self.fmt_float(v, verb, -1)
        elif verb in "feEF":
            self.fmt_float(v, verb.lower() if verb == "F" else verb, 6)
        else:
            self.bad_verb(verb)

    def fmt_complex(self, v: complex, verb: str) -> None:
        if verb not in "vbgGxXfFeE":
            self.bad_verb(verb)
            return
        plus = self.plus
        self.buf.append("(")
        self.fmt_float_verb(v.real, verb)
        self.plus = True
        self.fmt_float_verb(v.imag, verb)
        self.buf.append("i)")
        self.plus = plus

    def fmt_string(self, v: str, verb: str) -> None:
        v = _canon(v)
        if (verb == "v" and self.sharp_v) or verb == "q":
            self.fmt_q(v)
        elif verb in "vs":
            self.pad(self.truncate(v))
        elif verb in "xX":
            self.fmt_sbx(v, verb == "X")
        else:
            self.bad_verb(verb)

    def fmt_pointer(self, value: Any, verb: str) -> None:
        if not _is_pointer_kind(value):
            self.bad_verb(verb)
            return
        u = 0 if isinstance(value, GoNil) else ADDRESS
        if verb == "v" and self.sharp_v:
            self.buf.append(f"({_type_name(value)})(")
            if u == 0:
                self.buf.append("nil")
            else:
                self.fmt_0x64(u, True)
            self.buf.append(")")
        elif verb == "v" and u == 0:
            self.pad("<nil>")
        elif verb in "vp":
            self.fmt_0x64(u, not self.sharp)
        elif verb in "bodxX":
            self.fmt_int(u, False, verb)
        else:
            self.bad_verb(verb)

    def handle_methods(self, value: Any, verb: str) -> bool:
        """Stringers (``GoStruct.go_string``); Go's ``%w`` is always bad in Sprintf."""
        if self.erroring:
            return False
        if verb == "w":
            self.value = value
            self.bad_verb(verb)
            return True
        if self.sharp_v or verb not in "vsxXq":
            return False
        if isinstance(value, (GoStruct, _Deref)):
            text = (value.struct if isinstance(value, _Deref) else value).go_string()
            if text is not None:
                self.fmt_string(text, verb)
                return True
        elif (method := getattr(value, "go_string", None)) is not None:
            # Go slice and map types with a String() method (see ollama_types).
            text = method()
            if text is not None:
                self.fmt_string(text, verb)
                return True
        return False

    def print_arg(self, arg: Any, verb: str) -> None:
        self.value = _NOTHING if arg is None else arg
        if arg is None:
            if verb in "Tv":
                self.pad("<nil>")
            else:
                self.bad_verb(verb)
        elif verb == "T":
            self.pad(self.truncate(_type_name(arg)))
        elif verb == "p":
            self.fmt_pointer(arg, "p")
        elif isinstance(arg, (bool, int, float, complex, str)):
            self.print_scalar(arg, verb)
        elif not self.handle_methods(arg, verb):
            self.print_value(arg, verb, 0)

    def print_scalar(self, v: bool | int | float | complex | str, verb: str) -> None:
        if isinstance(v, bool):
            self.fmt_bool(v, verb)
        elif isinstance(v, int):
            self.fmt_int(v, True, verb)
        elif isinstance(v, float):
            self.fmt_float_verb(v, verb)
        elif isinstance(v, complex):
            self.fmt_complex(v, verb)
        else:
            self.fmt_string(v, verb)

    def print_value(self, value: Any, verb: str, depth: int) -> None:
        """fmt.(*pp).printValue; ``None`` is a nil interface inside a container."""
        if (
            depth > 0
            and value is not None
            # a String() with a pointer receiver is not found on a value inside another
            and not getattr(value, "go_string_needs_address", False)
            and self.handle_methods(value, verb)
        ):
            return
        self.value = value
        if value is None:
            self.buf.append("interface {}(nil)" if self.sharp_v else "<nil>")
        elif isinstance(value, (bool, int, float, complex, str)):
            self.print_scalar(value, verb)
        elif isinstance(value, GoNil) and value.kind != "pointer":
            if self.sharp_v:
                self.buf.append(_type_name(value) + "(nil)")
            else:
                self.buf.append("[]" if value.kind == "slice" else "map[]")
        elif isinstance(value, list):
            self.print_items(value, [(None, v) for v in value], verb, depth)
        elif isinstance(value, bytes) and self.sharp_v:  # printValue: uint8s are %#v'd as 0x..
            self.buf.append(_type_name(value) + "{" + ", ".join(f"{b:#x}" for b in value) + "}")
        elif isinstance(value, bytes) and verb in "sqxX":  # printValue: a byte slice as text
            self.fmt_string(value.decode("utf-8", "surrogateescape"), verb)
        elif isinstance(value, bytes):  # a []byte prints as its numbers
            self.print_items([], [(None, b) for b in value], verb, depth)
        elif isinstance(value, dict):
            self.print_items(value, _sorted_items(value), verb, depth)
        elif isinstance(value, _Deref) or (isinstance(value, GoStruct) and not value.is_pointer):
            struct = value.struct if isinstance(value, _Deref) else value
            named = self.plus_v or self.sharp_v
            fields = [(f + ":" if named else "", struct.field(f)) for f in struct.go_fields]
            self.print_items(value, fields, verb, depth)
        elif isinstance(value, GoStruct) and depth == 0:
            self.buf.append("&")
            self.print_value(_Deref(value), verb, depth + 1)
        else:
            self.fmt_pointer(value, verb)

    def print_items(self, value: Any, items: list[tuple[Any, Any]], verb: str, depth: int) -> None:
        """A list's, map's or struct's elements; a map's keys, a struct's field labels."""
        is_struct = not isinstance(value, (list, dict))
        if self.sharp_v:
            self.buf.append(_type_name(value) + "{")
        else:
            self.buf.append("{" if is_struct else "[" if isinstance(value, list) else "map[")
        for i, (key, item) in enumerate(items):
            if i:
                self.buf.append(", " if self.sharp_v else " ")
            if is_struct:
                self.buf.append(key)
            elif key is not None:
                self.print_value(key, verb, depth + 1)
                self.buf.append(":")
            self.print_value(item, verb, depth + 1)
        self.buf.append("}" if is_struct or self.sharp_v else "]")

    def do_printf(self, fmt: str, args: tuple[Any, ...]) -> None:
        """fmt.(*pp).doPrintf."""
        end, arg_num, after_index = len(fmt), 0, False
        i = 0
        while i < end:
            self.good_arg_num = True
            pct = fmt.find("%", i)
            pct = end if pct < 0 else pct
            self.buf.append(fmt[i:pct])
            if pct >= end:
                break
            i = pct + 1
            self.clear_flags()
            simple = False
            while i < end:
                c = fmt[i]
                if c in _FLAGS:
                    setattr(self, _FLAGS[c], True)
                    i += 1
                    continue
                if "a" <= c <= "z" and arg_num < len(args):
                    if c in "vw":
                        self.sharp_v, self.sharp = self.sharp, False
                        self.plus_v, self.plus = self.plus, False
                    self.print_arg(args[arg_num], c)
                    arg_num, i, simple = arg_num + 1, i + 1, True
                    if self.limit is not None:
                        self.checkpoint()
                break
            if simple:
                continue
            arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(args))
            if i < end and fmt[i] == "*":
                self.check_star("width", args, arg_num)
                self.wid, self.wid_present, arg_num = _int_from_arg(args, arg_num)
                i += 1
                if not self.wid_present:
                    self.buf.append("%!(BADWIDTH)")
                if self.wid < 0:
                    self.wid, self.minus, self.zero = -self.wid, True, False
                after_index = False
            else:
                self.check_digits("width", fmt, i, end)
                self.wid, self.wid_present, i = _parsenum(fmt, i, end)
                if after_index and self.wid_present:
                    self.good_arg_num = False
            if i + 1 < end and fmt[i] == ".":
                i += 1
                if after_index:
                    self.good_arg_num = False
                arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(args))
                if i < end and fmt[i] == "*":
                    self.check_star("precision", args, arg_num)
                    self.prec, self.prec_present, arg_num = _int_from_arg(args, arg_num)
                    i += 1
                    if self.prec < 0:
                        self.prec, self.prec_present = 0, False
                    if not self.prec_present:
                        self.buf.append("%!(BADPREC)")
                    after_index = False
                else:
                    self.check_digits("precision", fmt, i, end)
                    self.prec, self.prec_present, i = _parsenum(fmt, i, end)
                    if not self.prec_present:
                        self.prec, self.prec_present = 0, True
            if not after_index:
                arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(args))
            if i >= end:
                self.buf.append("%!(NOVERB)")
                break
            verb = "\ufffd" if _is_raw_byte(fmt[i]) else fmt[i]
            i += 1
            if verb == "%":
                self.buf.append("%")
            elif not self.good_arg_num:
                self.buf.append(f"%!{verb}(BADINDEX)")
            elif arg_num >= len(args):
                self.buf.append(f"%!{verb}(MISSING)")
            else:
                if verb in "vw":
                    self.sharp_v, self.sharp = self.sharp, False
                    self.plus_v, self.plus = self.plus, False
                self.print_arg(args[arg_num], verb)
                arg_num += 1
            if self.limit is not None:
                self.checkpoint()
        if not self.reordered and arg_num < len(args):
            self.clear_flags()
            self.buf.append("%!(EXTRA ")
            for n, arg in enumerate(args[arg_num:]):
                if n:
                    self.buf.append(", ")
                if arg is None:
                    self.buf.append("<nil>")
                else:
                    self.buf.append(_type_name(arg) + "=")
                    self.print_arg(arg, "v")
                if self.limit is not None:
                    self.checkpoint()
            self.buf.append(")")

    def arg_number(self, arg_num: int, fmt: str, i: int, num_args: int) -> tuple[int, int, bool]:
        """fmt.(*pp).argNumber: an explicit ``[n]`` argument index at ``fmt[i:]``."""
        if i >= len(fmt) or fmt[i] != "[":
            return arg_num, i, False
        self.reordered = True
        index, wid, ok = _parse_arg_number(fmt[i:])
        if ok and 0 <= index < num_args:
            return index, i + wid, True
        self.good_arg_num = False
        return arg_num, i + wid, ok


_NOTHING: Final = object()
_FLAGS: Final = {"#": "sharp", "0": "zero", "+": "plus", "-": "minus", " ": "space"}
_INT_BASES: Final = {"v": 10, "d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}


def sprint(*args: Any) -> str:
    """Go's ``fmt.Sprint``: ``%v`` of each operand, spaced where neither side is a string."""
    return bounded_sprint(args, None)


def sprintln(*args: Any) -> str:
    """Go's ``fmt.Sprintln``: operands always spaced, and a newline after them."""
    return bounded_sprintln(args, None)


def sprintf(fmt: str, *args: Any) -> str:
    """Go's ``fmt.Sprintf``, error forms (``%!d(string=x)``, ``%!(EXTRA ...)``) included."""
    return bounded_sprintf(fmt, args, None, None)


def bounded_sprint(args: tuple[Any, ...], limit: int | None) -> str:
    """:func:`sprint` whose result may have at most ``limit`` characters.

    Raises :class:`FormatLimitError` as soon as the result is known to be longer (it is
    checked after each operand).
    """
    p = _Printer(limit)
    prev_string = False
    for n, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if n and not is_string and not prev_string:
            p.buf.append(" ")
        p.print_arg(arg, "v")
        if limit is not None:
            p.checkpoint()
        prev_string = is_string
    return "".join(p.buf)


def bounded_sprintln(args: tuple[Any, ...], limit: int | None) -> str:
    """:func:`sprintln` whose result may have at most ``limit`` characters."""
    p = _Printer(limit)
    for n, arg in enumerate(args):
        if n:
            p.buf.append(" ")
        p.print_arg(arg, "v")
        if limit is not None:
            p.checkpoint()
    p.buf.append("\n")
    if limit is not None:
        p.checkpoint()
    return "".join(p.buf)


def bounded_sprintf(
    fmt: str, args: tuple[Any, ...], limit: int | None, max_width: int | None
) -> str:
    """:func:`sprintf` whose result may have at most ``limit`` characters and whose widths
    and precisions (literal, ``*`` or ``[n]*``) at most ``max_width``."""
    p = _Printer(limit, max_width)
    p.do_printf(_canon(fmt), args)
    return "".join(p.buf)


def format_value(value: Any) -> str:
    """How ``{{ value }}`` prints in text/template: ``printableValue``, then ``fmt.Fprint``.

    A top-level pointer struct is dereferenced and a ``String()`` method
    (``GoStruct.go_string``) is used. ``None`` prints ``<nil>`` (``fmt.Sprint(nil)``); the
    template layer prints ``<no value>`` where Go's pipeline yields no value.
    """
    if isinstance(value, str):
        return _canon(value)
    return sprint(_printable(value))


def eval_args_string(*args: Any) -> str:
    """text/template's ``evalArgs``: the text that ``html``, ``js`` and ``urlquery`` escape.

    One string argument is used as is; otherwise each argument is indirected like a
    printed value (``None`` becoming ``<no value>``) and the results joined by ``fmt.Sprint``.
    """
    if len(args) == 1 and isinstance(args[0], str):
        return _canon(args[0])
    return sprint(*("<no value>" if a is None else _printable(a) for a in args))


def bounded_eval_args(args: tuple[Any, ...], limit: int | None) -> str:
    """:func:`eval_args_string` whose result may have at most ``limit`` characters."""
    if len(args) == 1 and isinstance(args[0], str):
        return _canon(args[0])
    printable = tuple("<no value>" if a is None else _printable(a) for a in args)
    return bounded_sprint(printable, limit)


# ---------------------------------------------------------------- text/template escapers

_HTML_ESCAPES: Final = str.maketrans(
    {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}
)
_JS_ESCAPES: Final = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}
_JS_TABLE: Final = {
    **{c: f"\\u{c:04X}" for c in range(0x20)},
    **{ord(c): escaped for c, escaped in _JS_ESCAPES.items()},
}
_NOT_PRINTABLE: Final = re.compile(f"[^\\x00-\\x7f{_printable_class()}\\udc80-\\udcff]")
_URL_SAFE: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_URL_TABLE: Final = tuple(
    chr(b) if b in _URL_SAFE else "+" if b == 0x20 else f"%{b:02X}" for b in range(256)
)


def html_escape(s: str) -> str:
    """text/template's ``HTMLEscapeString``."""
    return _canon(s).translate(_HTML_ESCAPES)


def js_escape(s: str) -> str:
    """text/template's ``JSEscapeString`` (unchanged from Go 1.19 to 1.26).

    ``\\ ' " < > & =`` are escaped, other ASCII controls become ``\\u00XX`` (upper-case
    hex), non-printable non-ASCII runes ``\\uXXXX`` (``%04X``, so five or six digits
    above U+FFFF); invalid bytes and DEL are kept.
    """
    s = _canon(s).translate(_JS_TABLE)
    if s.isascii():
        return s
    return _NOT_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04X}", s)


def url_query_escape(s: str) -> str:
    """net/url's ``QueryEscape``: unreserved bytes kept, space as ``+``, others ``%XX``."""
    return "".join(map(_URL_TABLE.__getitem__, go_bytes(s)))
