"""When and how long to retry an HTTP request (pure: decisions only, no I/O).

The I/O layer hands these to tenacity: :meth:`RetryPolicy.should_retry`
decides from the error, :meth:`RetryPolicy.wait` computes the pause
(the server's ``Retry-After`` when it sent one, capped; otherwise exponential
backoff with full jitter).  What is retried:

* a connection that could not be made, or that dropped before any response;
* statuses 408, 429, 500, 502, 503 and 504 (configurable);
* read timeouts only with ``retry_timeouts=True`` (a stalled server would
  otherwise multiply the wait).

A stream is retried only until its first byte has arrived: after that the
caller has seen output, and a retry would repeat it.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmkit.errors import (
    ConnectionFailedError,
    HTTPStatusError,
    RemoteTimeoutError,
)

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["DEFAULT_RETRY_STATUSES", "RetryPolicy", "parse_retry_after"]

DEFAULT_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    ``None`` when there is no usable value; never negative.
    """
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How an HTTP backend retries.

    ``max_attempts`` counts the first try (1 means no retries).  Backoff before
    retry *n* (1-based) is a random time in ``[0, min(max_backoff,
    initial_backoff * 2**(n-1))]``; a ``Retry-After`` from the server replaces
    it, up to ``max_retry_after`` (a longer demand ends the retries: waiting
    minutes inside a call is rarely what a caller wants).
    """

    max_attempts: int = 3
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    retry_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    retry_timeouts: bool = False
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.max_retry_after < 0:
            raise ValueError("backoff times must not be negative")

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)

    def should_retry(self, error: BaseException) -> bool:
        """Whether ``error`` (an llmkit remote error) is worth another attempt."""
        if isinstance(error, HTTPStatusError):
            if error.status_code not in self.retry_statuses:
                return False
            after = error.retry_after
            return after is None or after <= self.max_retry_after
        if isinstance(error, RemoteTimeoutError):
            return error.phase == "connect" or (self.retry_timeouts and error.phase != "total")
        return isinstance(error, ConnectionFailedError)

    def backoff(self, attempt: int) -> float:
        """The jittered pause before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))
        return self.rng.uniform(0.0, ceiling)

    def delay(self, attempt: int, error: BaseException | None) -> float:
        """The pause before retry ``attempt`` after ``error``: ``Retry-After`` or backoff."""
        if isinstance(error, HTTPStatusError) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        return self.backoff(attempt)

    # tenacity's hooks -------------------------------------------------------

    def tenacity_retry(self, state: RetryCallState) -> bool:
        """tenacity ``retry=``: retry on the errors :meth:`should_retry` accepts."""
        outcome = state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        return error is not None and self.should_retry(error)

    def tenacity_wait(self, state: RetryCallState) -> float:
        """tenacity ``wait=``: :meth:`delay` for the attempt that just failed."""
        outcome = state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        return self.delay(state.attempt_number, error)
