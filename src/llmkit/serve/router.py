"""A backend that spreads requests over several backends (least outstanding, then round robin).

:class:`Router` is itself an :class:`~llmkit.backends.base.AsyncBackend`, so the
server (or any :class:`~llmkit.AsyncClient`) uses one upstream or many the same
way.  Each request goes to the upstream with the fewest requests in progress;
among equals, the next one in turn after the last pick.  A request counts as
in progress from its first event until its stream is read to the end or closed
(an embedding: until it returns), so a long stream keeps its upstream busy for
as long as it runs.  The choice itself is :func:`pick_upstream`, a pure function.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from llmkit.backends.base import AsyncBackend
from llmkit.errors import BackendError
from llmkit.types.events import StreamEvent
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import EmbedResponse

__all__ = ["Router", "Upstream", "pick_upstream"]


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
    """One backend behind the router, with its load."""

    backend: AsyncBackend
    outstanding: int = 0
    """Requests in progress now."""
    served: int = 0
    """Requests sent to it so far."""


async def _aclose(events: AsyncIterator[StreamEvent]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()


class Router:
    """Spreads requests over ``backends``; see the module docstring."""

    def __init__(self, backends: Sequence[AsyncBackend]) -> None:
        if not backends:
            raise BackendError("a router needs at least one backend")
        self.upstreams = [Upstream(backend) for backend in backends]
        self._next = 0
        names = ", ".join(upstream.backend.name for upstream in self.upstreams)
        self.name = f"router({names})"

    def _acquire(self) -> Upstream:
        # No await between choosing and counting: on one event loop this is atomic.
        index = pick_upstream([u.outstanding for u in self.upstreams], self._next)
        self._next = (index + 1) % len(self.upstreams)
        upstream = self.upstreams[index]
        upstream.outstanding += 1
        upstream.served += 1
        return upstream

    async def _stream(
        self, start: Callable[[AsyncBackend], AsyncIterator[StreamEvent]]
    ) -> AsyncGenerator[StreamEvent, None]:
        upstream = self._acquire()
        try:
            events = start(upstream.backend)
            try:
                async for event in events:
                    yield event
            finally:
                await _aclose(events)
        finally:
            upstream.outstanding -= 1

    def chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(lambda backend: backend.chat(request))

    def generate(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        return self._stream(lambda backend: backend.generate(request))

    async def embed(self, request: EmbedRequest) -> EmbedResponse:
        upstream = self._acquire()
        try:
            return await upstream.backend.embed(request)
        finally:
            upstream.outstanding -= 1

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
