"""JSON bodies and Ollama durations (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmkit.errors import InvalidRequestError
from llmkit.serve.wire import dumps, now_rfc3339, parse_duration, parse_json_object


def test_a_body_must_be_one_json_object():
    assert parse_json_object(b'{"a": 1}') == {"a": 1}
    for raw, words in [
        (b"", "missing request body"),
        (b"  ", "missing request body"),
        (b"{nope", "invalid JSON"),
        (b"[1, 2]", "must be a JSON object, not list"),
        (b"\xff", "invalid JSON"),
    ]:
        with pytest.raises(InvalidRequestError, match=words):
            parse_json_object(raw)


def test_dumps_is_compact_and_keeps_utf8():
    assert dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'


def test_now_is_rfc3339_utc():
    stamp = now_rfc3339()
    assert stamp.endswith("Z") and "T" in stamp and "+" not in stamp


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (30, 30.0),
        (1.5, 1.5),
        ("45", 45.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("0s", 0.0),
        (-1, None),
        ("-1", None),
        ("-5m", None),
    ],
)
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["5 minutes", "m", "", "1x", True, [1], float("nan")])
def test_bad_durations_name_the_field(value):
    with pytest.raises(InvalidRequestError) as caught:
        parse_duration(value)
    assert caught.value.fields == ["keep_alive"]


@given(hours=st.integers(0, 100), minutes=st.integers(0, 59), seconds=st.integers(0, 59))
def test_go_durations_add_up(hours, minutes, seconds):
    text = f"{hours}h{minutes}m{seconds}s"
    assert parse_duration(text) == hours * 3600 + minutes * 60 + seconds


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize("depth", [101, 500, 5000, 200_000])
def test_nesting_past_the_limit_is_refused_naming_where(depth):
    raw = b'{"format": {"a": ' + nested(depth) + b"}}"
    with pytest.raises(InvalidRequestError, match="nested deeper than 100 levels") as caught:
        parse_json_object(raw)
    assert caught.value.fields[0].startswith("format.a.0.0")


def test_nesting_up_to_the_limit_is_fine():
    assert parse_json_object(b'{"a": ' + nested(99) + b"}")["a"]
    with pytest.raises(InvalidRequestError):
        parse_json_object(b'{"a": ' + nested(100) + b"}")


def test_a_deep_bare_array_is_refused_too():
    with pytest.raises(InvalidRequestError, match="deeper than 100 levels"):
        parse_json_object(nested(5000))


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"model": "\\ud800"}', "model"),
        (b'{"messages": [{"content": "ok"}, {"content": "a\\udfffb"}]}', "messages.1.content"),
        (b'{"model": "\xff\xfe"}', "model"),  # invalid UTF-8 bytes
        (b'{"model": "\xed\xa0\x80"}', "model"),  # a surrogate encoded in UTF-8
        (b'{"options": {"stop": ["\xc3"]}}', "options.stop.0"),  # a cut multi-byte character
    ],
)
def test_text_that_is_not_utf8_is_refused_naming_the_field(raw, field):
    with pytest.raises(InvalidRequestError, match="not valid UTF-8") as caught:
        parse_json_object(raw)
    assert caught.value.fields == [field]


def test_a_key_that_is_not_utf8_is_named_printably():
    with pytest.raises(InvalidRequestError) as caught:
        parse_json_object(b'{"\\ud800": 1}')
    assert caught.value.fields == ["\\ud800"]
    str(caught.value).encode()  # printable as UTF-8


def test_real_unicode_and_surrogate_pairs_are_fine():
    body = parse_json_object(b'{"a": "\\ud83d\\ude00 caf\xc3\xa9", "b": "\xe2\x82\xac"}')
    assert body == {"a": "😀 café", "b": "€"}


def test_a_utf8_byte_order_mark_is_skipped():
    assert parse_json_object(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e400"])
def test_numbers_must_be_finite(number):
    with pytest.raises(InvalidRequestError, match="finite") as caught:
        parse_json_object(b'{"options": {"temperature": ' + number + b"}}")
    assert caught.value.fields == ["options.temperature"]


def test_an_integer_with_too_many_digits_is_invalid_json():
    with pytest.raises(InvalidRequestError, match="invalid JSON"):
        parse_json_object(b'{"seed": ' + b"9" * 5000 + b"}")


@pytest.mark.parametrize(
    "value", ["inf", "-inf", "Infinity", "nan", float("inf"), 1e20, "1e20", "100000000000h"]
)
def test_durations_past_a_go_duration_are_refused(value):
    with pytest.raises(InvalidRequestError, match="at most 9223372036 seconds") as caught:
        parse_duration(value)
    assert caught.value.fields == ["keep_alive"]


def test_the_longest_duration_is_fine():
    assert parse_duration(9_223_372_036) == 9_223_372_036
    assert parse_duration(-9_223_372_036) is None
