"""The retry policy's decisions (pure)."""

from __future__ import annotations

import random

import pytest

from llmkit.backends.http import RetryPolicy
from llmkit.backends.http.retry import parse_retry_after
from llmkit.errors import (
    BadRequestError,
    ConnectionFailedError,
    HTTPStatusError,
    RateLimitError,
    RemoteTimeoutError,
)


def status(code: int, after: float | None = None) -> HTTPStatusError:
    kind = RateLimitError if code == 429 else BadRequestError if code == 400 else HTTPStatusError
    return kind("x", status_code=code, retry_after=after)


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses(code):
    assert RetryPolicy().should_retry(status(code))


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422, 501])
def test_not_retried(code):
    assert not RetryPolicy().should_retry(status(code))


def test_connection_and_timeouts():
    policy = RetryPolicy()
    assert policy.should_retry(ConnectionFailedError("x"))
    assert policy.should_retry(RemoteTimeoutError("x", phase="connect"))
    assert not policy.should_retry(RemoteTimeoutError("x", phase="read"))
    assert RetryPolicy(retry_timeouts=True).should_retry(RemoteTimeoutError("x", phase="read"))
    assert not RetryPolicy(retry_timeouts=True).should_retry(RemoteTimeoutError("x", phase="total"))
    assert not policy.should_retry(ValueError("x"))


def test_backoff_is_jittered_exponential_and_capped():
    policy = RetryPolicy(initial_backoff=1, max_backoff=5, rng=random.Random(3))
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 5), (10, 5)]:
        values = [policy.backoff(attempt) for _ in range(200)]
        assert all(0 <= v <= ceiling for v in values)
        assert max(values) > ceiling * 0.8  # full jitter reaches near the ceiling


def test_retry_after_replaces_backoff_up_to_the_cap():
    policy = RetryPolicy(max_retry_after=10)
    assert policy.delay(1, status(429, after=3)) == 3
    assert policy.should_retry(status(429, after=10))
    assert not policy.should_retry(status(429, after=11))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value) == seconds


def test_parse_retry_after_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0


def test_policy_checks_its_numbers():
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(initial_backoff=-1)
