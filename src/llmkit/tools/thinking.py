"""Splitting ``<think>...</think>`` reasoning from the answer as it streams (pure).

The rule is Ollama's (``thinking/parser.go``): leading whitespace is skipped; if the
output then starts with the opening tag, everything up to the closing tag is thinking,
and whitespace right after either tag is dropped; otherwise the whole output is answer.
A tag later in the answer is just text. When the prompt already ends with the opening
tag (templates that open the thinking for the model), start inside the thinking.

Dropped text (the tags, the whitespace after them, and whitespace before an opening
tag) comes out as :class:`~llmkit.tools.events.Markup`, so nothing is lost.
"""

from __future__ import annotations

import re

from llmkit.tools.events import Markup, TextChunk, ThinkingChunk
from llmkit.tools.tags import TagFinder

__all__ = ["ThinkingSplitter"]

_LEADING_WS = re.compile(r"[ \t\n\r]*")

_START, _AFTER_OPEN, _THINKING, _AFTER_CLOSE, _CONTENT = range(5)

SplitEvent = TextChunk | ThinkingChunk | Markup


class ThinkingSplitter:
    """Feeds text in, gets answer text, thinking and markup out, in order."""

    __slots__ = ("_buffer", "_close", "_closer", "_open", "_state")

    def __init__(self, open_tag: str, close_tag: str, *, start_inside: bool = False) -> None:
        if not open_tag or not close_tag:
            raise ValueError("thinking needs both an opening and a closing tag")
        self._open = open_tag
        self._close = close_tag
        self._closer = TagFinder([close_tag])
        self._state = _AFTER_OPEN if start_inside else _START
        self._buffer = ""

    @property
    def tags(self) -> tuple[str, str]:
        return self._open, self._close

    @property
    def passing_through(self) -> bool:
        """Whether the thinking is over (or never began): all further text is answer."""
        return self._state == _CONTENT and not self._buffer

    def feed(self, text: str) -> list[SplitEvent]:
        """The events for one more piece of output."""
        if self._state == _CONTENT:
            return [TextChunk(text)] if text else []
        events: list[SplitEvent] = []
        self._buffer += text
        self._run(events, final=False)
        return events

    def finish(self) -> list[SplitEvent]:
        """The events for whatever was held back, at the end of the output."""
        events: list[SplitEvent] = []
        self._run(events, final=True)
        rest, self._buffer = self._buffer, ""
        if rest:
            if self._state == _THINKING:
                events.append(ThinkingChunk(rest))
            else:
                events.append(TextChunk(rest))
        return events

    def _run(self, events: list[SplitEvent], *, final: bool) -> None:
        while self._buffer:
            state = self._state
            buffer = self._buffer
            if state == _START:
                match = _LEADING_WS.match(buffer)
                i = match.end() if match else 0
                if i == len(buffer):
                    return  # only whitespace so far
                if buffer.startswith(self._open, i):
                    events.append(Markup(buffer[: i + len(self._open)]))
                    self._buffer = buffer[i + len(self._open) :]
                    self._state = _AFTER_OPEN
                elif self._open.startswith(buffer[i:]) and not final:
                    return
                else:
                    self._state = _CONTENT
            elif state in (_AFTER_OPEN, _AFTER_CLOSE):
                match = _LEADING_WS.match(buffer)
                i = match.end() if match else 0
                if i:
                    events.append(Markup(buffer[:i]))
                    self._buffer = buffer[i:]
                if self._buffer:
                    self._state = _THINKING if state == _AFTER_OPEN else _CONTENT
            elif state == _THINKING:
                found = self._closer.find(buffer, 0)
                if found is not None:
                    at = found[0]
                    if at:
                        events.append(ThinkingChunk(buffer[:at]))
                    events.append(Markup(self._close))
                    self._buffer = buffer[at + len(self._close) :]
                    self._state = _AFTER_CLOSE
                else:
                    hold = len(buffer) if final else self._closer.holdback(buffer, 0)
                    if hold:
                        events.append(ThinkingChunk(buffer[:hold]))
                    self._buffer = buffer[hold:]
                    return
            else:  # _CONTENT
                events.append(TextChunk(buffer))
                self._buffer = ""
