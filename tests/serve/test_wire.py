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
