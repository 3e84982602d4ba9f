"""NDJSON and SSE decoders: any split of the bytes gives the same records; errors name the line."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmkit.errors import StreamDecodeError
from llmkit.streaming.decoders import NDJSONDecoder, SSEDecoder, SSEEvent

VALUES = [{"a": 1}, {"text": "héllo ✓ 日本"}, [1, 2], "s", {"nested": {"x": [None, True]}}]
NDJSON = b"".join(json.dumps(v, ensure_ascii=False).encode() + b"\n" for v in VALUES)


def feed_split(decoder, data: bytes, cuts: list[int]):
    out, start = [], 0
    for cut in sorted(set(cuts)):
        out += decoder.feed(data[start:cut])
        start = cut
    out += decoder.feed(data[start:])
    return out + decoder.finish()


@given(st.lists(st.integers(0, len(NDJSON)), max_size=12))
def test_ndjson_any_split(cuts):
    assert feed_split(NDJSONDecoder(), NDJSON, cuts) == VALUES


def test_ndjson_one_byte_at_a_time_crlf_and_blank_lines():
    data = b'{"a": 1}\r\n\r\n\n{"b": 2}'
    decoder = NDJSONDecoder()
    out = [v for i in range(len(data)) for v in decoder.feed(data[i : i + 1])]
    assert out + decoder.finish() == [{"a": 1}, {"b": 2}]


def test_ndjson_error_names_the_line():
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"ok": 1}\n\n') == [{"ok": 1}]
    with pytest.raises(StreamDecodeError) as info:
        decoder.feed(b'{"ok": 2}\nnot json\n')
    assert info.value.line == 4
    assert info.value.data == "not json"
    assert "stream line 4" in str(info.value)


def test_ndjson_last_line_without_newline_and_truncated():
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a": 1}\n{"b"') == [{"a": 1}]
    with pytest.raises(StreamDecodeError, match="line 2"):
        decoder.finish()


SSE = (
    b": keep-alive comment\n"
    b'data: {"x": 1}\n\n'
    b"event: error\ndata: line one\ndata: line two\nid: 7\n\n"
    b"retry: 1500\ndata:no-space\r\n\r\n"
    b"data: [DONE]\n\n"
)
EVENTS = [
    SSEEvent('{"x": 1}'),
    SSEEvent("line one\nline two", "error", "7"),
    SSEEvent("no-space", "message", "7", 1500),
    SSEEvent("[DONE]", "message", "7"),
]


@given(st.lists(st.integers(0, len(SSE)), max_size=12))
def test_sse_any_split(cuts):
    assert feed_split(SSEDecoder(), SSE, cuts) == EVENTS


def test_sse_event_without_final_blank_line_and_json():
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a": [1]}') == []
    [event] = decoder.finish()
    assert event.json() == {"a": [1]}
    assert decoder.lines_seen == 1


def test_sse_utf8_split_inside_a_character():
    data = 'data: {"t": "日本"}\n\n'.encode()
    cut = data.index("本".encode()) + 1
    decoder = SSEDecoder()
    assert decoder.feed(data[:cut]) == []
    assert [e.json() for e in decoder.feed(data[cut:])] == [{"t": "日本"}]
