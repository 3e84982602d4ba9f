"""Properties of the parser over generated outputs, for every format (hypothesis):

* chunking does not matter: any split of an output (empty pieces included, one after
  every backslash in particular; and any split of its UTF-8 bytes, decoded as the
  backends decode them) gives the same text, calls and problems;
* nothing is lost: text, thinking, markup and the raw text of calls reassemble the output;
* well-formed calls come back as they were written, whatever text surrounds them;
* broken and truncated calls come back as text.
"""

from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parser_support import (
    RECORDED,
    check_invariants,
    counting_ids,
    feed_all,
    normalized,
    parser_for_case,
)
from piece_cuts import empty_after_escapes, pieces_of

from llmkit.streaming.text import Utf8Pieces
from llmkit.tools import FORMAT_NAMES, ToolCallParser

NAMES = ["get_weather", "search", "lookup_user", "a"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- values ------------------------------------------------------------------------

# Strings that stress the scanners: quotes, backslashes, brackets, tags, non-ASCII.
tricky_text = st.lists(
    st.sampled_from(
        [*list('ab "\\{}[]():,;\n\t<>/|_é✓🎉\u2028'), "</tool_call>", "[TOOL_CALLS]", "'''"]
    ),
    max_size=12,
).map("".join)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    tricky_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text("abcxyz_", min_size=1, max_size=5), inner, max_size=3),
    ),
    max_leaves=8,
)
arguments = st.dictionaries(
    st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8), json_values, max_size=4
)
calls = st.tuples(st.sampled_from(NAMES), arguments)

# Answer text that cannot open or continue a call in any format.
plain_text = st.text(alphabet="abcdefgh .!?é✓🎉\n", max_size=20).filter(
    lambda s: "functools" not in s and "Action" not in s
)
leading_plain = st.text(alphabet="abcdefgh.!?é✓🎉", min_size=1, max_size=1).flatmap(
    lambda first: plain_text.map(lambda rest: first + rest)
)
# Text full of near-misses: pieces of tags, brackets, braces, JSON-ish fragments.
noise = st.lists(
    st.sampled_from(
        [
            *list('ab {}[]",:;\n'),
            *["<tool", "_call>", "</tool_call>", "<tool_call>", "[TOOL_", "CALLS]", "[ARGS]"],
            *["functools", "Action:", "```json", "<|tool_call|>", "<|/tool_call|>", "<toolcall>"],
            *["<|python_tag|>", "<|python_start|>", "<think>", "</think>", '"name"', "'''"],
            *["get_weather(", "\\"],
        ]
    ),
    max_size=25,
).map("".join)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _call_object(
    name: str,
    args: dict,
    *,
    name_key: str = "name",
    key: str = "arguments",
    as_string: bool = False,
) -> str:
    payload = _json(_json(args)) if as_string else _json(args)
    return f'{{"{name_key}": {_json(name)}, "{key}": {payload}}}'


def _python_call(name: str, args: dict) -> str:
    return f"{name}({', '.join(f'{key}={value!r}' for key, value in args.items())})"


# How each format writes a block of calls (the calls after the first may be cut short).
def render_block(fmt: str, block: list, variant: int) -> str:
    objects = [
        _call_object(n, a, as_string=variant == 2 and i == 0) for i, (n, a) in enumerate(block)
    ]
    if fmt in ("hermes", "qwen"):
        inner = "\n".join(objects) if variant else f"[{', '.join(objects)}]"
        return f"<tool_call>\n{inner}\n</tool_call>"
    if fmt == "nemotron":
        return (
            f"<toolcall> {' '.join(objects)} </toolcall>"
            if variant
            else f"<TOOLCALL>[{', '.join(objects)}]</TOOLCALL>"
        )
    if fmt == "mistral":
        if variant:
            return "".join(f"[TOOL_CALLS]{n}[ARGS]{_json(a)}" for n, a in block)
        return f"[TOOL_CALLS] [{', '.join(objects)}]"
    if fmt == "firefunction":
        return f"functools[{', '.join(objects)}]"
    if fmt == "command_r":
        inner = ",\n".join(
            _call_object(n, a, name_key="tool_name", key="parameters") for n, a in block
        )
        return f"Action: ```json\n[\n{inner}\n]\n```"
    if fmt == "granite":
        return f"<|tool_call|>[{', '.join(objects)}]"
    if fmt == "phi4":
        return (
            f"<|tool_call|>[{', '.join(objects)}]<|/tool_call|>"
            if variant
            else f"functools[{', '.join(objects)}]"
        )
    if fmt == "llama3_json":
        return "<|python_tag|>" + "; ".join(_call_object(n, a, key="parameters") for n, a in block)
    assert fmt == "pythonic"
    return f"<|python_start|>[{', '.join(_python_call(n, a) for n, a in block)}]<|python_end|>"


def render_start(fmt: str, block: list) -> str | None:
    """The position-bound form, at the very start of the output (None if the format has
    none)."""
    if fmt == "llama3_json":
        return "; ".join(_call_object(n, a, key="parameters") for n, a in block)
    if fmt == "pythonic":
        return f"[{', '.join(_python_call(n, a) for n, a in block)}]"
    return None


@st.composite
def outputs(draw, fmt: str):
    """An output of well-formed calls among plain text, and the calls it holds."""
    pieces: list[str] = []
    expected: list[tuple[str, dict]] = []
    start = render_start(fmt, [draw(calls)])
    if start is not None and draw(st.booleans()):
        block = draw(st.lists(calls, min_size=1, max_size=3))
        pieces.append(draw(st.sampled_from(["", " ", "\n"])) + render_start(fmt, block))
        expected += block
        pieces.append(draw(st.one_of(st.just(""), st.just(" "), leading_plain.map(" ".__add__))))
    for _ in range(draw(st.integers(0, 3))):
        pieces.append(draw(plain_text))
        block = draw(st.lists(calls, min_size=1, max_size=3))
        pieces.append(render_block(fmt, block, draw(st.integers(0, 2))))
        expected += block
    pieces.append(draw(st.one_of(st.just(""), leading_plain.map(" ".__add__))))
    return "".join(pieces), expected


def _parser(fmt: str) -> ToolCallParser:
    return ToolCallParser.for_format(fmt, NAMES, id_factory=counting_ids)


# -- the properties ----------------------------------------------------------------


@SETTINGS
@given(fmt=st.sampled_from(FORMAT_NAMES), data=st.data())
def test_well_formed_calls_come_back_whatever_the_chunking(fmt, data):
    output, expected = data.draw(outputs(fmt))
    whole = feed_all(_parser(fmt), [output])
    check_invariants(whole, output)
    got = [(e[3], e[4]) for e in normalized(whole) if e[0] == "call"]
    assert got == [(name, args) for name, args in expected]
    assert not [e for e in normalized(whole) if e[0] == "problem"]
    pieces = data.draw(pieces_of(output))
    events = feed_all(_parser(fmt), pieces)
    check_invariants(events, output)
    assert normalized(events) == normalized(whole)


@SETTINGS
@given(fmt=st.sampled_from(FORMAT_NAMES), data=st.data())
def test_noise_and_broken_calls_lose_nothing_whatever_the_chunking(fmt, data):
    output, _ = data.draw(outputs(fmt))
    # Break the output: cut it off, splice noise into it, or both.
    at = data.draw(st.integers(0, len(output)))
    output = output[:at] + data.draw(noise) + (output[at:] if data.draw(st.booleans()) else "")
    whole = feed_all(_parser(fmt), [output])
    check_invariants(whole, output)
    events = feed_all(_parser(fmt), data.draw(pieces_of(output)))
    check_invariants(events, output)
    assert normalized(events) == normalized(whole)
    by_character = feed_all(_parser(fmt), empty_after_escapes(list(output)))
    assert normalized(by_character) == normalized(whole)


@SETTINGS
@given(case=st.sampled_from(RECORDED["cases"]), data=st.data())
def test_recorded_outputs_in_random_pieces(case, data):
    output = case["output"]
    whole = feed_all(parser_for_case(case), [output])
    events = feed_all(parser_for_case(case), data.draw(pieces_of(output)))
    check_invariants(events, output)
    assert normalized(events) == normalized(whole)


@SETTINGS
@given(case=st.sampled_from(RECORDED["cases"]), data=st.data())
def test_utf8_characters_split_across_chunks(case, data):
    """The backends decode token bytes with Utf8Pieces; a character cut between tokens
    reaches the parser whole, so any byte split parses as the whole output does."""
    output = case["output"] + " é✓🎉"
    encoded = output.encode("utf-8")
    cuts = data.draw(st.lists(st.integers(0, len(encoded)), max_size=16))
    points = sorted({0, len(encoded), *cuts})
    decoder = Utf8Pieces()
    parser = parser_for_case(case)
    events = []
    for a, b in itertools.pairwise(points):
        events += parser.feed(decoder.feed(encoded[a:b]))
    events += parser.feed(decoder.flush())
    events += parser.finish()
    check_invariants(events, output)
    assert normalized(events) == normalized(feed_all(parser_for_case(case), [output]))


@SETTINGS
@given(
    thinking=st.text(alphabet="ab <>/think\n", max_size=20),
    gap=st.sampled_from(["", "\n", "\n\n", " "]),
    data=st.data(),
)
def test_thinking_then_calls_whatever_the_chunking(thinking, gap, data):
    answer, expected = data.draw(outputs("hermes"))
    output = f"<think>{thinking}</think>{gap}{answer}"

    def parser() -> ToolCallParser:
        return ToolCallParser.for_format(
            "hermes", NAMES, thinking=("<think>", "</think>"), id_factory=counting_ids
        )

    whole = feed_all(parser(), [output])
    check_invariants(whole, output)
    result = normalized(whole)
    assert [(e[3], e[4]) for e in result if e[0] == "call"] == [tuple(c) for c in expected]
    events = feed_all(parser(), data.draw(pieces_of(output)))
    assert normalized(events) == result
