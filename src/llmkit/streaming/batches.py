"""Events in batches: a backend's events, a network read at a time.

A remote backend decodes each network read into a list of events (one per
token when the server paces its output, hundreds when the reads come in
bursts).  :func:`batched` wraps the iterator of those lists so that it is
still what every backend returns, an iterator of single events, while
:class:`~llmkit.stream.Stream` and :class:`~llmkit.stream.AsyncStream` can
take the lists whole through ``batches()``: one generator step per network
read instead of one per event, which in async code is a large share of the
client's CPU per token (measured in ``bench/client_overhead.py``).

Closing the wrapper closes the underlying generator (and so the connection).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from itertools import chain
from typing import overload

from llmkit.types.events import StreamEvent

__all__ = ["AsyncEventBatches", "EventBatches", "batched"]


class EventBatches(Iterator[StreamEvent]):
    """An iterator of events that also hands them over in lists (``batches()``)."""

    __slots__ = ("_batches", "_flat")

    def __init__(self, batches: Iterator[list[StreamEvent]]) -> None:
        self._batches = batches
        self._flat = chain.from_iterable(batches)

    def __iter__(self) -> EventBatches:
        return self

    def __next__(self) -> StreamEvent:
        return next(self._flat)

    def batches(self) -> Iterator[list[StreamEvent]]:
        """The lists of events; iterate these or the events, not both."""
        return self._batches

    def close(self) -> None:
        """Close the underlying generator (idempotent)."""
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()


class AsyncEventBatches(AsyncIterator[StreamEvent]):
    """An async iterator of events that also hands them over in lists (``batches()``)."""

    __slots__ = ("_batches", "_flat")

    def __init__(self, batches: AsyncIterator[list[StreamEvent]]) -> None:
        self._batches = batches
        self._flat: AsyncGenerator[StreamEvent, None] | None = None

    def __aiter__(self) -> AsyncEventBatches:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._flat is None:
            self._flat = self._flatten()
        return await anext(self._flat)

    async def _flatten(self) -> AsyncGenerator[StreamEvent, None]:
        async for batch in self._batches:
            for event in batch:
                yield event

    def batches(self) -> AsyncIterator[list[StreamEvent]]:
        """The lists of events; iterate these or the events, not both."""
        return self._batches

    async def aclose(self) -> None:
        """Close the underlying generator (idempotent)."""
        flat = self._flat
        if flat is not None:
            await flat.aclose()
        aclose = getattr(self._batches, "aclose", None)
        if aclose is not None:
            await aclose()


@overload
def batched(batches: AsyncIterator[list[StreamEvent]]) -> AsyncEventBatches: ...
@overload
def batched(batches: Iterator[list[StreamEvent]]) -> EventBatches: ...
def batched(
    batches: Iterator[list[StreamEvent]] | AsyncIterator[list[StreamEvent]],
) -> EventBatches | AsyncEventBatches:
    """Wrap a (sync or async) iterator of event lists as an iterator of events."""
    if isinstance(batches, AsyncIterator):
        return AsyncEventBatches(batches)
    return EventBatches(batches)
