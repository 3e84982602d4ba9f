"""A backend that spreads requests over several backends and fails over between them.

:class:`Router` is itself an :class:`~llmkit.backends.base.AsyncBackend`, so the
server (or any :class:`~llmkit.AsyncClient`, or a batch) uses one upstream or many the
same way.  Each request goes to the healthy upstream with the fewest requests in progress;
among equals, the next one in turn after the last pick.  A request counts as in progress
from its first event until its stream is read to the end or closed (an embedding: until it
returns), so a long stream keeps its upstream busy for as long as it runs.  The choice
itself is :func:`pick_upstream`, a pure function.

Failover: a request that fails before its first event with an upstream's fault (the
connection refused or dropped, a timeout, a 5xx or 429 status, every slot busy) goes to the
next upstream, and the one that failed is marked down for ``down_seconds`` (doubling with
each failure in a row, up to ``max_down_seconds``).  A down upstream gets no requests
until its time is up; then the next request probes it, and one that succeeds marks it up
again.  When every upstream is down, the request tries the one that comes back soonest
rather than failing unasked.  A stream that has started is never sent again (its error is
the caller's, with what arrived), nor is a request the upstream refused as invalid (4xx):
every request is answered at most once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from llmkit.backends.base import AsyncBackend
from llmkit.errors import (
    BackendBusyError,
    BackendError,
    ConnectionFailedError,
    HTTPStatusError,
    RemoteTimeoutError,
)
from llmkit.types.events import StreamEvent
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import EmbedResponse

__all__ = ["Router", "Upstream", "is_upstream_fault", "pick_upstream"]

_log = logging.getLogger("llmkit.backends.router")
_UNAVAILABLE = 1 << 62
T = TypeVar("T")


def is_upstream_fault(exc: BaseException) -> bool:
    """Whether ``exc``, raised before a response's first event, is the upstream's fault, so
    that another upstream may answer instead: no connection, a timeout, a 5xx or 429
    status, or every slot busy.  A request refused as invalid is not."""
    if isinstance(exc, ConnectionFailedError | RemoteTimeoutError | BackendBusyError):
        return True
    status = exc.status_code if isinstance(exc, HTTPStatusError) else None
    return status is not None and (status >= 500 or status == 429)


def pick_upstream(outstanding: Sequence[int], start: int) -> int:
    """The index with the fewest outstanding requests; ties go to the first at or after ``start``.

    >>> pick_upstream([2, 0, 0], start=0)
    1
    >>> pick_upstream([1, 1, 1], start=2)
    2
    >>> pick_upstream([0, 1, 0], start=1)
    2
    """
    if not outstanding:
        raise ValueError("no upstreams to pick from")
    count = len(outstanding)
    fewest = min(outstanding)
    for step in range(count):
        index = (start + step) % count
        if outstanding[index] == fewest:
            return index
    raise AssertionError("unreachable: the minimum is always found")


@dataclass
class Upstream:
    """One backend behind the router, with its load and health."""

    backend: AsyncBackend
    outstanding: int = 0
    """Requests in progress now."""
    served: int = 0
    """Requests sent to it so far."""
    failures: int = 0
    """Failures in a row (before a first event); 0 when it is up."""
    down_until: float | None = None
    """``time.monotonic()`` until which it gets no requests (``None``: up)."""

    def is_up(self, now: float) -> bool:
        """Up, or down with its time up (the next request probes it)."""
        return self.down_until is None or now >= self.down_until


async def _aclose(events: AsyncIterator[StreamEvent]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


class Router:
    """Spreads requests over ``backends`` and fails over; see the module docstring."""

    def __init__(
        self,
        backends: Sequence[AsyncBackend],
        *,
        down_seconds: float = 2.0,
        max_down_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not backends:
            raise BackendError("a router needs at least one backend")
        self.upstreams = [Upstream(backend) for backend in backends]
        self.down_seconds = down_seconds
        self.max_down_seconds = max_down_seconds
        self._clock = clock
        self._next = 0
        names = ", ".join(upstream.backend.name for upstream in self.upstreams)
        self.name = f"router({names})"

    def _acquire(self, tried: Sequence[Upstream] = ()) -> Upstream | None:
        """The upstream for the next try (``None``: every one was tried)."""
        # No await between choosing and counting: on one event loop this is atomic.
        now = self._clock()
        untried = [u for u in self.upstreams if all(u is not t for t in tried)]
        if not untried:
            return None
        up = {id(u) for u in untried if u.is_up(now)}
        if up:
            # Upstreams that are down or already tried count as fully loaded.
            loads = [u.outstanding if id(u) in up else _UNAVAILABLE for u in self.upstreams]
            index = pick_upstream(loads, self._next)
            self._next = (index + 1) % len(self.upstreams)
            upstream = self.upstreams[index]
        else:  # every untried one is down: the one back soonest
            upstream = min(untried, key=lambda u: u.down_until or 0.0)
        upstream.outstanding += 1
        upstream.served += 1
        return upstream

    def _failed(self, upstream: Upstream, exc: BaseException) -> None:
        upstream.failures += 1
        wait = min(self.down_seconds * 2 ** (upstream.failures - 1), self.max_down_seconds)
        upstream.down_until = self._clock() + wait
        _log.warning(
            "upstream %s failed (%s: %s); down for %.1f s, trying another",
            upstream.backend.name,
            type(exc).__name__,
            exc,
            wait,
        )

    @staticmethod
    def _succeeded(upstream: Upstream) -> None:
        upstream.failures = 0
        upstream.down_until = None

    async def _stream(
        self, start: Callable[[AsyncBackend], AsyncIterator[StreamEvent]]
    ) -> AsyncGenerator[StreamEvent, None]:
        tried: list[Upstream] = []
        while True:
            upstream = self._acquire(tried)
            if upstream is None:
                raise AssertionError("unreachable: the last failure is raised")
            tried.append(upstream)
            started = False
            try:
                events = start(upstream.backend)
                try:
                    async for event in events:
                        if not started:
                            started = True
                            self._succeeded(upstream)
                        yield event
                    if not started:
                        self._succeeded(upstream)
                    return
                finally:
                    await _aclose(events)
            except Exception as exc:
                if started or not is_upstream_fault(exc):
                    raise
                self._failed(upstream, exc)
                if len(tried) == len(self.upstreams):
                    raise
            finally:
                upstream.outstanding -= 1

    async def _call(self, call: Callable[[AsyncBackend], Awaitable[T]]) -> T:
        tried: list[Upstream] = []
        while True:
            upstream = self._acquire(tried)
            if upstream is None:
                raise AssertionError("unreachable: the last failure is raised")
            tried.append(upstream)
            try:
                result = await call(upstream.backend)
            except Exception as exc:
                if not is_upstream_fault(exc):
                    raise
                self._failed(upstream, exc)
                if len(tried) == len(self.upstreams):
                    raise
            else:
                self._succeeded(upstream)
                return result
            finally:
                upstream.outstanding -= 1

    def chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(lambda backend: backend.chat(request))

    def generate(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(lambda backend: backend.generate(request))

    async def embed(self, request: EmbedRequest) -> EmbedResponse:
        return await self._call(lambda backend: backend.embed(request))

    async def aclose(self) -> None:
        """Close every upstream (all of them, even when one fails)."""
        failure: BaseException | None = None
        for upstream in self.upstreams:
            try:
                await upstream.backend.aclose()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
