"""What generated template code calls: Go's execution semantics (pure, no I/O).

Mirrors ``text/template/exec.go`` and ``funcs.go``: field lookup, truth,
``and``/``or``/``not``, comparisons, ``index``/``slice``/``len``, printing,
and the safety limits that keep an untrusted template from running forever
or filling memory (:class:`Limits`).  Values are represented as described in
:mod:`llmkit.template.values`; :data:`NO_VALUE` is Go's invalid
``reflect.Value`` ("<no value>").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from llmkit.errors import TemplateExecError, TemplateLimitError
from llmkit.template import gofmt
from llmkit.template.values import GoNil, GoStruct

__all__ = [
    "NO_VALUE",
    "Budget",
    "Cancelled",
    "ExecError",
    "LimitExceeded",
    "Limits",
    "Runtime",
    "go_type_name",
]


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


class LimitExceeded(ExecError):
    """A :class:`Limits` bound was reached (raised as ``TemplateLimitError``, positioned)."""


class Cancelled(ExecError):
    """The caller cancelled the render (raised as ``TemplateCancelledError``, positioned)."""


class CancelFlag(Protocol):
    """Anything with ``is_set()``, such as :class:`threading.Event`."""

    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class Limits:
    """Bounds on one render of an untrusted template; every one raises ``TemplateLimitError``
    (``TemplateCancelledError`` for ``cancel``) naming the template line and column.

    A render is everything one :meth:`llmkit.template.Template.render` call executes (on
    Ollama's legacy path, one execution per turn): the bounds hold for the whole of it.
    (For :meth:`llmkit.template.gotemplate.GoTemplate.execute`, one call.)

    ``max_steps``
        Loop iterations plus template calls (``{{ range }}`` bodies, ``{{ template }}``).
    ``max_depth``
        Nested ``{{ template }}`` calls.
    ``max_output``
        Characters of the rendered prompt, counted exactly: checked before every value is
        written, after every template call and at the end (``max_output`` characters
        render, one more is refused); template text alone is checked at least every 4 KiB.
        Also the longest string (or list) any function may return, so no variable or
        pipeline ever holds more: ``print``, ``printf``, ``println``, ``html``, ``js``,
        ``urlquery``, ``json``, ``slice`` ... refuse a longer result as soon as it is
        known, before it is built in full.
    ``max_width``
        A ``printf`` width or precision, in every form (``%100000d``, ``%.5f``, ``%*d``,
        ``%[2]*[1]d``): at most this much, one more is refused.
    ``max_alloc``
        Characters (list elements count one each) of all the strings and lists the template's
        functions create in one render, kept or not: bounds the memory that values held in
        variables and recursive calls can pin, and the work of building them.  ``None`` (the
        default) is four times ``max_output``.
    ``max_seconds``
        Wall-clock seconds one render may run (compiling is not counted); checked every 16
        steps, every 16 actions of straight-line template code and between the pieces of a
        long escape, so a render ends shortly after its deadline however few steps it takes.
        ``math.inf`` turns the deadline off.
    ``cancel``
        Lets the caller stop a render early (say, when the client disconnected): a
        ``threading.Event`` (or anything with ``is_set()``) or a callable returning true once
        the render should stop; checked as often as the deadline.  ``None``: never cancelled.

    The defaults suit a chat server; ``Limits(max_output=1 << 20, max_seconds=2.0)`` is
    stricter.  Compile time is not bounded here: a template's source size is (by whoever
    accepts it).
    """

    max_steps: int = 1_000_000
    max_depth: int = 200
    max_output: int = 16 * 1024 * 1024
    max_width: int = 100_000
    max_alloc: int | None = None
    max_seconds: float = 10.0
    cancel: Callable[[], object] | CancelFlag | None = None

    def __post_init__(self) -> None:
        for name in ("max_steps", "max_depth", "max_output", "max_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"Limits.{name} must be an int >= 0, not {value!r}")
        alloc = self.max_alloc
        if alloc is not None and (isinstance(alloc, bool) or not isinstance(alloc, int)):
            raise ValueError(f"Limits.max_alloc must be an int or None, not {alloc!r}")
        if not self.max_seconds > 0:
            raise ValueError(f"Limits.max_seconds must be > 0, not {self.max_seconds!r}")

    @property
    def alloc_limit(self) -> int:
        """``max_alloc``, or four times ``max_output`` when it is ``None``."""
        return 4 * self.max_output if self.max_alloc is None else self.max_alloc


_monotonic = time.monotonic


class Budget:
    """What one render has used of its :class:`Limits`, shared by its executions.

    Ollama's legacy path executes a template once per turn: they all draw on one budget, so
    the steps, output, created values and deadline are those of the whole render.
    """

    __slots__ = ("alloc", "deadline", "limits", "output", "steps")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.steps = 0
        self.output = 0
        self.alloc = 0
        self.deadline = _monotonic() + limits.max_seconds

    def cancelled(self) -> bool:
        """Whether ``Limits.cancel`` says to stop."""
        cancel = self.limits.cancel
        if cancel is None:
            return False
        is_set = getattr(cancel, "is_set", None)
        return bool(is_set() if callable(is_set) else cancel() if callable(cancel) else False)


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


_CHUNK: Final = 1 << 16  # escapers work on long strings this many characters at a time


class Runtime:
    """One execution's state: limits, step counter, output accounting and functions.

    Generated code counts the characters it writes in a local and compares them with the
    room it was given (``overflow`` when over); the runtime counts steps, created values
    and time (:meth:`tick`, :meth:`poll`, :meth:`charge`).
    """

    def __init__(
        self,
        functions: Mapping[str, Callable[..., Any]],
        limits: Limits,
        budget: Budget | None = None,
    ) -> None:
        budget = budget if budget is not None else Budget(limits)
        self.functions = functions
        self.limits = limits
        self.budget = budget
        self.steps = budget.steps
        self.max_steps = limits.max_steps
        self.depth = 0
        self.alloc = budget.alloc
        self.room = limits.max_output  # what the template called next may write
        self.out: list[str] = []

    # limits

    def tick(self) -> None:
        """Count a loop iteration or template call; every 16th also checks time and cancel."""
        self.steps = steps = self.steps + 1
        if steps > self.max_steps:
            raise LimitExceeded(
                f"exceeded {self.max_steps} steps (loop iterations and template calls; "
                "Limits.max_steps)"
            )
        if not steps & 15:
            self.poll()

    def poll(self) -> None:
        """Stop when the deadline has passed or the caller cancelled.

        Also bounds the pieces of output: each non-empty one counts in the output size, so
        only a template writing millions of empty values can have more pieces than that.
        """
        limits = self.limits
        if len(self.out) > limits.max_output:
            raise LimitExceeded(
                f"template output exceeds {limits.max_output} pieces (Limits.max_output)"
            )
        if _monotonic() > self.budget.deadline:
            raise LimitExceeded(
                f"rendering took longer than {limits.max_seconds:g} seconds (Limits.max_seconds)"
            )
        if limits.cancel is not None and self.budget.cancelled():
            raise Cancelled("rendering was cancelled")

    def overflow(self) -> None:
        """The output grew past ``max_output`` (generated code found it)."""
        raise LimitExceeded(
            f"template output exceeds {self.limits.max_output} characters (Limits.max_output)"
        )

    def charge(self, size: int) -> None:
        """Account for a value of ``size`` characters (or elements) a function created."""
        limits = self.limits
        if size > limits.max_output:
            raise LimitExceeded(
                f"result exceeds {limits.max_output} characters (Limits.max_output)"
            )
        self.alloc += size
        if self.alloc > limits.alloc_limit:
            raise LimitExceeded(
                f"the values template functions made exceed {limits.alloc_limit} characters "
                "in all (Limits.max_alloc)"
            )

    def produced(self, value: Any, name: str) -> Any:
        """Check the result of a function the runtime does not bound itself (``json``, ...)."""
        if isinstance(value, str | bytes | list | tuple):
            try:
                self.charge(len(value))
            except LimitExceeded as exc:
                raise LimitExceeded(f"error calling {name}: {exc}") from None
        return value

    def _format_limit(self, exc: gofmt.FormatLimitError) -> LimitExceeded:
        setting = "max_width" if exc.kind == "width" else "max_output"
        return LimitExceeded(f"{exc} (Limits.{setting})")

    # bounded builtins: each checks its result (and its work) as it builds it

    def sprint(self, *args: Any) -> str:
        """``print``."""
        try:
            result = gofmt.bounded_sprint(args, self.limits.max_output)
        except gofmt.FormatLimitError as exc:
            raise self._format_limit(exc) from None
        self.charge(len(result))
        return result

    def sprintln(self, *args: Any) -> str:
        """``println``."""
        try:
            result = gofmt.bounded_sprintln(args, self.limits.max_output)
        except gofmt.FormatLimitError as exc:
            raise self._format_limit(exc) from None
        self.charge(len(result))
        return result

    def sprintf(self, fmt: str, *args: Any) -> str:
        """``printf``: widths and precisions at most ``max_width``."""
        try:
            result = gofmt.bounded_sprintf(fmt, args, self.limits.max_output, self.limits.max_width)
        except gofmt.FormatLimitError as exc:
            raise self._format_limit(exc) from None
        self.charge(len(result))
        return result

    def html(self, *args: Any) -> str:
        """``html``."""
        return self._escape(gofmt.html_escape, args)

    def js(self, *args: Any) -> str:
        """``js``."""
        return self._escape(gofmt.js_escape, args)

    def urlquery(self, *args: Any) -> str:
        """``urlquery``."""
        return self._escape(gofmt.url_query_escape, args)

    def _escape(self, escape: Callable[[str], str], args: tuple[Any, ...]) -> str:
        """An escaper on ``evalArgs``: never longer than its input, so a long input is
        refused at once; a long one is escaped piece by piece, checking as it goes."""
        limit = self.limits.max_output
        try:
            text = gofmt.bounded_eval_args(args, limit)
        except gofmt.FormatLimitError as exc:
            raise self._format_limit(exc) from None
        if len(text) > limit:
            raise LimitExceeded(f"result exceeds {limit} characters (Limits.max_output)")
        if len(text) <= _CHUNK:
            result = escape(text)
        else:
            parts: list[str] = []
            size = 0
            for start in range(0, len(text), _CHUNK):
                self.poll()
                part = escape(text[start : start + _CHUNK])
                size += len(part)
                if size > limit:
                    raise LimitExceeded(f"result exceeds {limit} characters (Limits.max_output)")
                parts.append(part)
            result = "".join(parts)
        self.charge(len(result))
        return result

    def slice(self, item: Any, *indexes: Any) -> Any:
        """``slice``: a new string or list, so it counts towards ``max_alloc``."""
        result = slice_(item, *indexes)
        if isinstance(result, str | bytes | list):
            self.charge(len(result))
        return result

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
        except (LimitExceeded, Cancelled) as exc:
            raise type(exc)(f"error calling {name}: {exc}") from None
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
