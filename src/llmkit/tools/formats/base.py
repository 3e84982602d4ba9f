"""What every tool-call format is made of (pure).

A format is a set of :class:`Opener` s. An opener is the markup that starts a block of
calls (``<tool_call>``, ``[TOOL_CALLS]``, ``Action:`` ````json`` ``[``, or, for
position-bound formats, nothing but the payload's own bracket at the start of the
output), the closing markup, and the kind of payload between them. When the parser
meets an opener it hands the text to a *block* of that payload kind
(:class:`BlockBase` subclasses) until the block is done; the block reports text,
calls and problems to its :class:`BlockHost` (the parser).

A block's accounting rule: every character it consumes goes into exactly one call's
``raw`` or into text, so that the output can be reassembled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

from llmkit.tools.events import ProblemKind
from llmkit.tools.tags import NEED_MORE, TagFinder, match_literal

__all__ = [
    "BlockBase",
    "BlockHost",
    "CallParts",
    "CallShape",
    "Failure",
    "Opener",
    "PayloadKind",
    "Stops",
    "Stream",
    "ToolCallFormat",
    "decode_arguments",
    "decode_json",
    "interpret_call",
]

PayloadKind = Literal["json", "python", "mistral"]

_BRACKETS = frozenset("[]{}()")
_BLANK = re.compile(r"[ \t\n\r]+")


@dataclass(frozen=True, slots=True)
class CallShape:
    """Where a call object keeps its parts: the first key present wins."""

    name_keys: tuple[str, ...] = ("name",)
    args_keys: tuple[str, ...] = ("arguments", "parameters")
    id_keys: tuple[str, ...] = ("id",)


@dataclass(frozen=True, slots=True)
class Opener:
    """One way a block of calls opens and closes.

    ``pieces`` are literal texts matched in order with any whitespace between them; the
    first piece is searched for anywhere in the output, unless ``position_bound``, when
    the opener counts only at the start of the output (after whitespace) and may have no
    pieces at all (the payload's own ``{`` or ``[`` opens it). When the last piece is
    ``[`` the block's calls are the elements of that list, and ``close`` starts with
    ``]``. ``close`` is the closing markup, also matched piece by piece.

    ``prompt_tag`` is for a position-bound opener whose template's prompt ends with the
    tag (xLAM's ``### Response:``): the output starts inside the block, but a model may
    write the tag again, so the block also opens anywhere in the output after the tag's
    pieces (see :attr:`after_tag`), as Ollama finds it.
    """

    pieces: tuple[str, ...]
    close: tuple[str, ...] = ()
    payload: PayloadKind = "json"
    position_bound: bool = False
    shape: CallShape = field(default_factory=CallShape)
    prompt_tag: tuple[str, ...] = ()

    @property
    def after_tag(self) -> Opener | None:
        """The opener of the same block written after ``prompt_tag``, searched for
        anywhere in the output (None without a prompt tag)."""
        if not self.prompt_tag:
            return None
        return Opener(self.prompt_tag + self.pieces, self.close, self.payload, shape=self.shape)

    @property
    def elements(self) -> bool:
        """Whether the opener itself opens the list of calls."""
        return bool(self.pieces) and self.pieces[-1] == "["

    @property
    def close_tag(self) -> str | None:
        """The closing tag a failed block skips to: the last closing piece, when it is a
        real tag rather than a bracket."""
        if self.close and not (len(self.close[-1]) == 1 and self.close[-1] in _BRACKETS):
            return self.close[-1]
        return None


@dataclass(frozen=True, slots=True)
class ToolCallFormat:
    """A tool-call format: a name (for messages) and its openers."""

    name: str
    openers: tuple[Opener, ...]


@dataclass(frozen=True, slots=True, init=False)
class CallParts:
    """A call read from a payload."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None

    def __init__(self, name: str, arguments: dict[str, Any], id: str | None = None) -> None:
        # One per call: the slots are set directly (cheaper than a frozen dataclass's
        # object.__setattr__ calls).
        set_name, set_arguments, set_id = _PARTS_SETTERS
        set_name(self, name)
        set_arguments(self, arguments)
        set_id(self, id)


_PARTS_SETTERS = tuple(getattr(CallParts, name).__set__ for name in ("name", "arguments", "id"))


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a payload is not a call."""

    kind: ProblemKind
    reason: str


class BlockHost(Protocol):
    """What a block reports to (the parser)."""

    @property
    def opener_finder(self) -> TagFinder:
        """Finds the first pieces of the format's openers."""
        ...

    def text(self, text: str) -> None:
        """Answer text."""

    def start_call(self, name: str | None) -> None:
        """A call is being read (once per call; repeated calls are ignored)."""

    def arguments_delta(self, text: str) -> None:
        """A piece of the current call's arguments JSON."""

    def complete_call(self, parts: CallParts, raw: str) -> None:
        """The current call is whole; ``raw`` is its span of the output."""

    def fail(self, failure: Failure, raw: str, *, silent: bool = False) -> None:
        """``raw`` was an attempt that failed: it becomes text (with a problem unless
        ``silent``)."""


_DECODER = json.JSONDecoder(strict=False)


def decode_json(text: str) -> Any | Failure:
    """``json.loads`` that never raises: control characters are allowed in strings
    (models write raw newlines in code arguments)."""
    try:
        return _DECODER.decode(text)
    except RecursionError:
        return Failure("invalid_json", "nested too deeply")
    except ValueError as error:
        return Failure("invalid_json", f"not JSON: {error}")


def decode_arguments(text: str) -> dict[str, Any] | Failure:
    """A JSON text that must be an arguments object."""
    decoded = decode_json(text)
    if isinstance(decoded, Failure | dict):
        return decoded
    return Failure("invalid_arguments", f"the arguments are a {type(decoded).__name__}")


def _arguments(value: Any, key: str) -> dict[str, Any] | Failure:
    if value is None:
        return {}
    if isinstance(value, str):
        if not value.strip():
            return {}
        decoded = decode_json(value)
        if isinstance(decoded, Failure):
            return Failure("invalid_arguments", f"{key!r} is a string that is not JSON")
        value = decoded
    if isinstance(value, dict):
        return value
    return Failure(
        "invalid_arguments",
        f"{key!r} must be an object or a string holding one, not {type(value).__name__}",
    )


def interpret_call(value: Any, shape: CallShape) -> CallParts | Failure:
    """The call a decoded JSON value stands for, or why it is none."""
    if not isinstance(value, dict):
        return Failure("not_a_call", f"a call must be a JSON object, not {type(value).__name__}")
    name_key = shape.name_keys[0]
    for key in shape.name_keys:
        if key in value:
            name_key = key
            break
    name = value.get(name_key)
    if not isinstance(name, str) or not name:
        return Failure("missing_name", f"the call has no string {name_key!r}")
    arguments: dict[str, Any] | Failure = {}
    for key in shape.args_keys:
        if key in value:
            arguments = _arguments(value[key], key)
            break
    if isinstance(arguments, Failure):
        return arguments
    call_id = None
    for key in shape.id_keys:
        found = value.get(key)
        if isinstance(found, str) and found:
            call_id = found
            break
    return CallParts(name, arguments, call_id)


class Stops(Protocol):
    """A scanner's flag: the last piece brought news (see
    :class:`~llmkit.tools.scan.JsonScanner`)."""

    stop: bool


Stream: TypeAlias = "tuple[Callable[[tuple[str, int]], int], Stops, Callable[[str], None], bool]"
"""How a block lets the parser feed its scanner directly while pieces need nothing else:
the scanner's ``send``, the scanner, where the block keeps the value's text, and whether
each piece is also a piece of the call's arguments (an arguments delta). While the
scanner's ``stop`` stays unset a piece is that and nothing more; once set, the parser
hands the piece back to the block's ``resume``."""


# The states of a block.
BEFORE, VALUE, AFTER, SKIP = range(4)


@dataclass(slots=True)
class Pending:
    """A call whose value is complete, waiting to learn whether closing markup follows."""

    parts: CallParts
    raw: list[str]


class BlockBase:
    """The part of a block every payload shares: separators and gaps, deferring the last
    call until its closing markup is known, closing pieces, and failures (which skip to
    a real closing tag, or to the next opener, when the opener has one).

    Subclasses read values in :meth:`_value` and decide in :meth:`_before` and
    :meth:`_after_char` what a character between values means.
    """

    def __init__(self, host: BlockHost, opener: Opener, tag_raw: str) -> None:
        self.done = False
        self._host = host
        self._opener = opener
        self._state = BEFORE
        self._gap: list[str] = [tag_raw] if tag_raw else []
        self._value_prefix: list[str] = []
        self._value: list[str] = []
        self._value_started = False
        self._pending: Pending | None = None
        self._calls = 0
        self._closed = 0  # closing pieces matched so far
        self._skipped: list[str] = []
        self._failure: Failure | None = None
        self._skip_finder: TagFinder | None = None

    # -- driving ----------------------------------------------------------------------

    def feed(self, text: str, pos: int) -> int:
        """Consume ``text[pos:]`` as far as it can be decided; returns where it stopped.
        The text from there on must be fed again, with more after it."""
        n = len(text)
        if self._state == VALUE:  # the common case, kept short: a piece inside a value
            pos = self._value_feed(text, pos)
            if pos == n or self.done:
                return pos
        while pos < n and not self.done:
            state = self._state
            if state == VALUE:
                new = self._value_feed(text, pos)
                if new == pos and self._state == VALUE and not self.done:
                    break  # the scanner waits for more text
                pos = new
            elif state == SKIP:
                new = self._skip(text, pos)
                if new == pos and not self.done:
                    break
                pos = new
            else:
                blank = _BLANK.match(text, pos)
                j = blank.end() if blank is not None else pos
                if j > pos:
                    self._gap.append(text[pos:j])
                    pos = j
                    if pos == n:
                        break
                new = self._before(text, pos) if state == BEFORE else self._after(text, pos)
                if new == NEED_MORE:
                    break
                pos = new
        return pos

    def finish(self, text: str, pos: int) -> None:
        """The output ended; ``text[pos:]`` is what was held back."""
        rest = text[pos:]
        if self.done:
            if rest:
                self._host.text(rest)
            return
        if self._state == SKIP:
            self._skipped.append(rest)
            self._report_failure()
        elif self._state == VALUE or (self._state == BEFORE and not self._calls):
            (self._value if self._value_started else self._gap).append(rest)
            self._fail(Failure("truncated", "the output ended inside a tool call"), None, None)
        else:
            self._gap.append(rest)
            self._end()

    def stream(self) -> Stream | None:
        """The short way for the next piece, when the block is in a state that has one
        (see :data:`Stream`); it clears the scanner's ``stop``."""
        return None

    def resume(self, text: str, pos: int, new: int) -> int:
        """Go on with a piece whose ``text[pos:new]`` the scanner of :meth:`stream` has
        just read (and whose ``stop`` it set); returns where the block stopped, as
        :meth:`feed` does."""
        raise NotImplementedError

    # -- hooks ------------------------------------------------------------------------

    def _value_feed(self, text: str, pos: int) -> int:
        raise NotImplementedError

    def _before(self, text: str, pos: int) -> int:
        """At a non-blank character where a value may start."""
        raise NotImplementedError

    def _after_char(self, text: str, pos: int) -> int | None:
        """At a non-blank character after a value: the new position if the subclass
        handles it (a separator, another value), else ``None``."""
        return None

    def _silent(self) -> bool:
        """Whether a failure now is not worth a problem (see position-bound openers)."""
        return False

    # -- shared steps -----------------------------------------------------------------

    def _start_value(self) -> None:
        """A value starts: the deferred call is emitted, the gap becomes its prefix."""
        if self._pending is not None:
            self._emit_pending()
        self._value_prefix = self._gap
        self._gap = []
        self._value = []
        self._value_started = True
        self._state = VALUE

    def _value_complete(self, parts: CallParts, raw: str) -> None:
        self._pending = Pending(parts, [*self._value_prefix, raw])
        self._value_prefix = []
        self._value = []
        self._value_started = False
        self._calls += 1
        self._state = AFTER

    def _emit_pending(self) -> None:
        pending = self._pending
        if pending is not None:
            self._pending = None
            self._host.complete_call(pending.parts, "".join(pending.raw))

    def _after(self, text: str, pos: int) -> int:
        handled = self._after_char(text, pos) if not self._closed else None
        if handled is not None:
            return handled
        close = self._opener.close
        if self._closed < len(close):
            found = match_literal(text, pos, close[self._closed])
            if found == NEED_MORE:
                return NEED_MORE
            if found:
                end = pos + len(close[self._closed])
                self._attach(text[pos:end])
                self._closed += 1
                if self._closed == len(close):
                    self._emit_pending()
                    self.done = True
                return end
        self._end()
        return pos

    def _attach(self, markup: str) -> None:
        """Closing markup (and the gap before it) belongs to the deferred call."""
        assert self._pending is not None
        self._pending.raw.extend(self._gap)
        self._pending.raw.append(markup)
        self._gap = []

    def _end(self) -> None:
        """The block ends without (more) closing markup: the last call is valid, the gap
        after it is text."""
        self._emit_pending()
        gap = "".join(self._gap)
        self._gap = []
        if gap:
            self._host.text(gap)
        self.done = True

    def _fail(self, failure: Failure, text: str | None, pos: int | None) -> int:
        """The attempt failed at ``pos`` (not consumed). With a real closing tag the failed
        text runs to it (or to the next opener); else it ends here."""
        if self._pending is not None:
            self._emit_pending()
        region = [*self._value_prefix, *self._value] if self._value_started else self._gap
        self._value_prefix, self._value, self._gap = [], [], []
        self._value_started = False
        self._skipped = region
        self._failure = failure
        silent = self._silent()
        if self._opener.close_tag is not None and not silent and text is not None:
            self._state = SKIP
            return pos if pos is not None else len(text)
        self._report_failure(silent=silent)
        return pos if pos is not None else 0

    def _report_failure(self, *, silent: bool = False) -> None:
        assert self._failure is not None
        self._host.fail(self._failure, "".join(self._skipped), silent=silent)
        self._skipped = []
        self.done = True

    def _skip(self, text: str, pos: int) -> int:
        tag = self._opener.close_tag
        assert tag is not None
        if self._skip_finder is None:
            self._skip_finder = TagFinder([tag, *self._host.opener_finder.tags])
        found = self._skip_finder.find(text, pos)
        if found is None:
            hold = self._skip_finder.holdback(text, pos)
            self._skipped.append(text[pos:hold])
            return hold
        at, what = found
        end = at + len(what) if what == tag else at
        self._skipped.append(text[pos:end])
        self._report_failure()
        return end
