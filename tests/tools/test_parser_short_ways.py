"""The parser's short ways between pieces give exactly what its long way gives.

After each piece the parser decides how the next one can go (``_settle``): straight to
the block's scanner (inside a call object or its arguments), to the block with what it
waits on (a cut ``[ARGS]`` or closing tag), plain text straight through, or the rest of
a cut opening tag. Here a parser whose short ways are switched off reads the same
outputs, in the same pieces (empty ones included, one after every backslash in
particular): every piece must yield the same events, in the same order.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parser_support import RECORDED, counting_ids
from piece_cuts import empty_after_escapes, pieces_of

from llmkit.tools import ToolCallParser

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class LongWayParser(ToolCallParser):
    """Takes the long way for every piece."""

    def _settle(self) -> None:
        super()._settle()
        self._send, self._inside, self._plain, self._tag_rest = None, None, False, None


def _events(parser: ToolCallParser, pieces: list[str]) -> list[list[tuple]]:
    def shown(event: object) -> tuple:
        fields = dataclasses.fields(event)
        return (type(event).__name__, *(getattr(event, f.name) for f in fields))

    per_piece = [[shown(e) for e in parser.feed(piece)] for piece in pieces]
    return [*per_piece, [shown(e) for e in parser.finish()]]


def _both(fmt: str, pieces: list[str], thinking: tuple[str, str] | None = None) -> tuple:
    made = [
        cls.for_format(fmt, ["get_weather", "f"], thinking=thinking, id_factory=counting_ids)
        for cls in (ToolCallParser, LongWayParser)
    ]
    return _events(made[0], pieces), _events(made[1], pieces)


FRAGMENTS = [
    "a ", "\n", "{", "}", "[", "]", '"', ":", ", ", "\\", "1", "tru", "é🎉",
    '"name"', '"arguments"', '"parameters"', '"get_weather"', '"x"',
    "<tool_call>", "</tool_call>", "<tool_", "</tool", "_call>", "<", "</",
    "[TOOL_CALLS]", "[TOOL_", "[ARGS]", "[AR", "GS]", "[CALL_ID]", "get_weather", "f",
    "<|python_tag|>", "<|tool_call|>", "<toolcall>", "<TOOLCALL>", "functools", "Action:",
    "```json", "<think>", "</think>", "f(", "x='a'", ")",
    '{"name": "get_weather", "arguments": {"city": "Paris", "n": [1, 2.5, null]}}',
    'get_weather[ARGS]{"a": 1, "b": {"c": [1, "x"]}}',
    "[get_weather(city='Paris', days=3), f(x=(1, 2))]",
]  # fmt: skip
FORMATS = ["hermes", "mistral", "pythonic", "llama3_json", "nemotron", "granite", "command_r"]


@SETTINGS
@given(
    fmt=st.sampled_from(FORMATS),
    parts=st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12),
    thinking=st.booleans(),
    data=st.data(),
)
def test_random_outputs_in_random_pieces(fmt, parts, thinking, data):
    text = "".join(parts)
    pieces = data.draw(pieces_of(text, max_cuts=40))
    short, long = _both(fmt, pieces, ("<think>", "</think>") if thinking else None)
    assert short == long


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
@pytest.mark.parametrize(
    ("fmt", "unit"),
    [
        ("hermes", 'Hi.\n<tool_call>\n{"name": "f", "arguments": {"a": [1, "b"]}}\n</tool_call>\n'),
        ("mistral", '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris", "n": 3}'),
        ("mistral", '[TOOL_CALLS]f[CALL_ID]abc[ARGS]{"a": {"b": null}} then [TOOL_X] text '),
        ("pythonic", "[get_weather(city='Paris', n=3), f(x=\"a\", y=[1, 2])]"),
    ],
)
def test_calls_back_to_back_in_even_pieces(fmt, unit, size):
    text = unit * 4
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    short, long = _both(fmt, pieces)
    assert short == long
    assert sum(1 for events in short for e in events if e[0] == "ToolCallComplete") >= 1


@pytest.mark.parametrize(
    ("fmt", "pieces"),
    [
        # A cut opening tag that turns out to be text, or another tag.
        ("hermes", ["a <tool", "_c", "x> b", "<tool_call>", '{"name": "f"}</tool_call>']),
        ("mistral", ["[TOOL_", "CALL", "S", "]f[AR", "G", "X]"]),
        # A cut closing tag that is not the closing tag.
        ("hermes", ['<tool_call>{"name": "f"}</to', "ol_cal", "x> more"]),
        # Broken arguments while they stream: reported on the piece that breaks them.
        ("hermes", ['<tool_call>{"name": "f", "arguments": {"a": ', "1", "}}", "x"]),
        ("mistral", ['[TOOL_CALLS]f[ARGS]{"a"', ": 1", ", ]", "}"]),
        # The output ends inside a cut tag, and inside the arguments.
        ("hermes", ["text <tool_c"]),
        ("mistral", ['[TOOL_CALLS]f[ARGS]{"a": [1, ']),
    ],
)
def test_cut_tags_and_broken_calls(fmt, pieces):
    short, long = _both(fmt, pieces)
    assert short == long


def test_recorded_outputs_one_character_at_a_time():
    for case in RECORDED["cases"]:
        if "format" not in case:
            continue
        thinking = tuple(case["thinking"]) if "thinking" in case else None
        pieces = empty_after_escapes(list(case["output"]))
        short, long = _both(case["format"], pieces, thinking)
        assert short == long, case.get("name", case["output"][:40])


def test_news_inside_the_arguments_come_with_the_piece_that_brings_them():
    parser = ToolCallParser.for_format("mistral", ["f"])
    parser.feed('[TOOL_CALLS]f[ARGS]{"a": 1')
    assert parser._send is not None  # pieces now go straight to the scanner
    events = parser.feed(", 2")
    assert [type(e).__name__ for e in events] == ["TextChunk", "ParseProblem", "TextChunk"]
    assert events[1].reason == "not JSON: expected a quoted key, found '2'"
    assert (events[0].text, events[2].text) == ('[TOOL_CALLS]f[ARGS]{"a": 1, ', "2")

    parser = ToolCallParser.for_format("hermes", ["f"], id_factory=counting_ids)
    parser.feed('<tool_call>{"name": "f", "arguments": {"a": 1')
    assert parser._send is not None
    events = parser.feed("}}}")  # the arguments and the call end; no closing tag follows
    assert [type(e).__name__ for e in events] == [
        "ToolCallArgumentsDelta",
        "ToolCallComplete",
        "TextChunk",
    ]
    assert (events[0].text, events[1].arguments, events[2].text) == ("}", {"a": 1}, "}")
