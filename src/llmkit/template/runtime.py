"""What generated template code calls: Go's execution semantics (pure, no I/O).

Mirrors ``text/template/exec.go`` and ``funcs.go``: field lookup, truth,
``and``/``or``/``not``, comparisons, ``index``/``slice``/``len``, printing,
and the safety limits that keep an untrusted template from running forever
or filling memory (:class:`Limits`).  Values are represented as described in
:mod:`llmkit.template.values`; :data:`NO_VALUE` is Go's invalid
``reflect.Value`` ("<no value>").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from llmkit.template import gofmt
from llmkit.template.errors import TemplateExecError, TemplateLimitError
from llmkit.template.values import GoNil, GoStruct

__all__ = ["NO_VALUE", "ExecError", "Limits", "Runtime", "go_type_name"]


class _NoValue:
    """Go's invalid ``reflect.Value``: what a nil interface becomes in a pipeline."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False


NO_VALUE: Final = _NoValue()


class ExecError(Exception):
    """An execution error before its position is known (``Runtime`` adds it)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one render: loop iterations plus template calls, call depth, output size."""

    max_steps: int = 1_000_000
    max_depth: int = 200
    max_output: int = 16 * 1024 * 1024
    max_width: int = 100_000


def go_type_name(value: Any) -> str:
    """The Go type a value stands for, as Go's messages print it (gofmt's rule)."""
    try:
        return gofmt._type_name(value)
    except TypeError:
        return "[]interface {}" if isinstance(value, tuple) else "interface {}"


def truth(value: Any) -> bool:
    """Go's ``isTrue``: empty, zero and nil are false; structs are true."""
    kind = type(value)
    if kind is bool:
        return value is True
    if kind is str or kind is list or kind is dict or kind is int or kind is float:
        return bool(value)
    if value is None or value is NO_VALUE:
        return False
    if isinstance(value, GoStruct):
        return True
    if isinstance(value, GoNil):
        return False
    if isinstance(value, str | bytes | list | tuple | Mapping | bool | int | float | complex):
        return bool(value)
    return True


# -- comparison (funcs.go) ---------------------------------------------------------

_BOOL, _COMPLEX, _FLOAT, _INT, _STRING = "bool", "complex", "float", "int", "string"


def _basic_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _INT
    if isinstance(value, float):
        return _FLOAT
    if isinstance(value, complex):
        return _COMPLEX
    if isinstance(value, str):
        return _STRING
    return None


def _iface(value: Any) -> Any:
    """``indirectInterface``: a nil interface is no value."""
    return NO_VALUE if value is None else value


def _is_nil(value: Any) -> bool:
    return value is None or value is NO_VALUE or isinstance(value, GoNil)


_ABSENT: Final = object()


def eq(arg1: Any, arg2: Any = _ABSENT, *rest: Any) -> bool:
    kind = type(arg1)
    if not rest and kind is type(arg2) and (kind is str or kind is int):
        return bool(arg1 == arg2)  # the common cases: eq .Role "user", eq (len ..) 1
    args = (arg2, *rest) if arg2 is not _ABSENT else rest
    arg1 = _iface(arg1)
    if not args:
        raise ExecError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in args:
        arg = _iface(arg)
        k2 = _basic_kind(arg)
        if k1 != k2:
            if arg1 is not NO_VALUE and arg is not NO_VALUE:
                raise ExecError("incompatible types for comparison")
            truth_ = arg1 is arg
        elif k1 is None:
            truth_ = _eq_nillable(arg1, arg)
        else:
            truth_ = arg1 == arg
        if truth_:
            return True
    return False


def _reflect_kind(value: Any) -> str:
    """reflect.Kind, for the values that are no basic kind."""
    if value is NO_VALUE:
        return "invalid"
    if isinstance(value, GoNil):
        return {"pointer": "ptr"}.get(value.kind, value.kind)
    if isinstance(value, GoStruct):
        return "ptr" if value.is_pointer else "struct"
    if isinstance(value, bytes | list | tuple):
        return "slice"
    if isinstance(value, Mapping):
        return "map"
    return "other"


def _is_nil_value(value: Any) -> bool:
    """funcs.go's isNil: no value, or a nil slice, map or pointer."""
    return _is_nil(value) or getattr(value, "is_nil", False) is True


def _comparable(value: Any) -> bool:
    """Whether the value's Go type supports ==: not slices, maps or structs holding them."""
    kind = _reflect_kind(value)
    if kind in ("slice", "map"):
        return False
    if kind == "struct":
        return all(_comparable(v) for v in value.field_values.values() if v is not None)
    return True


def _eq_nillable(arg1: Any, arg: Any) -> bool:
    """eq's default case (Go 1.26): both values are of no basic kind."""
    k1, k2 = _reflect_kind(arg1), _reflect_kind(arg)
    if k1 != k2 and "invalid" not in (k1, k2):
        raise ExecError(
            f"non-comparable types {gofmt.format_value(arg1)}: "
            f"{go_type_name(arg1)}, {go_type_name(arg)}: {gofmt.format_value(arg)}"
        )
    if _is_nil_value(arg1) or _is_nil_value(arg):
        return _is_nil_value(arg1) == _is_nil_value(arg)
    if not _comparable(arg):
        raise ExecError(f"non-comparable type {gofmt.format_value(arg)}: {go_type_name(arg)}")
    if k1 == "ptr":
        return arg1 is arg
    return bool(arg1 == arg)


def ne(arg1: Any, arg2: Any) -> bool:
    return not eq(arg1, arg2)


def _ordered(arg1: Any, arg2: Any) -> tuple[Any, Any]:
    arg1, arg2 = _iface(arg1), _iface(arg2)
    k1, k2 = _basic_kind(arg1), _basic_kind(arg2)
    if k1 is None or k1 in (_BOOL, _COMPLEX):
        raise ExecError("invalid type for comparison")
    if k2 is None or k2 in (_BOOL, _COMPLEX):
        raise ExecError("invalid type for comparison")
    if k1 != k2:
        raise ExecError("incompatible types for comparison")
    return arg1, arg2


def lt(arg1: Any, arg2: Any) -> bool:
    a, b = _ordered(arg1, arg2)
    return bool(a < b)


def le(arg1: Any, arg2: Any) -> bool:
    a, b = _ordered(arg1, arg2)
    return bool(a <= b)


def gt(arg1: Any, arg2: Any) -> bool:
    return not le(arg1, arg2)


def ge(arg1: Any, arg2: Any) -> bool:
    return not lt(arg1, arg2)


# -- containers --------------------------------------------------------------------


def length(item: Any) -> int:
    if type(item) is list or (type(item) is str and item.isascii()):
        return len(item)
    item = _iface(item)
    if item is NO_VALUE or (isinstance(item, GoNil) and item.kind == "pointer"):
        raise ExecError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode("utf-8", "surrogatepass"))
    if isinstance(item, bytes | list | tuple | Mapping | GoNil):  # bytes: api.ImageData
        return len(item)
    raise ExecError(f"len of type {go_type_name(item)}")


def _index_arg(index: Any, cap: int) -> int:
    index = _iface(index)
    if index is NO_VALUE:
        raise ExecError("cannot index slice/array with nil")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ExecError(f"cannot index slice/array with type {go_type_name(index)}")
    if index < 0 or index > cap:
        raise ExecError(f"index out of range: {index}")
    return index


def index(item: Any, *indexes: Any) -> Any:
    item = _iface(item)
    if item is NO_VALUE:
        raise ExecError("index of untyped nil")
    for key in indexes:
        if isinstance(item, GoNil) and item.kind == "pointer":
            raise ExecError("index of nil pointer")
        if isinstance(item, str):
            data = item.encode("utf-8", "surrogatepass")
            at = _index_arg(key, len(data))
            if at == len(data):
                raise ExecError("reflect: string index out of range")
            item = data[at]
        elif isinstance(item, bytes | list | tuple) or (
            isinstance(item, GoNil) and item.kind == "slice"
        ):  # bytes: api.ImageData, a []byte whose elements are uint8 numbers
            elements: bytes | list[Any] | tuple[Any, ...] = (
                item if not isinstance(item, GoNil) else []
            )
            at = _index_arg(key, len(elements))
            if at == len(elements):
                raise ExecError("reflect: slice index out of range")
            item = elements[at]
        elif isinstance(item, Mapping) or (isinstance(item, GoNil) and item.kind == "map"):
            key = _iface(key)
            if not isinstance(key, str):
                if key is NO_VALUE:
                    raise ExecError("value is nil; should be of type string")
                raise ExecError(f"value has type {go_type_name(key)}; should be string")
            item = item.get(key) if isinstance(item, Mapping) else None
        else:
            raise ExecError(f"can't index item of type {go_type_name(item)}")
    return item


def slice_(item: Any, *indexes: Any) -> Any:
    if type(item) is list and len(indexes) == 1 and type(indexes[0]) is int:
        start = indexes[0]
        if 0 <= start <= len(item):
            return item[start:]  # the common case: slice $.Messages $i
    item = _iface(item)
    if item is NO_VALUE:
        raise ExecError("slice of untyped nil")
    if len(indexes) > 3:
        raise ExecError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise ExecError("cannot 3-index slice a string")
        data: bytes | list[Any] | tuple[Any, ...] = item.encode("utf-8", "surrogatepass")
        cap = len(data)
    elif isinstance(item, bytes | list | tuple):  # bytes: api.ImageData, sliced to its type
        data = item
        cap = len(item)
    elif isinstance(item, GoNil) and item.kind == "slice":
        for key in indexes:
            _index_arg(key, 0)
        return item  # a nil slice sliced [0:0] stays nil
    else:
        raise ExecError(f"can't slice item of type {go_type_name(item)}")
    bounds = [0, len(data)]
    for i, key in enumerate(indexes):
        at = _index_arg(key, cap)
        if i < 2:
            bounds[i] = at
    if bounds[0] > bounds[1]:
        raise ExecError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    part = data[bounds[0] : bounds[1]]
    if isinstance(item, bytes):
        return type(item)(part)
    if isinstance(part, bytes):
        return part.decode("utf-8", "surrogateescape")
    return list(part)


def len_slice_from(item: Any, start: Any) -> int:
    """``len (slice item start)`` without building the slice."""
    if type(item) is list and type(start) is int and 0 <= start <= len(item):
        return len(item) - start
    try:
        part = slice_(item, start)
    except ExecError as exc:
        raise ExecError(f"error calling slice: {exc}") from None
    try:
        return length(part)
    except ExecError as exc:
        raise ExecError(f"error calling len: {exc}") from None


# -- the runtime object -------------------------------------------------------------


class Runtime:
    """One render's state: limits, step counter, output accounting and functions."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]], limits: Limits) -> None:
        self.functions = functions
        self.limits = limits
        self.steps = 0
        self.depth = 0
        self._counted = 0
        self._size = 0
        self.out: list[str] = []

    # limits

    def tick(self) -> None:
        """Count a loop iteration or template call; check the bounds now and then."""
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise TemplateLimitError(
                f"exceeded {self.limits.max_steps} steps (loop iterations and template calls)"
            )
        if self.steps & 1023 == 0:
            self.check_output()

    def check_output(self) -> None:
        out = self.out
        self._size += sum(len(part) for part in out[self._counted :])
        self._counted = len(out)
        if self._size > self.limits.max_output:
            raise TemplateLimitError(f"output exceeds {self.limits.max_output} characters")

    # values

    @staticmethod
    def dig(value: Any) -> Any:
        """End of a pipeline command: a nil interface becomes no value."""
        return NO_VALUE if value is None else value

    @staticmethod
    def printable(value: Any) -> str:
        """``printValue``: how an action prints its pipeline's value (nil is no value)."""
        if type(value) is str:
            return value
        if value is NO_VALUE or value is None:
            return "<no value>"
        method = getattr(value, "go_string", None)
        if method is not None:
            text = method()
            if isinstance(text, str):
                return text  # a Stringer: fmt prints String() as is for %v
        return gofmt.format_value(value)

    @staticmethod
    def field(receiver: Any, name: str, has_args: bool = False) -> Any:
        """``evalField``: ``receiver.name`` for maps (missingkey=zero) and structs."""
        if not has_args:
            if type(receiver) is dict:
                return receiver.get(name)
            try:
                return receiver.field_values[name]  # a GoStruct's declared field
            except (AttributeError, KeyError):
                pass
        if receiver is NO_VALUE:
            return NO_VALUE
        if type(receiver) is dict:
            raise ExecError(f"{name} is not a method but has arguments")
        if isinstance(receiver, GoStruct):
            if receiver.has_field(name):
                raise ExecError(f"{name} has arguments but cannot be invoked as function")
            raise ExecError(f"can't evaluate field {name} in type {receiver.go_type}")
        if receiver is None:
            raise ExecError(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, GoNil):
            raise ExecError(f"nil pointer evaluating {go_type_name(receiver)}.{name}")
        if isinstance(receiver, Mapping):
            if has_args:
                raise ExecError(f"{name} is not a method but has arguments")
            return receiver.get(name)
        raise ExecError(f"can't evaluate field {name} in type {go_type_name(receiver)}")

    @staticmethod
    def any_arg(value: Any) -> Any:
        """An argument for an ``any`` parameter: no value is passed as nil."""
        return None if value is NO_VALUE else value

    @staticmethod
    def string_arg(value: Any) -> str:
        """An argument for a ``string`` parameter."""
        if type(value) is str:
            return value
        if value is NO_VALUE or value is None:
            raise ExecError("invalid value; expected string")
        raise ExecError(f"wrong type for value; expected string; got {go_type_name(value)}")

    @staticmethod
    def iterate(value: Any, two_vars: bool) -> Iterator[tuple[Any, Any]]:
        """``walkRange``: (index or key, element) pairs; maps in sorted key order."""
        value = _iface(value)
        if value is NO_VALUE or isinstance(value, GoNil):
            return iter(())
        if isinstance(value, bytes | list | tuple):  # bytes: api.ImageData's uint8 elements
            return enumerate(value)
        if isinstance(value, Mapping):
            return ((key, value[key]) for key in sorted(value))
        if isinstance(value, int) and not isinstance(value, bool):
            if two_vars:
                raise ExecError(f"can't use {value} to iterate over more than one variable")
            return ((i, i) for i in range(value))
        raise ExecError(f"range can't iterate over {gofmt.format_value(value)}")

    def call(self, name: str, function: Callable[..., Any], *args: Any) -> Any:
        """Call a template function; its failure is Go's "error calling NAME: ..."."""
        try:
            return function(*args)
        except ExecError as exc:
            raise ExecError(f"error calling {name}: {exc}") from None
        except TemplateLimitError:
            raise
        except TemplateExecError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            raise ExecError(f"error calling {name}: {exc}") from None

    def call_value(self, fn: Any, *args: Any) -> Any:
        """The ``call`` builtin: llmkit's data holds no functions."""
        fn = _iface(fn)
        if fn is NO_VALUE:
            raise ExecError("error calling call: call of nil")
        raise ExecError(f"error calling call: non-function of type {go_type_name(fn)}")

    def sprintf(self, fmt: str, *args: Any) -> str:
        self._check_widths(fmt)
        return gofmt.sprintf(fmt, *args)

    def _check_widths(self, fmt: str) -> None:
        digits = 0
        for ch in fmt:
            if ch.isdigit():
                digits += 1
                if digits > len(str(self.limits.max_width)):
                    raise TemplateLimitError(
                        f"printf width or precision over {self.limits.max_width}"
                    )
            else:
                digits = 0


def and_(*thunks: Callable[[], Any]) -> Any:
    """``and``: the first false argument, or the last; later arguments are not evaluated."""
    value: Any = NO_VALUE
    for thunk in thunks:
        value = thunk()
        if not truth(value):
            return value
    return value


def or_(*thunks: Callable[[], Any]) -> Any:
    """``or``: the first true argument, or the last; later arguments are not evaluated."""
    value: Any = NO_VALUE
    for thunk in thunks:
        value = thunk()
        if truth(value):
            return value
    return value
