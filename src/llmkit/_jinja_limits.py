"""Bounded rendering of untrusted Jinja chat templates (used by :mod:`llmkit.chat_template`).

jinja2's sandbox stops a template from reaching Python internals, but not from running
forever or filling memory.  :class:`BoundedEnvironment` adds the bounds of
:class:`ChatTemplateLimits`, enforced from inside the sandbox:

- The parsed template is rewritten before it is compiled (:class:`_Instrument`, with
  jinja2's public ``parse`` and ``from_string(tree)``): every ``{% for %}`` iterates its
  iterable through a hidden filter that charges its length to the step budget up front
  (each item as it comes, for iterators without a length); every ``a + b + c`` chain,
  ``a ~ b`` and slice ``x[i:j]`` becomes one call of a hidden bounded filter.  Hidden
  filter names (``llmkit:loop`` ...) are not names a template can write.
- Every call (functions, methods, macros, a recursive loop's ``loop(...)``, which charges
  its items as well) and every filter use is a step; the deadline is checked every 16
  steps and every 16 operators.
- ``range`` refuses more than ``max_range`` items, and iterating one charges them.
- ``+``, ``*``, ``**``, ``%``, ``~``, slices, the text a block or macro collects, string
  methods and filters refuse a string or list longer than ``max_output``: before building
  it where its size is known in advance (``"x" * 10**9``, ``s.center(10**9)``,
  ``"%999999999d" % 1``, ``x | indent(10**9)``, ``s.replace("", s)``), after otherwise.
  Everything they build is charged to ``max_alloc``; integers past :data:`MAX_INT_BITS` are
  refused.
- Printing, ``~``, ``tojson``, ``join``, ``string``, ``format`` and the other ways of
  turning a list or dict into text first measure the text it would make, shared
  references counted as often as they would be printed (``[[big] * 1000] * 1000``).
- The rendered text is counted as it streams out of ``Template.generate``.

The per-render state (:class:`Budget`) lives in a :class:`contextvars.ContextVar`, so one
compiled template renders in several threads at once.
"""

from __future__ import annotations

import functools
import json
import operator
import re
import time
from collections.abc import (
    Callable,
    Generator,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Sequence,
    ValuesView,
)
from contextvars import ContextVar
from dataclasses import dataclass
from types import BuiltinMethodType, MethodType
from typing import Any, cast, overload

import jinja2
from jinja2 import nodes
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context, LoopContext, Macro, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Namespace, pass_context, pass_eval_context
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup

__all__ = ["MAX_INT_BITS", "BoundedEnvironment", "ChatTemplateLimits", "LimitExceeded"]

#: Integers the template computes (``*``, ``**``) may have at most this many bits (Python
#: itself refuses to print integers of more than 4300 digits, about 14,300 bits).
MAX_INT_BITS = 16_384


@dataclass(frozen=True)
class ChatTemplateLimits:
    """Bounds on compiling and rendering one untrusted Jinja chat template.

    Every bound raises :class:`~llmkit.chat_template.ChatTemplateError` with a message that
    names it and its value.  The defaults suit a chat server; change them with
    ``JinjaChatTemplate(source, limits=ChatTemplateLimits(max_output=1 << 20))``.

    ``max_template_size``
        Characters of template source accepted (checked before compiling).
    ``max_steps``
        Loop iterations (of every ``{% for %}``, over lists, strings, dicts, ``range`` and
        filter results alike; a loop over a list is charged its length up front) plus calls
        of functions, methods and macros plus filter applications, in one render.
    ``max_output``
        Characters of the rendered prompt, counted as it streams; also the longest string
        (characters) or list (items) any operator, filter, method, block or macro may build,
        refused before it is built where its size is known in advance.
    ``max_alloc``
        Characters and list items of everything the template builds in one render (kept or
        not): bounds the memory values pinned in variables can hold.  ``None`` (the
        default) is eight times ``max_output``.
    ``max_range``
        Items in one ``range(...)`` (jinja2's own sandbox allows 100,000).
    ``max_seconds``
        Wall-clock seconds one render may take, checked every 16 steps and every 16
        operators; ``math.inf`` turns the deadline off.
    ``cancel``
        Lets the caller stop a render early (the client went away): a callable returning
        true once the render should stop (such as
        :func:`llmkit.backends.caller_cancelled`), or a ``threading.Event``; checked as
        often as the deadline.  ``None``: never cancelled.
    """

    max_template_size: int = 256 * 1024
    max_steps: int = 1_000_000
    max_output: int = 16 * 1024 * 1024
    max_alloc: int | None = None
    max_range: int = 100_000
    max_seconds: float = 5.0
    cancel: Callable[[], object] | None = None

    def __post_init__(self) -> None:
        for name in ("max_template_size", "max_steps", "max_output", "max_range"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"ChatTemplateLimits.{name} must be an int >= 0, not {value!r}")
        alloc = self.max_alloc
        if alloc is not None and (isinstance(alloc, bool) or not isinstance(alloc, int)):
            raise ValueError(f"ChatTemplateLimits.max_alloc must be an int or None, not {alloc!r}")
        seconds = self.max_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise ValueError(f"ChatTemplateLimits.max_seconds must be > 0, not {seconds!r}")

    @property
    def alloc_limit(self) -> int:
        """``max_alloc``, or eight times ``max_output`` when it is ``None``."""
        return 8 * self.max_output if self.max_alloc is None else self.max_alloc


class LimitExceeded(jinja2.TemplateError):
    """A render went past one of its :class:`ChatTemplateLimits`."""


_monotonic = time.monotonic
_SIZED = (str, bytes, list, tuple, dict)
_SEQUENCES = (str, bytes, list, tuple)
_CONTAINERS = (list, tuple, dict, set, frozenset, Namespace, KeysView, ValuesView, ItemsView)


class Budget:
    """What one render (or one compile's constant folding) has used of its limits."""

    __slots__ = (
        "alloc",
        "cap",
        "deadline",
        "limits",
        "max_alloc",
        "max_steps",
        "next_poll",
        "ops",
        "steps",
    )

    def __init__(self, limits: ChatTemplateLimits) -> None:
        self.limits = limits
        self.steps = 0
        self.max_steps = limits.max_steps
        self.next_poll = min(16, limits.max_steps + 1)
        self.ops = 0
        self.alloc = 0
        self.max_alloc = limits.alloc_limit
        self.cap = limits.max_output
        self.deadline = _monotonic() + limits.max_seconds

    def tick(self, count: int = 1) -> None:
        """Count ``count`` steps; every 16th step also checks the deadline.

        Hot paths inline the common case: ``steps += 1``, and ``tick(0)`` only once
        ``steps`` reaches ``next_poll`` (which never passes ``max_steps + 1``).
        """
        self.steps = steps = self.steps + count
        if steps >= self.next_poll:
            if steps > self.max_steps:
                raise LimitExceeded(
                    f"went past ChatTemplateLimits.max_steps = {self.max_steps} "
                    "(loop iterations, calls and filter uses)"
                )
            self.next_poll = min(steps + 16, self.max_steps + 1)
            self.poll()

    def op(self) -> None:
        """Count an operator (``+``, ``~``, a slice ...); every 16th checks the deadline."""
        self.ops = ops = self.ops + 1
        if not ops & 15:
            self.poll()

    def poll(self) -> None:
        """Stop once the deadline has passed or the caller cancelled."""
        if _monotonic() > self.deadline:
            raise LimitExceeded(
                f"rendering went past ChatTemplateLimits.max_seconds = "
                f"{self.limits.max_seconds:g} seconds"
            )
        cancel = self.limits.cancel
        if cancel is not None:
            is_set = getattr(cancel, "is_set", None)
            if is_set() if callable(is_set) else cancel():
                raise LimitExceeded("rendering was cancelled (ChatTemplateLimits.cancel)")

    def fits(self, size: int, what: str = "a value") -> None:
        """Refuse a value of ``size`` characters or items before it is built."""
        if size > self.cap:
            raise LimitExceeded(
                f"{what} would be {size} characters or items long, past "
                f"ChatTemplateLimits.max_output = {self.cap}"
            )

    def charge(self, size: int, what: str = "a value") -> None:
        """Account for a string or list of ``size`` characters or items the template built."""
        if size > self.cap:
            self.fits(size, what)
        self.alloc = alloc = self.alloc + size
        if alloc > self.max_alloc:
            raise LimitExceeded(
                f"the strings and lists built went past ChatTemplateLimits.max_alloc = "
                f"{self.max_alloc} characters and items in all"
            )

    def output_overflow(self) -> LimitExceeded:
        return LimitExceeded(
            f"the rendered prompt went past ChatTemplateLimits.max_output = {self.cap} characters"
        )


BUDGET: ContextVar[Budget] = ContextVar("llmkit_jinja_budget")
_current = BUDGET.get


# -- measuring text before it is made ----------------------------------------------------


def text_size(value: Any, budget: Budget) -> int:
    """At least the characters ``str(value)`` (or its JSON) makes.

    Shared references count as often as they would be printed; each distinct list or dict
    is walked once.  Raises :class:`LimitExceeded` as soon as the text would pass
    ``max_output``.
    """
    cap = budget.cap
    memo: dict[int, int] = {}

    def walk(node: Any) -> int:
        if isinstance(node, str):
            return len(node) + 2
        if isinstance(node, int):
            return node.bit_length() // 4 + 1
        if not isinstance(node, _CONTAINERS):
            return 4
        key = id(node)
        known = memo.get(key)
        if known is not None:
            return known
        memo[key] = 4  # a cycle prints as ``[...]``
        if not len(memo) & 1023:
            budget.poll()
        if isinstance(node, Namespace):
            node = node._Namespace__attrs
        children: Iterable[Any] = node
        extra = 2  # ", "
        if isinstance(node, dict):
            children = (part for pair in node.items() for part in pair)
            extra = 1  # ": " and ", " shared by a key and its value
        size = 2
        for child in children:
            size += walk(child) + extra
            if size > cap:
                budget.fits(size, "the text of a list or dict")
        memo[key] = size
        return size

    size = len(value) if isinstance(value, str) else walk(value)
    budget.fits(size, "the text of a list or dict")
    return size


def _check_text(value: Any, budget: Budget) -> None:
    """Refuse a list or dict whose text would be longer than ``max_output``."""
    if type(value) is not str and isinstance(value, _CONTAINERS):
        text_size(value, budget)


_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d*))?")
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]?")


def _number(digits: str | None) -> int:
    if not digits or digits == "*":
        return 0
    return int(digits) if len(digits) < 19 else 1 << 64


def _check_printf(budget: Budget, fmt: str, args: Any) -> None:
    """Refuse ``fmt % args`` when its widths and precisions alone pass ``max_output``."""
    size = len(fmt)
    star = False
    if "%" in fmt:
        for match in _PRINTF.finditer(fmt):
            width, precision = match.group(1), match.group(2)
            star = star or width == "*" or precision == "*"
            size += max(_number(width), _number(precision)) - len(match.group(0))
    for value in args if isinstance(args, tuple) else (args,):
        if star and isinstance(value, int):
            size += abs(value)
        _check_text(value, budget)
    budget.fits(size, "a %-formatted string")


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` with its widths, precisions and result bounded."""

    def __init__(self, env: jinja2.Environment, budget: Budget, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._budget = budget
        self._room = budget.cap

    def format_field(self, value: Any, format_spec: str) -> Any:
        match = _SPEC.match(format_spec)
        wanted = max(_number(match.group(1)), _number(match.group(2))) if match else 0
        if wanted > self._room:
            self._budget.fits(self._budget.cap - self._room + wanted, "a formatted string")
        _check_text(value, self._budget)
        result = super().format_field(value, format_spec)
        self._room -= len(result)
        if self._room < 0:
            self._budget.fits(self._budget.cap - self._room, "a formatted string")
        return result

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        _check_text(value, self._budget)  # before ``!r`` / ``!s`` turn it to text
        return super().convert_field(value, conversion)


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


def _bounded_format(
    env: jinja2.Environment, text: str, args: tuple[Any, ...], kwargs: dict[str, Any], name: str
) -> str:
    """``text.format(*args, **kwargs)`` (or ``format_map``) in the sandbox, bounded."""
    budget = _current()
    if name == "format_map":
        if kwargs:
            raise TypeError("format_map() takes no keyword arguments")
        if len(args) != 1:
            raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
        kwargs, args = args[0], ()
    formatter: _BoundedFormatter
    if isinstance(text, Markup):
        formatter = _BoundedEscapeFormatter(env, budget, escape=text.escape)
    else:
        formatter = _BoundedFormatter(env, budget)
    return type(text)(formatter.vformat(text, args, kwargs))


# -- string methods: the size of the result, predicted --------------------------------


def _int_arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _replaced_size(text: Any, old: Any, new: Any, count: Any) -> int:
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return len(text)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


#: The string methods whose result can be much longer than the string (checked first).
_SIZED_METHODS = frozenset(
    ["center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "translate"]
)


def _check_method(
    budget: Budget, owner: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Refuse a string method whose result would pass ``max_output``; returns the args."""
    if name in ("center", "ljust", "rjust", "zfill"):
        width = _int_arg(args, kwargs, 0, "width")
        if isinstance(width, int):
            budget.fits(max(width, len(owner)), f"the result of {name}()")
    elif name == "expandtabs":
        size = _int_arg(args, kwargs, 0, "tabsize")
        tab = "\t" if isinstance(owner, str) else b"\t"
        tabs = owner.count(tab)
        if isinstance(size, int) and tabs:
            budget.fits(len(owner) + tabs * max(size, 0), "the result of expandtabs()")
    elif name == "replace":
        size = _replaced_size(
            owner,
            _int_arg(args, kwargs, 0, "old"),
            _int_arg(args, kwargs, 1, "new"),
            _int_arg(args, kwargs, 2, "count"),
        )
        budget.fits(size, "the result of replace()")
    elif name == "join" and len(args) == 1:
        items = list(args[0])
        size = len(owner) * max(len(items) - 1, 0)
        for item in items:
            size += len(item) if isinstance(item, str | bytes) else 0
        budget.fits(size, "the result of join()")
        return (items,)
    elif name == "translate" and args and isinstance(args[0], dict) and isinstance(owner, str):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
        budget.fits(len(owner) * max(longest, 1), "the result of translate()")
    return args


# -- filters ---------------------------------------------------------------------------

#: Filters that turn their value into text (a list or dict is measured first).
_TEXT_FILTERS = frozenset(
    [
        "capitalize",
        "center",
        "e",
        "escape",
        "forceescape",
        "indent",
        "lower",
        "pprint",
        "replace",
        "safe",
        "string",
        "striptags",
        "title",
        "trim",
        "truncate",
        "upper",
        "urlencode",
        "urlize",
        "wordcount",
        "wordwrap",
        "xmlattr",
    ]
)

_Check = Callable[[Budget, Any, tuple[Any, ...], dict[str, Any], Any], Any]


def _text(value: Any) -> str:
    """The text a filter makes of its value (lists and dicts were measured already)."""
    return value if isinstance(value, str) else str(value)


def _check_center(budget: Budget, value: Any, args: Any, kwargs: Any, first: Any) -> Any:
    width = _int_arg(args, kwargs, 0, "width")
    width = 80 if width is None else width
    if isinstance(width, int):
        budget.fits(max(width, len(_text(value))), "the result of center")
    return value


def _check_indent(budget: Budget, value: Any, args: Any, kwargs: Any, first: Any) -> Any:
    width = _int_arg(args, kwargs, 0, "width")
    width = 4 if width is None else width
    text = _text(value)
    per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    budget.fits(len(text) + (text.count("\n") + 1) * max(per_line, 0), "the result of indent")
    return value


def _check_wordwrap(budget: Budget, value: Any, args: Any, kwargs: Any, first: Any) -> Any:
    text = _text(value)
    width = _int_arg(args, kwargs, 0, "width")
    width = 79 if not isinstance(width, int) else width
    wrap = _int_arg(args, kwargs, 2, "wrapstring")
    newline = len(wrap) if isinstance(wrap, str) else len(first.newline_sequence)
    lines = 2 * len(text) // max(width, 1) + text.count("\n") + 2
    budget.fits(len(text) + lines * newline, "the result of wordwrap")
    return value


def _check_replace(budget: Budget, value: Any, args: Any, kwargs: Any, first: Any) -> Any:
    text = _text(value)
    size = _replaced_size(
        text,
        _int_arg(args, kwargs, 0, "old"),
        _int_arg(args, kwargs, 1, "new"),
        _int_arg(args, kwargs, 2, "count"),
    )
    budget.fits(size, "the result of replace")
    return value


def _check_join(budget: Budget, value: Any, args: Any, kwargs: Any, first: Any) -> Any:
    attribute = _int_arg(args, kwargs, 1, "attribute")
    items = list(value)
    if attribute is not None:
        items = list(map(make_attrgetter(first.environment, attribute), items))
    separator = _int_arg(args, kwargs, 0, "d")
    _check_text(separator, budget)
    size = len(_text("" if separator is None else separator)) * max(len(items) - 1, 0)
    for item in items:
        size += len(item) if isinstance(item, str) else text_size(item, budget)
        if size > budget.cap:
            budget.fits(size, "the result of join")
    budget.fits(size, "the result of join")
    return items if attribute is None else _Joined(items)


class _Joined(list[Any]):
    """Items already looked up by ``attribute`` (the join filter is then told ``None``)."""


def _check_format(budget: Budget, value: Any, args: Any, kwargs: Any, first: Any) -> Any:
    _check_printf(budget, _text(value), kwargs or args)
    return value


def _check_batch(budget: Budget, value: Any, args: Any, kwargs: Any, first: Any) -> Any:
    count = _int_arg(args, kwargs, 0, "linecount")
    if _int_arg(args, kwargs, 1, "fill_with") is not None and isinstance(count, int):
        budget.fits(count, "a batch")
    return value


def _check_slice(budget: Budget, value: Any, args: Any, kwargs: Any, first: Any) -> Any:
    count = _int_arg(args, kwargs, 0, "slices")
    if isinstance(count, int) and count > 0:
        budget.tick(count)
    return value


_FILTER_CHECKS: dict[str, _Check] = {
    "center": _check_center,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "replace": _check_replace,
    "join": _check_join,
    "format": _check_format,
    "batch": _check_batch,
    "slice": _check_slice,
}


@jinja2.pass_environment
def _bounded_sum(
    environment: jinja2.Environment,
    iterable: Iterable[Any],
    attribute: str | int | None = None,
    start: Any = 0,
) -> Any:
    """jinja2's ``sum``; lists and tuples are joined in linear time, within ``max_output``."""
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    if isinstance(start, list | tuple):
        items = list(iterable)
        kind = type(start)
        if all(type(item) is kind for item in items):
            size = len(start) + sum(len(item) for item in items)
            _current().fits(size, "the result of sum")
            return kind(item for part in (start, *items) for item in part)
        iterable = items
    return sum(iterable, start)


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` counted as a step, its value checked before and its result after."""
    offset = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    check = _FILTER_CHECKS.get(name)
    measure = name in _TEXT_FILTERS

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = _current()
        budget.steps = steps = budget.steps + 1
        if steps >= budget.next_poll:
            budget.tick(0)
        value: Any = None
        if len(args) > offset:
            value = args[offset]
            if measure and type(value) is not str and isinstance(value, _CONTAINERS):
                text_size(value, budget)
            if check is not None:
                first = args[0] if offset else None
                new = check(budget, value, args[offset + 1 :], kwargs, first)
                if new is not value:
                    if type(new) is _Joined:
                        kwargs = {**kwargs, "attribute": None}
                        args = args[: offset + 2]
                    value = new
                    args = (*args[:offset], new, *args[offset + 1 :])
        result = func(*args, **kwargs)
        if result is not value and isinstance(result, _SIZED):
            budget.charge(len(result), f"the result of the {name} filter")
        return result

    guarded.llmkit_guarded = True  # type: ignore[attr-defined]
    return guarded


# -- loops and range -------------------------------------------------------------------


class CountedRange(Sequence[int]):
    """``range(...)`` in a template: at most ``max_range`` items, charged when iterated."""

    __slots__ = ("_range",)

    def __init__(self, rng: range) -> None:
        self._range = rng

    def __len__(self) -> int:
        return len(self._range)

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> CountedRange: ...

    def __getitem__(self, index: int | slice) -> int | CountedRange:
        if isinstance(index, slice):
            return CountedRange(self._range[index])
        return self._range[index]

    def __iter__(self) -> Iterator[int]:
        _current().tick(len(self._range))
        return iter(self._range)

    def __reversed__(self) -> Iterator[int]:
        _current().tick(len(self._range))
        return reversed(self._range)

    def __contains__(self, value: object) -> bool:
        return value in self._range

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CountedRange):
            return self._range == other._range
        return isinstance(other, range) and self._range == other

    def __hash__(self) -> int:
        return hash(self._range)

    def __repr__(self) -> str:
        return repr(self._range)


def _count_each(budget: Budget, iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        budget.tick()
        yield item


def _loop_items(value: Any) -> Any:
    """What a ``{% for %}`` loop iterates: ``value``, with its length charged as steps."""
    budget = _current()
    if type(value) is CountedRange:
        value = value._range
    try:
        count = len(value)
    except TypeError:
        return _count_each(budget, value)
    budget.tick(count)
    return value


@pass_context
def _loop_filter(context: Context, value: Any) -> Any:
    return _loop_items(value)


@pass_eval_context
def _concat_filter(eval_ctx: nodes.EvalContext, parts: tuple[Any, ...]) -> str:
    """``a ~ b ~ c``: jinja2's ``str_join`` (``markup_join`` when escaping), bounded."""
    budget = _current()
    budget.op()
    size = 0
    for part in parts:
        if isinstance(part, str):
            size += len(part)
        else:
            _check_text(part, budget)
    budget.fits(size, "a string joined with ~")
    result: str = markup_join(parts) if eval_ctx.autoescape else str_join(parts)
    budget.charge(len(result), "a string joined with ~")
    return result


def _add(budget: Budget, left: Any, right: Any) -> Any:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        budget.charge(len(left) + len(right), "the result of +")
        if isinstance(left, Markup) or isinstance(right, Markup):
            escaped: str = operator.add(left, right)
            budget.fits(len(escaped), "the result of +")
            return escaped
    return operator.add(left, right)


def _add_filter(parts: tuple[Any, ...]) -> Any:
    """``a + b + c``: the same sums left to right, bounded; plain strings join at once."""
    budget = _current()
    budget.ops = ops = budget.ops + 1
    if not ops & 15:
        budget.poll()
    size = 0
    for part in parts:
        if type(part) is not str:
            break
        size += len(part)
    else:
        budget.charge(size, "the result of +")
        return "".join(parts)
    result = parts[0]
    for part in parts[1:]:
        result = _add(budget, result, part)
    return result


def _sliced_filter(value: Any) -> Any:
    """``x[a:b]``: the copy a slice made is charged (it is at most as long as ``x``)."""
    if isinstance(value, _SIZED):
        budget = _current()
        budget.op()
        budget.charge(len(value), "a slice")
    return value


_LOOP_FILTER = "llmkit:loop"  # not a name a template can write
_CONCAT_FILTER = "llmkit:concat"
_ADD_FILTER = "llmkit:add"
_SLICED_FILTER = "llmkit:sliced"


class _Instrument(NodeTransformer):
    """Route loops, ``+``, ``~`` and slices through the bounded filters above."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _LOOP_FILTER, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Add(self, node: nodes.Add) -> nodes.Node:
        # (a + b) + c: the left spine becomes one call, in order; a + (b + c) stays two.
        spine: list[nodes.Expr] = []
        left: nodes.Expr = node
        while isinstance(left, nodes.Add):
            spine.append(left.right)
            left = left.left
        parts = [self.visit(part) for part in (left, *reversed(spine))]
        items = nodes.Tuple(parts, "load", lineno=node.lineno)
        return nodes.Filter(items, _ADD_FILTER, [], [], None, None, lineno=node.lineno)

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        self.generic_visit(node)
        if not isinstance(node.arg, nodes.Slice):
            return node
        return nodes.Filter(node, _SLICED_FILTER, [], [], None, None, lineno=node.lineno)

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        parts = nodes.Tuple(node.nodes, "load", lineno=node.lineno)
        return nodes.Filter(parts, _CONCAT_FILTER, [], [], None, None, lineno=node.lineno)


def _finalize(value: Any) -> Any:
    """What ``{{ value }}`` prints: a list or dict is measured before it is turned to text."""
    if type(value) is not str and isinstance(value, _CONTAINERS):
        text_size(value, _current())
    return value


# -- the environment -------------------------------------------------------------------


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox, with :class:`ChatTemplateLimits` enforced while rendering.

    Compile with :meth:`compile_bounded`, render with :meth:`render_bounded`.
    """

    # ``+`` is rewritten into one bounded call per chain (:class:`_Instrument`).
    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, limits: ChatTemplateLimits, **options: Any) -> None:
        super().__init__(finalize=_finalize, **options)
        self.limits = limits
        self.globals.pop("lipsum", None)  # builds any amount of text, and no template uses it
        self.globals["range"] = self._range
        self.filters["sum"] = _bounded_sum

    def _range(self, *args: int) -> CountedRange:
        rng = range(*args)
        if len(rng) > self.limits.max_range:
            raise LimitExceeded(
                f"range() of {len(rng)} items is past ChatTemplateLimits.max_range = "
                f"{self.limits.max_range}"
            )
        return CountedRange(rng)

    # compile and render

    def compile_bounded(self, source: str) -> jinja2.Template:
        """Parse ``source``, route its loops and ``~`` through the bounds, compile it.

        Constant folding at compile time runs under a budget of its own, so a filter with
        constant arguments cannot build a huge value while the template is compiled.
        """
        for name, func in list(self.filters.items()):
            if not getattr(func, "llmkit_guarded", False):
                self.filters[name] = _guard_filter(name, func)
        self.filters[_LOOP_FILTER] = _loop_filter
        self.filters[_CONCAT_FILTER] = _concat_filter
        self.filters[_ADD_FILTER] = _add_filter
        self.filters[_SLICED_FILTER] = _sliced_filter
        token = BUDGET.set(Budget(self.limits))
        try:
            tree = _Instrument().visit(self.parse(source))
            return self.from_string(tree)
        finally:
            BUDGET.reset(token)

    def render_bounded(self, template: jinja2.Template, variables: dict[str, Any]) -> str:
        """Render ``template`` with ``variables``, within the limits."""
        budget = Budget(self.limits)
        token = BUDGET.set(budget)
        chunks = cast(Generator[str, None, None], template.generate(variables))
        try:
            parts: list[str] = []
            size = 0
            cap = budget.cap
            for chunk in chunks:
                size += len(chunk)
                if size > cap:
                    raise budget.output_overflow()
                parts.append(chunk)
            return "".join(parts)
        finally:
            chunks.close()
            BUDGET.reset(token)

    # the sandbox's hooks

    def concat(self, parts: Iterable[str]) -> str:
        """The text a block, macro or ``{% set %}...{% endset %}`` collected, bounded."""
        if type(parts) is not list:
            parts = list(parts)
        budget = _current()
        budget.charge(sum(map(len, parts)), "the text of a block or macro")
        return "".join(parts)

    def call(
        __self,
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        budget = _current()
        budget.steps = steps = budget.steps + 1
        if steps >= budget.next_poll:
            budget.tick(0)
        kind = type(__obj)
        if kind is BuiltinMethodType or kind is MethodType:
            owner = __obj.__self__
            if isinstance(owner, str | bytes):  # Markup's methods are Python methods
                return __self._call_text_method(budget, __context, __obj, owner, args, kwargs)
            if kind is BuiltinMethodType:
                # A method of a built-in type (dict.get, list.index ...) can carry none of
                # the markers is_safe_callable looks for, nor want the context: call it.
                if kwargs:
                    _drop_scope_vars(kwargs)
                try:
                    result = __obj(*args, **kwargs)
                except StopIteration:
                    return __self.undefined(
                        "value was undefined because a callable raised a StopIteration exception"
                    )
            else:
                result = super().call(__context, __obj, *args, **kwargs)
            if __obj.__name__ == "copy" and isinstance(result, _SIZED):
                budget.charge(len(result), "the result of copy()")
            return result
        if kind is LoopContext and args:
            args = (_loop_items(args[0]), *args[1:])  # a recursive loop's next level
        result = super().call(__context, __obj, *args, **kwargs)
        if kind is not Macro and kind is not LoopContext and isinstance(result, _SIZED):
            budget.charge(len(result))
        return result

    def _call_text_method(
        self,
        budget: Budget,
        context: Context,
        method: Any,
        owner: str | bytes,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """A ``str`` (or ``bytes``, ``Markup``) method: its result's size checked first."""
        name = method.__name__
        direct = type(method) is BuiltinMethodType  # str's own: safe, never StopIteration
        if kwargs and (direct or name in ("format", "format_map")):
            _drop_scope_vars(kwargs)
        if name in _SIZED_METHODS:
            args = _check_method(budget, owner, name, args, kwargs)
        if name in ("format", "format_map") and isinstance(owner, str):
            result: Any = _bounded_format(self, owner, args, kwargs, name)
        elif direct:
            result = method(*args, **kwargs)
        else:
            result = super().call(context, method, *args, **kwargs)
        if result is not owner and isinstance(result, _SIZED):
            budget.charge(len(result), f"the result of {name}()")
        return result

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = _current()
        budget.op()
        if operator == "+":
            return _add(budget, left, right)
        if operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                _check_bits(left.bit_length() + right.bit_length())
            elif isinstance(left, _SEQUENCES) and isinstance(right, int):
                budget.charge(len(left) * max(right, 0), "the result of *")
            elif isinstance(right, _SEQUENCES) and isinstance(left, int):
                budget.charge(len(right) * max(left, 0), "the result of *")
            return left * right
        if operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                _check_bits(left.bit_length() * right)
            return left**right
        if operator == "%" and isinstance(left, str | bytes):
            if isinstance(left, str):
                _check_printf(budget, left, right)
            result = left % right
            budget.charge(len(result), "a %-formatted string")
            return result
        return self.binop_table[operator](left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, MethodType | BuiltinMethodType) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        name = value.__name__

        def bounded(*args: Any, **kwargs: Any) -> str:
            return _bounded_format(self, owner, args, kwargs, name)

        return functools.update_wrapper(bounded, value)


def _drop_scope_vars(kwargs: dict[str, Any]) -> None:
    """Remove what jinja2 passes to ``call`` for ``pass_context`` callables (Context.call)."""
    kwargs.pop("_loop_vars", None)
    kwargs.pop("_block_vars", None)


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise LimitExceeded(f"an integer would have more than {MAX_INT_BITS} bits")


def to_json(value: Any, indent: int | str | None = None, ensure_ascii: bool = True) -> str:
    """``json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)``, within ``max_output``.

    Shared references (and indents) cannot blow it up: the value is measured first, or
    with an indent, the text is counted as the encoder writes it.
    """
    budget = _current()
    if indent is None:
        # Measured first, then written by the C encoder (streaming it is slower).
        text_size(value, budget)
        text = json.dumps(value, ensure_ascii=ensure_ascii)
        budget.charge(len(text), "a JSON text")
        return text
    step = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    budget.fits(step, "a JSON indent")
    # Python's encoder writes indented JSON piece by piece anyway: count as it goes.
    cap = budget.cap
    mark = min(cap, _POLL_CHARS)
    size = 0
    chunks: list[str] = []
    append = chunks.append
    for chunk in json.JSONEncoder(ensure_ascii=ensure_ascii, indent=indent).iterencode(value):
        size += len(chunk)
        if size > mark:
            budget.fits(size, "a JSON text")
            budget.poll()
            mark = min(cap, size + _POLL_CHARS)
        append(chunk)
    budget.charge(size, "a JSON text")
    return "".join(chunks)


_POLL_CHARS = 1 << 16  # the deadline is checked every 64 KiB of JSON


def check_strftime(fmt: str) -> None:
    """Refuse a ``strftime`` format whose text could pass ``max_output`` (16 per character)."""
    _current().fits(len(fmt) * 16, "the result of strftime_now")
