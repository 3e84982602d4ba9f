"""Parsed output for runtimes that produce raw text: text events in, calls and thinking out (pure).

An in-process runtime (llama.cpp) streams the model's text as
:class:`~llmkit.types.events.TextDelta` events. :func:`parse_stream` wraps that
stream and sends every piece through a :class:`~llmkit.tools.ToolCallParser` (or a
:class:`~llmkit.tools.ThinkingSplitter`), so that the stream carries the same event
vocabulary as every other backend: answer text as ``TextDelta``, reasoning as
``ThinkingDelta``, and each complete call as ``ToolCallEvent``.

Nothing is lost: a failed attempt at a call has already come out as text (the parser's
``ParseProblem`` only explains it), and a call to a tool that was not offered comes out
as a ``ToolCallEvent`` flagged ``unknown``, with its raw text. Thinking tags are structure
and are dropped, as Ollama drops them.

:func:`mark_unknown_calls` / :func:`amark_unknown_calls` flag calls to tools that were
not offered for backends whose calls arrive already parsed (HTTP servers), so every
backend reports them the same way.

:func:`stream_parser` chooses the parser for a request: the Ollama (Go) template's format
and thinking tags when there is one, else a named format (the caller's choice, or one
inferred from a Jinja chat template's text by :func:`infer_tool_format`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from llmkit.tools.events import ParserEvent, TextChunk, ThinkingChunk, ToolCallComplete
from llmkit.tools.parser import ToolCallParser, format_for_template
from llmkit.tools.thinking import ThinkingSplitter
from llmkit.types.events import Done, StreamEvent, TextDelta, ThinkingDelta, ToolCallEvent

if TYPE_CHECKING:
    from llmkit.template import Template

__all__ = [
    "DEFAULT_THINKING_TAGS",
    "DEFAULT_TOOL_FORMAT",
    "OutputParser",
    "amark_unknown_calls",
    "infer_tool_format",
    "mark_unknown_calls",
    "parse_stream",
    "stream_events",
    "stream_parser",
]

DEFAULT_TOOL_FORMAT = "hermes"
"""The format used when nothing tells which one the model writes."""

DEFAULT_THINKING_TAGS = ("<think>", "</think>")
"""The thinking tags used when no Go template gives its own."""

# Markers in a Jinja chat template's text, most specific first, and the format they mean.
_JINJA_MARKERS: tuple[tuple[str, str], ...] = (
    ("<tool_call>", "hermes"),
    ("<toolcall>", "nemotron"),
    ("<TOOLCALL>", "nemotron"),
    ("[TOOL_CALLS]", "mistral"),
    ("functools[", "firefunction"),
    ("<|/tool_call|>", "phi4"),
    ("<|tool_call|>", "granite"),
    ("<|START_ACTION|>", "command_r"),
    ("Action: ```json", "command_r"),
    ("<|python_start|>", "pythonic"),
    ("<|python_tag|>", "llama3_json"),
    ("ipython", "llama3_json"),
)


class OutputParser(Protocol):
    """What :func:`parse_stream` drives: a :class:`~llmkit.tools.ToolCallParser` or a
    :class:`~llmkit.tools.ThinkingSplitter`."""

    def feed(self, text: str) -> Sequence[ParserEvent]: ...

    def finish(self) -> Sequence[ParserEvent]: ...


def infer_tool_format(chat_template: str | None) -> str:
    """The tool-call format a Jinja chat template's text shows (``<tool_call>``: ``hermes``,
    ``[TOOL_CALLS]``: ``mistral``...), or :data:`DEFAULT_TOOL_FORMAT` when it shows none."""
    if chat_template:
        for marker, name in _JINJA_MARKERS:
            if marker in chat_template:
                return name
    return DEFAULT_TOOL_FORMAT


def stream_parser(
    *,
    tools: Iterable[Any] | None,
    think: object = None,
    go_template: Template | None = None,
    chat_template: str | None = None,
    tool_format: str | None = None,
) -> OutputParser | None:
    """The parser a request's output needs, or ``None`` when it needs none.

    ``tools`` are the offered tools (``None`` or empty: no call is parsed); ``think``
    is the request's ``think`` (any true value splits reasoning out). ``tool_format``
    names the format; without it, a ``go_template`` gives its own format and thinking
    tags, and otherwise the format is inferred from ``chat_template`` (Jinja text).
    """
    thinking = bool(think)
    offered = list(tools) if tools else None
    tags = DEFAULT_THINKING_TAGS
    if go_template is not None and all(go_template.thinking_tags):
        tags = go_template.thinking_tags
    if not offered:
        return ThinkingSplitter(*tags) if thinking else None
    if tool_format is None and go_template is not None:
        return ToolCallParser(
            format_for_template(go_template), offered, thinking=tags if thinking else None
        )
    name = tool_format or infer_tool_format(chat_template)
    return ToolCallParser.for_format(name, offered, thinking=tags if thinking else None)


def parse_stream(
    events: Iterable[StreamEvent], parser: OutputParser | None
) -> Iterator[StreamEvent]:
    """``events`` with each ``TextDelta`` read by ``parser``: its text, thinking and calls
    come out as ``TextDelta``, ``ThinkingDelta`` and ``ToolCallEvent``; other events pass
    through. What the parser holds back is flushed before ``Done``. ``parser=None``
    passes the stream through unchanged. Closing the result closes ``events``."""
    if parser is None:
        yield from events
        return
    finished = False
    try:
        for event in events:
            if isinstance(event, TextDelta):
                yield from stream_events(parser.feed(event.text))
                continue
            if isinstance(event, Done) and not finished:
                finished = True
                yield from stream_events(parser.finish())
            yield event
        if not finished:
            yield from stream_events(parser.finish())
    finally:
        close = getattr(events, "close", None)
        if close is not None:  # closing the parsed stream stops the backend's at once
            close()


def stream_events(events: Iterable[ParserEvent]) -> Iterator[StreamEvent]:
    """Parser events as stream events: text runs merged into one ``TextDelta`` (and thinking
    into one ``ThinkingDelta``) per call, calls as ``ToolCallEvent``; progress reports,
    markup and problems (whose text has already come out) are left out."""
    text: list[str] = []
    thinking: list[str] = []
    for event in events:
        if isinstance(event, TextChunk):
            if thinking:
                yield ThinkingDelta(text="".join(thinking))
                thinking.clear()
            text.append(event.text)
        elif isinstance(event, ThinkingChunk):
            if text:
                yield TextDelta(text="".join(text))
                text.clear()
            thinking.append(event.text)
        elif isinstance(event, ToolCallComplete):
            if text:
                yield TextDelta(text="".join(text))
                text.clear()
            if thinking:
                yield ThinkingDelta(text="".join(thinking))
                thinking.clear()
            yield ToolCallEvent(
                call=event.to_tool_call(),
                unknown=event.unknown,
                raw=event.raw if event.unknown else None,
            )
    if thinking:
        yield ThinkingDelta(text="".join(thinking))
    if text:
        yield TextDelta(text="".join(text))


def _flagged(event: StreamEvent, offered: Collection[str]) -> StreamEvent:
    if (
        isinstance(event, ToolCallEvent)
        and not event.unknown
        and event.call.function.name not in offered
    ):
        return event.model_copy(update={"unknown": True})
    return event


def mark_unknown_calls(
    events: Iterable[StreamEvent], offered: Collection[str]
) -> Iterator[StreamEvent]:
    """``events`` with each ``ToolCallEvent`` whose tool is not in ``offered`` (tool names)
    flagged ``unknown``. Closing the result closes ``events``."""
    try:
        for event in events:
            yield _flagged(event, offered)
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


async def amark_unknown_calls(
    events: AsyncIterator[StreamEvent], offered: Collection[str]
) -> AsyncIterator[StreamEvent]:
    """The async twin of :func:`mark_unknown_calls`."""
    try:
        async for event in events:
            yield _flagged(event, offered)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
