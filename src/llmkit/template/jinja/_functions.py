"""Go template functions in the Jinja export: one function per Go builtin or Ollama function.

This module owns what a function call becomes in Jinja once its arguments are values
(:class:`~llmkit.template.jinja._values._Val`): each function is a plain function
``(export, args, node) -> _Val`` registered by its Go name in ``FUNCTIONS``, which the
emitter looks up (a name not there is refused).  Calls whose arguments are all constants are
evaluated at export time with llmkit's own builtins (:func:`_fold`).  Also here: the checks
Go makes before a call (:func:`_check_call`: arity, Ollama's functions missing from the last
legacy turn) and the shared rules of the builtins (no value as an argument, comparisons,
indexing, ``print``'s spacing, ``printf``'s verbs, the escapers' input).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from llmkit.template import gofmt
from llmkit.template.codegen import FUNCTION_ARITY
from llmkit.template.gotemplate import BUILTINS
from llmkit.template.jinja._macros import _lit
from llmkit.template.jinja._printing import _json, _printed, _text_of
from llmkit.template.jinja._state import _Export
from llmkit.template.jinja._truth import _choose, _const_truth, _truth
from llmkit.template.jinja._values import (
    _BASIC,
    _ELEMENTS,
    _NATIVE_TRUTH,
    _NILLABLE,
    K,
    _const,
    _Val,
)
from llmkit.template.nodes import Node
from llmkit.template.ollama import OLLAMA_FUNCTIONS
from llmkit.template.runtime import NO_VALUE, ExecError

#: A Go function in the export: the call's argument values to the result's value.
_Function = Callable[[_Export, list[_Val], Node], _Val]


# -- before and around a call --------------------------------------------------------------


def _check_call(export: _Export, name: str, count: int, node: Node) -> None:
    """What Go rejects before it evaluates a call's arguments."""
    low, high = FUNCTION_ARITY.get(name, (0, None))
    if count < low or (high is not None and count > high):
        raise export.refuse(f"wrong number of arguments for {name} (Go fails here)", node)
    if export.no_functions and name in OLLAMA_FUNCTIONS:
        raise export.refuse(
            "Ollama runs the last turn of a legacy template without its functions, so "
            f'"{name}" '
            "is not defined there (Go fails here)",
            node,
        )


def _value_args(export: _Export, args: list[_Val], node: Node, name: str) -> None:
    for arg in args:
        if arg.kind is K.NOVALUE and not arg.raw:
            raise export.refuse(f"{name} of no value (Go fails here)", node)


def _fold(export: _Export, name: str, args: list[_Val], node: Node) -> _Val | None:
    """Evaluate a builtin at export time when all its arguments are constants."""
    if not all(arg.is_const for arg in args):
        return None
    values = [None if arg.const is NO_VALUE else arg.const for arg in args]
    function: Callable[..., Any] = gofmt.sprintf if name == "printf" else BUILTINS[name]
    try:
        return _const(function(*values))
    except ExecError as exc:
        raise export.refuse(f"{name} fails in Go: {exc}", node) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise export.refuse(f"{name} fails: {exc}", node) from None


# -- and, or, not ---------------------------------------------------------------------------


def _fn_and(export: _Export, args: list[_Val], node: Node) -> _Val:
    return _and_or(export, args, node, is_and=True)


def _fn_or(export: _Export, args: list[_Val], node: Node) -> _Val:
    return _and_or(export, args, node, is_and=False)


def _and_or(export: _Export, args: list[_Val], node: Node, *, is_and: bool) -> _Val:
    _value_args(export, args, node, "and" if is_and else "or")
    kept: list[_Val] = []
    for index, arg in enumerate(args):
        known = _const_truth(arg)
        last = index == len(args) - 1
        if known is not None and not last:
            if known != is_and:  # decides: and's false / or's true
                if not kept:
                    return arg
                kept.append(arg)
                break
            continue  # a constant that passes the value on
        kept.append(arg)
        if known is not None:
            break
    if len(kept) == 1:
        return kept[0]
    kinds = {arg.kind for arg in kept}
    kind = kept[0].kind if len(kinds) == 1 else K.UNION
    alts = tuple(kept)
    joiner = " and " if is_and else " or "
    if all(arg.kind in _NATIVE_TRUTH or arg.kind is K.NOVALUE for arg in kept):
        expr = "(" + joiner.join(arg.expr for arg in kept) + ")"
        return _Val(expr, kind, alts=alts, is_and=is_and)
    truth = "(" + joiner.join(_truth(export, arg) for arg in kept) + ")"
    return _Val(
        _choose(export, alts, is_and, lambda v: v.expr),
        kind,
        truth=truth,
        alts=alts,
        is_and=is_and,
    )


def _fn_not(export: _Export, args: list[_Val], node: Node) -> _Val:
    _value_args(export, args, node, "not")
    known = _const_truth(args[0])
    if known is not None:
        return _const(not known)
    return _Val(f"(not {_truth(export, args[0])})", K.BOOL)


# -- comparisons ----------------------------------------------------------------------------


def _compare(export: _Export, name: str, a: _Val, b: _Val, node: Node) -> str | bool:
    """Jinja for one ``eq``/``ne``/``lt``/... comparison, or its constant result."""
    if a.kind is K.ANY or b.kind is K.ANY:
        raise export.refuse(f"{name} on a JSON value of unknown type", node)
    if a.kind is K.NOVALUE or b.kind is K.NOVALUE:
        if name == "eq":
            return a.kind is b.kind
        raise export.refuse(f"{name} of no value (Go fails here)", node)
    if a.kind not in _BASIC or b.kind not in _BASIC:
        raise export.refuse(
            f"{name} of {a.kind.value} and {b.kind.value} (not basic types; Go fails or "
            "compares identity)",
            node,
        )
    if a.kind is not b.kind:
        raise export.refuse(f"incompatible types for comparison: {a.kind.value} and {b.kind.value}")
    if name in ("lt", "le", "gt", "ge") and a.kind is K.BOOL:
        raise export.refuse("invalid type for comparison: bool", node)
    op = {"eq": "==", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[name]
    return f"({a.expr} {op} {b.expr})"


def _fn_eq(export: _Export, args: list[_Val], node: Node) -> _Val:
    _value_args(export, args, node, "eq")
    if len(args) < 2:
        raise export.refuse("missing argument for comparison (Go fails here)", node)
    folded = _fold(export, "eq", args, node)
    if folded is not None:
        return folded
    parts: list[str] = []
    for other in args[1:]:
        result = _compare(export, "eq", args[0], other, node)
        if result is True:
            return _const(True)
        if result is not False:
            parts.append(result)
    if not parts:
        return _const(False)
    return _Val(parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")", K.BOOL)


def _fn_ne(export: _Export, args: list[_Val], node: Node) -> _Val:
    equal = _fn_eq(export, args, node)
    if equal.is_const:
        return _const(not equal.const)
    return _Val(f"(not {equal.expr})", K.BOOL)


def _order(export: _Export, name: str, args: list[_Val], node: Node) -> _Val:
    _value_args(export, args, node, name)
    folded = _fold(export, name, args, node)
    if folded is not None:
        return folded
    result = _compare(export, name, args[0], args[1], node)
    assert isinstance(result, str)
    return _Val(result, K.BOOL)


def _fn_lt(export: _Export, args: list[_Val], node: Node) -> _Val:
    return _order(export, "lt", args, node)


def _fn_le(export: _Export, args: list[_Val], node: Node) -> _Val:
    return _order(export, "le", args, node)


def _fn_gt(export: _Export, args: list[_Val], node: Node) -> _Val:
    return _order(export, "gt", args, node)


def _fn_ge(export: _Export, args: list[_Val], node: Node) -> _Val:
    return _order(export, "ge", args, node)


# -- len, index, slice ----------------------------------------------------------------------


def _fn_len(export: _Export, args: list[_Val], node: Node) -> _Val:
    _value_args(export, args, node, "len")
    (item,) = args
    folded = _fold(export, "len", args, node)
    if folded is not None:
        return folded
    kind, e = item.kind, item.expr
    if kind is K.STR:
        return _Val(f"({e}.encode('utf-8')|length)", K.INT)
    if kind in (K.MESSAGES, K.CALLS, K.IMAGES, K.PROPTYPE):
        return _Val(f"({e}|length)", K.INT)
    if kind in (K.TOOLS, K.STRLIST, K.ANYLIST, K.PROPLIST):
        return _Val(f"(({e} or [])|length)", K.INT)
    if kind in (K.ARGS, K.PROPS):
        return _Val(f"(({e} or {{}})|length)", K.INT)
    raise export.refuse(f"len of {kind.value} (Go fails here or the type is not known)", node)


def _fn_index(export: _Export, args: list[_Val], node: Node) -> _Val:
    _value_args(export, args, node, "index")
    item, keys = args[0], args[1:]
    folded = _fold(export, "index", args, node)
    if folded is not None:
        return folded
    for key in keys:
        item = _index_one(export, item, key, node)
    return item


def _index_one(export: _Export, item: _Val, key: _Val, node: Node) -> _Val:
    kind, e = item.kind, item.expr
    if (kind in _ELEMENTS and kind is not K.PROPTYPE) or kind is K.PROPTYPE:
        if key.kind is not K.INT:
            raise export.refuse(f"cannot index a list with {key.kind.value} (Go fails here)", node)
        target = f"({e} or [])" if kind in _NILLABLE else e
        element = _ELEMENTS[kind]
        if key.origin is not None and key.origin == e:
            return _Val(f"{target}[{key.expr}]", element, raw=True)
        return _Val(
            f"({target}[{key.expr}] if 0 <= {key.expr} < {target}|length else "
            f"raise_exception('index out of range: ' ~ {key.expr}))",
            element,
            raw=True,
        )
    if kind is K.ARGS:
        if key.kind is not K.STR:
            raise export.refuse(f"cannot index a map with {key.kind.value} (Go fails here)", node)
        return _Val(f"({e} or {{}}).get({key.expr})", K.ANY, raw=True)
    raise export.refuse(f"index of {kind.value} is not supported in the export", node)


def _fn_slice(export: _Export, args: list[_Val], node: Node) -> _Val:
    _value_args(export, args, node, "slice")
    item, indexes = args[0], args[1:]
    folded = _fold(export, "slice", args, node)
    if folded is not None:
        return folded
    if item.kind is not K.MESSAGES:
        raise export.refuse(f"slice of {item.kind.value} is not supported in the export", node)
    if len(indexes) > 2 or any(i.kind is not K.INT for i in indexes):
        raise export.refuse("slice takes up to two int indexes here", node)
    e = item.expr
    if not indexes:
        return item
    low = indexes[0].expr
    if len(indexes) == 1:
        if indexes[0].origin == e:
            return _Val(f"{e}[{low}:]", K.MESSAGES)
        return _Val(
            f"({e}[{low}:] if 0 <= {low} <= {e}|length else "
            f"raise_exception('slice index out of range: ' ~ {low}))",
            K.MESSAGES,
        )
    high = indexes[1].expr
    return _Val(
        f"({e}[{low}:{high}] if 0 <= {low} <= {high} <= {e}|length else "
        f"raise_exception('slice index out of range'))",
        K.MESSAGES,
    )


# -- print, println, printf -----------------------------------------------------------------


def _fn_print(export: _Export, args: list[_Val], node: Node) -> _Val:
    folded = _fold(export, "print", args, node)
    if folded is not None:
        return folded
    parts: list[str] = []
    strings = [_is_string(export, arg, node) for arg in args]
    for index, arg in enumerate(args):
        if index and not strings[index] and not strings[index - 1]:
            parts.append("' '")
        parts.append(_text_of(export, arg, node))
    return _Val("(" + " ~ ".join(parts or ["''"]) + ")", K.STR)


def _is_string(export: _Export, val: _Val, node: Node) -> bool:
    """Whether ``print`` sees a string (it puts spaces only between non-strings)."""
    if val.kind is K.UNION:
        kinds = {_is_string(export, alt, node) for alt in val.alts}
        if len(kinds) != 1:
            raise export.refuse("print of an and/or result that may or may not be a string", node)
        return kinds.pop()
    if val.kind is K.ANY:
        raise export.refuse("print of a JSON value of unknown type", node)
    return val.kind is K.STR


def _fn_println(export: _Export, args: list[_Val], node: Node) -> _Val:
    folded = _fold(export, "println", args, node)
    if folded is not None:
        return folded
    parts = [_text_of(export, arg, node) for arg in args]
    return _Val("(" + " ~ ' ' ~ ".join(parts) + (" ~ " if parts else "") + "'\\n')", K.STR)


def _fn_printf(export: _Export, args: list[_Val], node: Node) -> _Val:
    folded = _fold(export, "printf", args, node)
    if folded is not None:
        return folded
    fmt = args[0]
    if not fmt.is_const or not isinstance(fmt.const, str):
        raise export.refuse("printf with a format that is not a string constant", node)
    values = args[1:]
    parts: list[str] = []
    literal: list[str] = []
    used = 0
    chars = fmt.const
    i = 0
    while i < len(chars):
        ch = chars[i]
        if ch != "%":
            literal.append(ch)
            i += 1
            continue
        verb = chars[i + 1] if i + 1 < len(chars) else ""
        i += 2
        if verb == "%":
            literal.append("%")
            continue
        if verb not in ("s", "v", "d", "t"):
            raise export.refuse(
                f"printf verb %{verb} (only plain %s %v %d %t %% are exported)", node
            )
        if used >= len(values):
            raise export.refuse("printf has more verbs than arguments", node)
        arg = values[used]
        used += 1
        if literal:
            parts.append(_lit("".join(literal)))
            literal = []
        parts.append(_printf_arg(export, verb, arg, node))
    if used != len(values):
        raise export.refuse("printf has more arguments than verbs", node)
    if literal:
        parts.append(_lit("".join(literal)))
    return _Val("(" + " ~ ".join(parts or ["''"]) + ")", K.STR)


def _printf_arg(export: _Export, verb: str, arg: _Val, node: Node) -> str:
    kind = arg.kind
    if kind is K.UNION and arg.alts:
        return _choose(export, arg.alts, arg.is_and, lambda v: _printf_arg(export, verb, v, node))
    if arg.is_const:
        return _lit(gofmt.sprintf(f"%{verb}", None if arg.const is NO_VALUE else arg.const))
    if verb == "d" and kind is K.INT:
        return f"({arg.expr}|string)"
    if verb == "t" and kind is K.BOOL:
        return _printed(export, arg, node)
    if verb == "v" and kind not in (K.NOVALUE, K.ANY):
        return _text_of(export, arg, node)
    if verb == "s" and kind not in (K.INT, K.BOOL, K.FLOAT, K.NOVALUE, K.ANY):
        return _text_of(export, arg, node)
    raise export.refuse(f"printf %{verb} of a {kind.value}", node)


# -- html, js, urlquery ---------------------------------------------------------------------


def _fn_html(export: _Export, args: list[_Val], node: Node) -> _Val:
    folded = _fold(export, "html", args, node)
    if folded is not None:
        return folded
    text = _escaper_input(export, args, node)
    chain = "".join(
        f"|replace({_lit(a)}, {_lit(b)})"
        for a, b in (("&", "&amp;"), ("'", "&#39;"), ('"', "&#34;"), ("<", "&lt;"),
                     (">", "&gt;"), ("\0", "\ufffd"))
    )  # fmt: skip
    return _Val(f"({text}|string{chain})", K.STR)


def _escaper_input(export: _Export, args: list[_Val], node: Node) -> str:
    """``evalArgs`` of html/js/urlquery: one string as is, else ``fmt.Sprint``."""
    if len(args) == 1 and args[0].kind is K.STR:
        return args[0].expr
    return _fn_print(
        export, [_const("<no value>") if a.kind is K.NOVALUE else a for a in args], node
    ).expr


def _fn_js(export: _Export, args: list[_Val], node: Node) -> _Val:
    folded = _fold(export, "js", args, node)
    if folded is None:
        raise export.refuse("Go's js escaping (unicode.IsPrint) has no Jinja equivalent", node)
    return folded


def _fn_urlquery(export: _Export, args: list[_Val], node: Node) -> _Val:
    folded = _fold(export, "urlquery", args, node)
    if folded is not None:
        return folded
    text = _escaper_input(export, args, node)
    # Python's quote keeps "/" and writes a space as %20; Go's QueryEscape does neither.
    return _Val(f"({text}|string|urlencode|replace('/', '%2F')|replace('%20', '+'))", K.STR)


# -- Ollama's functions ---------------------------------------------------------------------


def _fn_json(export: _Export, args: list[_Val], node: Node) -> _Val:
    (value,) = args
    return _Val(_json(export, value, node), K.STR)


def _fn_current_date(export: _Export, args: list[_Val], node: Node) -> _Val:
    _string_args(export, args, node, "currentDate")
    return _Val("strftime_now('%Y-%m-%d')", K.STR)


def _fn_yesterday_date(export: _Export, args: list[_Val], node: Node) -> _Val:
    _string_args(export, args, node, "yesterdayDate")
    return _Val(f"{export.use('go_yesterday')}()", K.STR)


def _string_args(export: _Export, args: list[_Val], node: Node, name: str) -> None:
    for arg in args:
        if arg.kind is not K.STR:
            raise export.refuse(f"{name} takes strings (Go fails here)", node)


def _fn_to_typescript_type(export: _Export, args: list[_Val], node: Node) -> _Val:
    (value,) = args
    if value.kind is K.PROP:
        return _Val(f"{export.use('go_ts_type')}({value.expr})", K.STR)
    if value.kind is K.ANY:
        raise export.refuse("toTypeScriptType of a JSON value of unknown type", node)
    return _const("any")


#: The Go functions the export can write, by their Go name; a call to any other function
#: (``call``, or a name Go does not define) is refused.
FUNCTIONS: Final[dict[str, _Function]] = {
    "and": _fn_and,
    "or": _fn_or,
    "not": _fn_not,
    "eq": _fn_eq,
    "ne": _fn_ne,
    "lt": _fn_lt,
    "le": _fn_le,
    "gt": _fn_gt,
    "ge": _fn_ge,
    "len": _fn_len,
    "index": _fn_index,
    "slice": _fn_slice,
    "print": _fn_print,
    "println": _fn_println,
    "printf": _fn_printf,
    "html": _fn_html,
    "js": _fn_js,
    "urlquery": _fn_urlquery,
    "json": _fn_json,
    "currentDate": _fn_current_date,
    "yesterdayDate": _fn_yesterday_date,
    "toTypeScriptType": _fn_to_typescript_type,
}
