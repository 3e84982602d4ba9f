"""Helpers for the tool-call parser tests: feeding output in pieces, and the invariants
every run must keep (nothing lost, chunking does not matter, arguments stream whole)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from llmkit.template import Template
from llmkit.tools import (
    Markup,
    ParseProblem,
    ParserEvent,
    TextChunk,
    ThinkingChunk,
    ToolCallArgumentsDelta,
    ToolCallComplete,
    ToolCallParser,
    ToolCallStart,
)

DATA = Path(__file__).parent / "data"
#: Tool-call templates written for llmkit's tests, one per family of call syntax, named after
#: the family (the conformance suite runs the same checks on Ollama's own templates).
TOOL_TEMPLATES = DATA / "templates"
RECORDED = json.loads((DATA / "recorded_outputs.json").read_text(encoding="utf-8"))


def counting_ids(index: int) -> str:
    """Deterministic call ids, so that runs can be compared whole."""
    return f"id{index}"


def parser_for_case(case: dict) -> ToolCallParser:
    """The parser a recorded case names: a format, or one of the test templates."""
    tools = RECORDED["tool_names"]
    if "template" in case:
        template = Template.from_file(TOOL_TEMPLATES / f"{case['template']}.gotmpl")
        return ToolCallParser.for_template(template, tools, id_factory=counting_ids)
    thinking = tuple(case["thinking"]) if "thinking" in case else None
    return ToolCallParser.for_format(
        case["format"],
        tools,
        thinking=thinking,
        start_in_thinking=case.get("start_in_thinking", False),
        id_factory=counting_ids,
    )


def feed_all(parser: ToolCallParser, pieces: Iterable[str]) -> list[ParserEvent]:
    events: list[ParserEvent] = []
    for piece in pieces:
        events.extend(parser.feed(piece))
    events.extend(parser.finish())
    return events


def split_at(text: str, cuts: Iterable[int]) -> list[str]:
    """``text`` cut at the given offsets (any order, repeats allowed)."""
    points = sorted({0, len(text), *(c for c in cuts if 0 < c < len(text))})
    return [text[a:b] for a, b in itertools.pairwise(points)]


def reassemble(events: Sequence[ParserEvent]) -> str:
    """The output as the events account for it: every character in exactly one place."""
    parts: list[str] = []
    for event in events:
        if isinstance(event, TextChunk | ThinkingChunk):
            parts.append(event.text)
        elif isinstance(event, Markup | ToolCallComplete):
            parts.append(event.raw)
    return "".join(parts)


def normalized(events: Sequence[ParserEvent]) -> list[tuple]:
    """The decided events, with adjacent pieces of one kind merged: what must not depend
    on how the output was cut."""
    result: list[tuple] = []
    for event in events:
        if isinstance(event, ToolCallStart | ToolCallArgumentsDelta):
            continue
        if isinstance(event, TextChunk | ThinkingChunk | Markup):
            kind = type(event).__name__
            text = event.raw if isinstance(event, Markup) else event.text
            if result and result[-1][0] == kind:
                result[-1] = (kind, result[-1][1] + text)
            else:
                result.append((kind, text))
        elif isinstance(event, ToolCallComplete):
            result.append(
                (
                    "call",
                    event.index,
                    event.id,
                    event.name,
                    event.arguments,
                    event.raw,
                    event.unknown,
                )
            )
        else:
            assert isinstance(event, ParseProblem)
            result.append(("problem", event.kind, event.raw, event.index))
    return result


def check_invariants(events: Sequence[ParserEvent], output: str) -> None:
    """Nothing lost; each call announced once, before its arguments; the argument pieces of
    a call concatenate to its arguments; problems repeat text already given out."""
    assert reassemble(events) == output
    started: dict[int, str | None] = {}
    streamed: dict[int, list[str]] = {}
    text_so_far: list[str] = []
    expected_index = 0
    for event in events:
        if isinstance(event, TextChunk):
            text_so_far.append(event.text)
        elif isinstance(event, ToolCallStart):
            assert event.index not in started, "a call was announced twice"
            assert event.index == expected_index
            started[event.index] = event.name
            streamed[event.index] = []
        elif isinstance(event, ToolCallArgumentsDelta):
            assert event.index in started, "arguments before the call's start"
            streamed[event.index].append(event.text)
        elif isinstance(event, ToolCallComplete):
            assert event.index == expected_index
            assert event.index in started
            assert started[event.index] in (None, event.name)
            assert json.loads("".join(streamed[event.index]), strict=False) == event.arguments or (
                _has_both_argument_keys(event.raw)
            )
            del started[event.index]
            expected_index += 1
        elif isinstance(event, ParseProblem):
            assert "".join(text_so_far).endswith(event.raw)
            if event.index is not None:
                assert event.index == expected_index and event.index in started
                del started[event.index]
    assert not started, "a call was started and neither completed nor abandoned"


def _has_both_argument_keys(raw: str) -> bool:
    return '"arguments"' in raw and '"parameters"' in raw


def run_pieces(case: dict, pieces: Iterable[str]) -> list[ParserEvent]:
    return feed_all(parser_for_case(case), pieces)
