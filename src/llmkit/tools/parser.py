"""The streaming tool-call parser: a model's raw output in, text and calls out (pure).

>>> from llmkit.tools import ToolCallParser
>>> parser = ToolCallParser.for_format("hermes", ["get_weather"])
>>> events = parser.feed('Let me check.<tool_call>{"name": "get_weather", "arguments": {"ci')
>>> events += parser.feed('ty": "Paris"}}</tool_call>')
>>> events += parser.finish()
>>> [type(e).__name__ for e in events]  # doctest: +NORMALIZE_WHITESPACE
['TextChunk', 'ToolCallStart', 'ToolCallArgumentsDelta', 'ToolCallArgumentsDelta',
 'ToolCallComplete']
>>> events[-1].name, events[-1].arguments
('get_weather', {'city': 'Paris'})

One parser per response. It reads text (``str``: decode the model's bytes first, e.g.
with :class:`llmkit.streaming.text.Utf8Pieces`, so that a character split across
tokens arrives whole) and yields :mod:`llmkit.tools.events`. Chunking does not matter:
any split of the same output yields the same text, calls and problems. Nothing is lost:
text that turns out not to be a call comes back as text, with a ``ParseProblem``.
The work is linear in the output: text is searched for tags with one regular
expression, calls are scanned once by :mod:`llmkit.tools.scan`, and only undecided
text (a possible tag cut by the chunking) is held back.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from llmkit.errors import InvalidRequestError
from llmkit.tools.events import (
    ParseProblem,
    ParserEvent,
    TextChunk,
    ThinkingChunk,
    ToolCallArgumentsDelta,
    ToolCallComplete,
    ToolCallStart,
)
from llmkit.tools.formats import FORMATS, Block, make_block
from llmkit.tools.formats.base import CallParts, Failure, Opener, Stops, ToolCallFormat
from llmkit.tools.formats.template import derive_format, fallback_format
from llmkit.tools.tags import NEED_MORE, TagFinder, match_pieces
from llmkit.tools.thinking import ThinkingSplitter

if TYPE_CHECKING:
    from llmkit.template import Template
    from llmkit.types.messages import ToolCall

__all__ = [
    "FORMAT_NAMES",
    "ParsedOutput",
    "ToolCallParser",
    "format_for_template",
    "read_calls",
    "tool_names",
]

FORMAT_NAMES = tuple(sorted(FORMATS))
"""The names :meth:`ToolCallParser.for_format` knows."""

_WS = re.compile(r"[ \t\n\r]+")
_NEVER = re.compile(r"(?!)")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_ID_PAIRS = tuple(a + b for a in _ID_ALPHABET for b in _ID_ALPHABET)
_RANDOM = random.Random()  # seeded from the OS; ids need to differ, not to be secret
_ENCODER = json.JSONEncoder(ensure_ascii=False)
# Events built on the short ways without a Python ``__init__``: the slots are set directly.
_new = object.__new__
_set_text = TextChunk.__dict__["text"].__set__
_set_delta_index = ToolCallArgumentsDelta.__dict__["index"].__set__
_set_delta_text = ToolCallArgumentsDelta.__dict__["text"].__set__


def _ignore(text: str) -> None:
    del text


def _random_id(index: int) -> str:
    """Ollama's call ids: ``call_`` and 8 random lowercase letters or digits."""
    del index
    number = _RANDOM.getrandbits(64) % 36**8  # uniform to within 2e-7, and quicker than randrange
    high, low = divmod(number, 36**4)
    pairs = _ID_PAIRS
    return f"call_{pairs[high // 1296]}{pairs[high % 1296]}{pairs[low // 1296]}{pairs[low % 1296]}"


def tool_names(tools: Iterable[Any] | None) -> frozenset[str] | None:
    """The names of the offered tools: :class:`~llmkit.types.Tool` objects, dicts in
    Ollama's tool shape (or bare function dicts), objects with a ``name``, or names."""
    if tools is None:
        return None
    names: set[str] = set()
    for number, tool in enumerate(tools):
        name: Any = tool
        if isinstance(tool, Mapping):
            function = tool.get("function", tool)
            name = function.get("name") if isinstance(function, Mapping) else None
        elif not isinstance(tool, str):
            function = getattr(tool, "function", tool)
            name = getattr(function, "name", None)
        if not isinstance(name, str) or not name:
            raise InvalidRequestError(
                f"tools[{number}] has no function name", fields=[f"tools.{number}.function.name"]
            )
        names.add(name)
    return frozenset(names)


class ToolCallParser:
    """Reads one response's raw output, chunk by chunk, into text and tool calls.

    Make one with :meth:`for_format` (a named format) or :meth:`for_template` (the
    format an Ollama template renders), then call :meth:`feed` for each chunk and
    :meth:`finish` at the end. ``tools`` are the offered tools (only their names are
    used): a call to any other name is flagged ``unknown``; ``None`` accepts every name.
    ``thinking`` is a pair of tags around reasoning at the start of the output;
    ``id_factory(index)`` makes ids for calls the model gave none.
    """

    def __init__(
        self,
        fmt: ToolCallFormat,
        tools: Iterable[Any] | None = None,
        *,
        thinking: tuple[str, str] | None = None,
        start_in_thinking: bool = False,
        id_factory: Callable[[int], str] | None = None,
    ) -> None:
        self.format = fmt
        self._names = tool_names(tools)
        self._bound = [opener for opener in fmt.openers if opener.position_bound]
        self._by_first: dict[str, list[Opener]] = {}
        # A position-bound opener whose tag ends the prompt also opens after that tag
        # written anywhere in the output.
        anywhere = [opener.after_tag for opener in self._bound]
        for opener in [*fmt.openers, *(opener for opener in anywhere if opener is not None)]:
            if opener.pieces and not opener.position_bound:
                self._by_first.setdefault(opener.pieces[0], []).append(opener)
        self._finder = TagFinder(self._by_first)
        # Tags whose cut start can be held back a short way: possible when no tag holds
        # another, so that a proper prefix of one tag never contains a whole tag. The
        # opener a tag completes, when it is the only one with that first piece and has
        # no other piece.
        tags = self._finder.tags
        holdable = not any(a != b and a in b for a in tags for b in tags)
        prefixes: dict[str, list[str]] = {}
        for tag in tags if holdable else ():
            for k in range(1, len(tag)):
                prefixes.setdefault(tag[:k], []).append(tag)
        self._held_tags = {key: found[0] for key, found in prefixes.items() if len(found) == 1}
        self._completes: dict[str, Opener | None] = {
            tag: (openers[0] if len(openers) == 1 and openers[0].pieces == (tag,) else None)
            for tag, openers in self._by_first.items()
        }
        self._splitter = (
            ThinkingSplitter(*thinking, start_inside=start_in_thinking)
            if thinking and all(thinking)
            else None
        )
        self._make_id = id_factory or _random_id
        firsts = "".join(re.escape(char) for char in sorted({p[0] for p in self._by_first}))
        self._first_chars = (re.compile(f"[{firsts}]") if firsts else _NEVER).search
        self._buffer = ""
        self._block: Block | None = None
        self._at_start = bool(self._bound)
        # What the next piece can take a short way (see feed and _settle): a scanner to
        # feed directly, the block being read, plain text passing straight through, or
        # the rest of a tag whose start is held back.
        self._send: Callable[[tuple[str, int]], int] | None = None
        self._scanner: Stops | None = None
        self._append: Callable[[str], None] = _ignore
        self._deltas = False
        self._inside: Block | None = None
        self._plain = not self._at_start and self._splitter is None
        self._tag_rest: str | None = None
        self._tag = ""
        self._index = 0
        self._started = False
        self._delta_sent = False
        self._finished = False
        self._out: list[ParserEvent] = []

    @classmethod
    def for_format(
        cls,
        name: str,
        tools: Iterable[Any] | None = None,
        *,
        thinking: tuple[str, str] | None = None,
        start_in_thinking: bool = False,
        id_factory: Callable[[int], str] | None = None,
    ) -> ToolCallParser:
        """A parser for a named format (see :data:`FORMAT_NAMES`)."""
        fmt = FORMATS.get(name)
        if fmt is None:
            raise InvalidRequestError(
                f"unknown tool-call format {name!r}; known formats: {', '.join(FORMAT_NAMES)}",
                fields=["format"],
            )
        return cls(
            fmt,
            tools,
            thinking=thinking,
            start_in_thinking=start_in_thinking,
            id_factory=id_factory,
        )

    @classmethod
    def for_template(
        cls,
        template: Template,
        tools: Iterable[Any] | None = None,
        *,
        thinking: bool = True,
        start_in_thinking: bool = False,
        id_factory: Callable[[int], str] | None = None,
    ) -> ToolCallParser:
        """A parser for the calls ``template`` renders, and its thinking tags (unless
        ``thinking`` is false). See :func:`format_for_template`. Pass
        ``start_in_thinking=True`` when the rendered prompt ends with the opening thinking
        tag, as Ollama does."""
        tags = template.thinking_tags if thinking else ("", "")
        return cls(
            format_for_template(template),
            tools,
            thinking=tags if all(tags) else None,
            start_in_thinking=start_in_thinking,
            id_factory=id_factory,
        )

    # -- the public interface ---------------------------------------------------------

    def feed(self, text: str) -> list[ParserEvent]:
        """The events that one more piece of output decides."""
        # The common cases first, kept short (see _settle for when each applies).
        send = self._send
        if send is not None and text.__class__ is str:  # straight to the block's scanner
            new = send((text, 0))
            scanner = self._scanner
            assert scanner is not None
            if scanner.stop:
                return self._resumed(text, new)
            if not text:
                return []
            self._append(text)
            if not self._deltas:
                return []
            delta = _new(ToolCallArgumentsDelta)
            _set_delta_index(delta, self._index)
            _set_delta_text(delta, text)
            return [delta]
        block = self._inside
        if block is not None:
            if text.__class__ is str:
                out = self._out = []
                if self._buffer:
                    text = self._buffer + text
                    self._buffer = ""
                pos = block.feed(text, 0)
                if block.done:
                    self._block = None
                    self._run(text, pos, final=False)
                    self._settle()
                elif pos != len(text):  # the block waits to see more of what starts there
                    self._buffer = text[pos:]
                else:  # still inside the block, nothing held back: maybe a short way now
                    stream = block.stream()
                    if stream is not None:
                        self._send, self._scanner, self._append, self._deltas = stream
                return out
        elif self._plain:
            if text.__class__ is str and self._first_chars(text) is None:
                if not text:
                    return []
                chunk = _new(TextChunk)
                _set_text(chunk, text)
                return [chunk]
        elif self._tag_rest is not None and text.__class__ is str:
            rest = self._tag_rest
            if len(text) < len(rest):
                if rest.startswith(text):  # more of the tag, still cut
                    self._buffer += text
                    self._tag_rest = rest[len(text) :]
                    return []
            elif text.startswith(rest):
                opener = self._completes.get(self._tag)
                if opener is not None:  # the tag is whole: its block starts
                    out = self._out = []
                    self._start_block(opener, self._tag)
                    self._run(self._buffer + text, len(self._tag), final=False)
                    self._settle()
                    return out
        if not isinstance(text, str):
            raise TypeError(
                "ToolCallParser.feed() takes str; decode bytes first "
                "(llmkit.streaming.text.Utf8Pieces keeps split characters whole)"
            )
        if self._finished:
            raise RuntimeError("this parser has finished; use a new one for each response")
        splitter = self._splitter
        if splitter is not None and splitter.passing_through:
            splitter = self._splitter = None
        out = self._out = []
        if splitter is None:
            self._content(text)
        else:
            for event in splitter.feed(text):
                if isinstance(event, TextChunk):
                    self._content(event.text)
                else:
                    out.append(event)
        self._settle()
        return out

    def _resumed(self, text: str, new: int) -> list[ParserEvent]:
        """A piece fed straight to the scanner brought news: the block takes it on."""
        block = self._block
        assert block is not None
        out = self._out = []
        pos = block.resume(text, 0, new)
        if block.done:
            self._block = None
            self._run(text, pos, final=False)
        elif pos != len(text):
            self._buffer = text[pos:]
        self._settle()
        return out

    def _settle(self) -> None:
        """Decide which short way (if any) the next piece can take: straight to the
        block's scanner (no text held back, the block says how), to the block (with
        what it waits on), plain text straight through (no block, nothing held back), or
        the rest of one tag whose start is held back. A thinking splitter takes the
        long way."""
        self._send = None
        self._tag_rest = None
        block = self._block
        buffer = self._buffer
        stream = block.stream() if block is not None and not buffer else None
        if self._splitter is not None:
            self._inside, self._plain = None, False
            return
        self._inside = block
        if block is not None:
            self._plain = False
            if stream is not None:
                self._send, self._scanner, self._append, self._deltas = stream
        elif not buffer:
            self._plain = not self._at_start
        else:
            self._plain = False
            tag = self._held_tags.get(buffer)
            if tag is not None and not self._at_start:
                self._tag = tag
                self._tag_rest = tag[len(buffer) :]

    def finish(self) -> list[ParserEvent]:
        """The events for everything still held back, at the end of the output."""
        if self._finished:
            return []
        self._finished = True
        self._inside, self._plain, self._send, self._tag_rest = None, False, None, None
        out = self._out = []
        if self._splitter is not None:
            for event in self._splitter.finish():
                if isinstance(event, TextChunk):
                    self._content(event.text)
                else:
                    out.append(event)
        self._run(self._buffer, final=True)
        return out

    def parse(self, text: str) -> ParsedOutput:
        """A whole output at once (feed, then finish), collected."""
        return ParsedOutput.from_events([*self.feed(text), *self.finish()])

    # -- reading text -----------------------------------------------------------------

    def _content(self, text: str) -> None:
        if not text:
            return
        block = self._block
        if block is not None and not self._buffer:
            # Inside a call, read straight from the chunk: no copying.
            pos = block.feed(text, 0)
            if pos == len(text) and not block.done:
                return
            if block.done:
                self._block = None
            self._run(text, pos, final=False)
            return
        self._run(self._buffer + text, final=False)

    def _run(self, buffer: str, pos: int = 0, *, final: bool) -> None:
        """Read ``buffer[pos:]``; what cannot be decided yet stays in ``self._buffer``."""
        n = len(buffer)
        while True:
            block = self._block
            if block is not None:
                pos = block.feed(buffer, pos)
                if block.done:
                    self._block = None
                    continue
                if final:
                    block.finish(buffer, pos)
                    self._block = None
                    pos = n
                break
            if pos >= n:
                break
            if self._at_start:
                match = _WS.match(buffer, pos)
                if match:
                    self.text(match.group())
                    pos = match.end()
                    continue
                new = self._start_of_output(buffer, pos, final=final)
                if new == NEED_MORE:
                    break
                pos = new
                continue
            found = self._finder.find(buffer, pos)
            if found is None:
                hold = n if final else self._finder.holdback(buffer, pos)
                self.text(buffer[pos:hold])
                pos = hold
                break
            at, first = found
            self.text(buffer[pos:at])
            new = self._open(buffer, at, first, final=final)
            if new == NEED_MORE:
                pos = at
                break
            if new == 0:  # not a whole opener: its first character is text
                self.text(buffer[at])
                pos = at + 1
            else:
                pos = new
        self._buffer = buffer[pos:]

    def _start_of_output(self, buffer: str, pos: int, *, final: bool) -> int:
        """Position-bound openers count only here: at the first non-blank character."""
        char = buffer[pos]
        waiting = False
        for opener in self._bound:
            if not opener.pieces:
                if char in ("[" if opener.payload == "python" else "{["):
                    self._start_block(opener, "")
                    return pos
                continue
            end = match_pieces(buffer, pos, opener.pieces, final=final)
            if end == NEED_MORE:
                waiting = True
            elif end:
                self._start_block(opener, buffer[pos:end])
                return end
        if waiting:
            return NEED_MORE
        self._at_start = False
        return pos

    def _open(self, buffer: str, at: int, first: str, *, final: bool) -> int:
        """At an opener's first piece: the end of the longest whole opener, 0 if none,
        ``NEED_MORE`` while a longer one may still match."""
        best, best_end, waiting = None, 0, False
        for opener in self._by_first[first]:
            end = match_pieces(buffer, at, opener.pieces, final=final)
            if end == NEED_MORE:
                waiting = True
            elif end > best_end:
                best, best_end = opener, end
        if waiting:
            return NEED_MORE
        if best is None:
            return 0
        self._start_block(best, buffer[at:best_end])
        return best_end

    def _start_block(self, opener: Opener, tag_raw: str) -> None:
        self._at_start = False
        self._block = make_block(self, opener, tag_raw)

    # -- the block host ---------------------------------------------------------------

    @property
    def opener_finder(self) -> TagFinder:
        return self._finder

    def text(self, text: str) -> None:
        if not text:
            return
        out = self._out
        if out and type(out[-1]) is TextChunk:
            out[-1] = TextChunk(out[-1].text + text)
        else:
            out.append(TextChunk(text))

    def start_call(self, name: str | None) -> None:
        if not self._started:
            self._started = True
            self._delta_sent = False
            self._out.append(ToolCallStart(self._index, name))

    def arguments_delta(self, text: str) -> None:
        if text:
            self._delta_sent = True
            self._out.append(ToolCallArgumentsDelta(self._index, text))

    def complete_call(self, parts: CallParts, raw: str) -> None:
        self.start_call(parts.name)
        index = self._index
        if not self._delta_sent:
            self._out.append(ToolCallArgumentsDelta(index, _ENCODER.encode(parts.arguments)))
        self._out.append(
            ToolCallComplete(
                index=index,
                id=parts.id or self._make_id(index),
                name=parts.name,
                arguments=parts.arguments,
                raw=raw,
                unknown=self._names is not None and parts.name not in self._names,
            )
        )
        self._index += 1
        self._started = self._delta_sent = False

    def fail(self, failure: Failure, raw: str, *, silent: bool = False) -> None:
        self.text(raw)
        if not silent:
            index = self._index if self._started else None
            self._out.append(ParseProblem(failure.kind, failure.reason, raw, index))
        self._started = self._delta_sent = False


@dataclass
class ParsedOutput:
    """A whole response's events, collected: the answer text, the thinking, the calls
    (known and unknown) and the problems."""

    text: str = ""
    thinking: str = ""
    calls: list[ToolCallComplete] = field(default_factory=list)
    problems: list[ParseProblem] = field(default_factory=list)

    @classmethod
    def from_events(cls, events: Sequence[ParserEvent]) -> ParsedOutput:
        text: list[str] = []
        thinking: list[str] = []
        result = cls()
        for event in events:
            if isinstance(event, TextChunk):
                text.append(event.text)
            elif isinstance(event, ThinkingChunk):
                thinking.append(event.text)
            elif isinstance(event, ToolCallComplete):
                result.calls.append(event)
            elif isinstance(event, ParseProblem):
                result.problems.append(event)
        result.text = "".join(text)
        result.thinking = "".join(thinking)
        return result

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The calls to offered tools, as llmkit's public :class:`~llmkit.types.ToolCall`."""
        return [call.to_tool_call() for call in self.calls if not call.unknown]


_TEMPLATE_FORMATS: WeakKeyDictionary[Template, ToolCallFormat] = WeakKeyDictionary()


def read_calls(fmt: ToolCallFormat, text: str) -> list[tuple[str, Any]]:
    """The ``(name, arguments)`` of every call that ``fmt`` reads in the whole ``text``."""
    parser = ToolCallParser(fmt, id_factory=str)
    events = [*parser.feed(text), *parser.finish()]
    return [(e.name, e.arguments) for e in events if isinstance(e, ToolCallComplete)]


def format_for_template(template: Template) -> ToolCallFormat:
    """The format ``template`` renders its tool calls in (cached per template): the one
    :func:`~llmkit.tools.formats.template.derive_format` learns from its rendering, checked
    by reading the probe calls back with this parser, else Ollama's rule (the tag, then
    JSON)."""
    cached = _TEMPLATE_FORMATS.get(template)
    if cached is None:
        derived = derive_format(template, read_calls)
        cached = derived or fallback_format(template.tool_call_tag)
        _TEMPLATE_FORMATS[template] = cached
    return cached
