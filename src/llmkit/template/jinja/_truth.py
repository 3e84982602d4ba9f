"""Go's truth of a value, as the Jinja export writes it.

This module owns when a value's truth is known at export time (:func:`_const_truth`), the
Jinja expression of its Go truth otherwise (:func:`_truth`), and the Jinja that picks the
operand an ``and``/``or`` returns (:func:`_choose`).
"""

from __future__ import annotations

from collections.abc import Callable

from llmkit.template import runtime
from llmkit.template.jinja._state import _Export
from llmkit.template.jinja._values import _NATIVE_TRUTH, _STRUCTS, K, _Val


def _const_truth(val: _Val) -> bool | None:
    """Go's truth of ``val`` when it is known at export time, else ``None``."""
    if val.is_const:
        return runtime.truth(val.const)
    if val.kind in _STRUCTS:
        return True
    return None


def _truth(export: _Export, val: _Val) -> str:
    """Jinja expression of Go's truth of ``val``."""
    known = _const_truth(val)
    if known is not None:
        return "true" if known else "false"
    if val.truth is not None:
        return val.truth
    if val.kind in _NATIVE_TRUTH or val.kind is K.UNION:  # a UNION here has native truth
        return val.expr
    if val.kind is K.PROPMAP:
        return f"({val.expr} is not none)"
    raise export.refuse(f"the truth of a {val.kind.value} is not supported")  # pragma: no cover


def _choose(
    export: _Export, alts: tuple[_Val, ...], is_and: bool, form: Callable[[_Val], str]
) -> str:
    """Jinja picking ``form`` of the operand an ``and``/``or`` returns."""
    expr = form(alts[-1])
    for arg in reversed(alts[:-1]):
        if is_and:
            expr = f"({expr} if {_truth(export, arg)} else {form(arg)})"
        else:
            expr = f"({form(arg)} if {_truth(export, arg)} else {expr})"
    return expr
