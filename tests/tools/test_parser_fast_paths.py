"""The parser's short cuts give exactly what the long way gives (hypothesis).

For speed, the pure Python scanners read long pieces in whole runs of tokens (one regular expression
per run) and short pieces character by character; pythonic calls of the common simple
shape are read without :mod:`ast`; a partial tag at the end of a text is found with one
regular expression. Each short cut is checked here against the way it replaces (the pieces
include empty ones, one after every backslash in particular).
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from piece_cuts import empty_after_escapes

from llmkit.tools import ToolCallArgumentsDelta, ToolCallComplete, ToolCallStart
from llmkit.tools.formats.base import Failure
from llmkit.tools.formats.pythonic import _call_parts, _parse, _simple_call
from llmkit.tools.scan import JsonScanner, PythonListScanner
from llmkit.tools.tags import TagFinder

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- JSON: whole pieces (runs of tokens) against one character at a time -------------------

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.sampled_from('ab "\\/{}[]:,é🎉\n\t'), max_size=8),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text("kxy", max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)
# Corruptions that stop a scanner early: stray structure, bad numbers and literals.
breakers = st.sampled_from(
    ["", "}", "]", ",", ":", '"', " x", "01", "1.", "tru", "\\", "{", "[1 2]"]
)


def scanned(pieces: list[str]) -> tuple:
    scanner = JsonScanner(name_keys=("name",), args_keys=("arguments",))
    for piece in pieces:
        scanner.feed(piece, 0)
        if scanner.done or scanner.error is not None:
            break
    return (
        scanner.consumed,
        scanner.done,
        scanner.error,
        scanner.name,
        scanner.args_start,
        scanner.args_end,
        scanner.keys_seen,
    )


@SETTINGS
@given(
    arguments=json_values,
    breaker=breakers,
    at=st.integers(0, 10**6),
    cuts=st.lists(st.integers(0, 120), max_size=6),
)
def test_json_scanner_reads_long_pieces_as_it_reads_characters(arguments, breaker, at, cuts):
    body = json.dumps({"a": arguments, "b": [arguments, {"c": arguments}]}, ensure_ascii=False)
    at %= len(body) + 1
    text = '{"name": "f", "arguments": ' + body[:at] + breaker + body[at:] + "} tail"
    one_by_one = scanned(list(text))
    assert scanned([text]) == one_by_one
    assert scanned(empty_after_escapes(list(text))) == one_by_one
    pieces, start = [], 0
    for size in [*cuts, len(text)]:
        pieces.append(text[start : start + size])
        start += size
    assert scanned(pieces) == one_by_one  # empty pieces (size 0, past the end) included
    assert scanned(empty_after_escapes(pieces)) == one_by_one


# -- Python call lists ---------------------------------------------------------------------

python_scalars = st.sampled_from(
    ["'a'", '"b c"', "''", '""', "'é🎉'", "1", "-1", "0", "1.5", "-2.5e3", "1E2", "True",
     "None", "false", "null", "01", "1_0", "1.", "x", "'a' 'b'", "'a\\'b'", "(1)", "[[1]]",
     "{'a': 1}"]
)  # fmt: skip
python_values = st.one_of(
    python_scalars,
    st.lists(python_scalars, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
    st.lists(python_scalars, min_size=1, max_size=3).map(
        lambda items: "(" + ",".join(items) + ",)"
    ),
)
python_calls = st.builds(
    lambda name, arguments, space: (
        name + "(" + (", " + space).join(f"{key}={value}" for key, value in arguments) + ")"
    ),
    st.sampled_from(["f", "get_weather", "a.b", "class", "a.from", "_x1"]),
    st.lists(
        st.tuples(st.sampled_from(["x", "y", "from", "z_1", "True"]), python_values), max_size=3
    ),
    st.sampled_from(["", " ", "\n"]),
)


@SETTINGS
@given(python_calls)
def test_simple_python_calls_are_read_as_ast_reads_them(source):
    simple = _simple_call(source)
    if simple is None:
        return  # left to ast
    tree = _parse(source)
    assert not isinstance(tree, Failure)
    parts = _call_parts(0, tree.body)
    assert parts == simple
    assert json.dumps(parts.arguments) == json.dumps(simple.arguments)  # 1 vs 1.0 vs true


@pytest.mark.parametrize(
    "source",
    ["f(x=1, x=2)", "f(from=1)", "class(x=1)", "f(x='a' 'b')", "f(1)", "f(x=01)", "f(x=1_0)",
     "f(x=(1))", "f(x=[[1]])", "f(**k)", "f(x=" + "9" * 40 + ")", "f(x='a\x00')", "f(x=1)(y)"],
)  # fmt: skip
def test_doubtful_python_calls_are_left_to_ast(source):
    assert _simple_call(source) is None


def python_scanned(pieces: list[str]) -> tuple:
    scanner, pending = PythonListScanner(), ""
    for piece in pieces:
        buffer = pending + piece
        pos = scanner.feed(buffer, 0)
        pending = buffer[pos:]
        if scanner.done or scanner.error is not None:
            break
    return scanner.consumed, scanner.done, scanner.error, scanner.commas, scanner.looks_like_calls


@SETTINGS
@given(st.lists(python_calls, max_size=4), st.lists(st.integers(0, 40), max_size=8))
def test_python_scanner_reads_long_pieces_as_it_reads_characters(calls, cuts):
    text = "[" + ", ".join(calls) + "] tail '''"
    pieces, start = [], 0
    for size in [*cuts, len(text)]:
        pieces.append(text[start : start + size])
        start += size
    one_by_one = python_scanned(list(text))
    assert python_scanned([text]) == one_by_one
    assert python_scanned(empty_after_escapes(list(text))) == one_by_one
    assert python_scanned(pieces) == one_by_one  # empty pieces included
    assert python_scanned(empty_after_escapes(pieces)) == one_by_one


# -- tags and events -----------------------------------------------------------------------


@SETTINGS
@given(
    st.lists(st.sampled_from(["<", "tool", "_call", ">", "<|", "python", "[TOOL", "]", "a", " "]))
)
def test_holdback_keeps_exactly_a_cut_tag_at_the_end(parts):
    tags = ["<tool_call>", "<|python_tag|>", "[TOOL_CALLS]"]
    finder = TagFinder(tags)
    text = "".join(parts)
    expected = next(
        (
            i
            for i in range(max(0, len(text) - 13), len(text))
            if any(tag.startswith(text[i:]) and tag != text[i:] for tag in tags)
        ),
        len(text),
    )
    assert finder.holdback(text, 0) == expected


def test_events_built_the_short_way_are_ordinary_frozen_dataclasses():
    delta = ToolCallArgumentsDelta(1, '{"a"')
    start = ToolCallStart(index=2, name=None)
    call = ToolCallComplete(0, "id0", "f", {"a": 1}, "raw")
    assert delta == ToolCallArgumentsDelta(index=1, text='{"a"') and hash(delta)
    assert start == ToolCallStart(2, None)
    assert call.unknown is False and dataclasses.replace(call, unknown=True).unknown
    assert repr(delta) == "ToolCallArgumentsDelta(index=1, text='{\"a\"')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        delta.text = "x"  # type: ignore[misc]
