"""``AsyncStream``: what can be generated of :mod:`llmkit.stream`'s streams.

The pure parts they share are in :mod:`llmkit._stream_state`.  What differs between
a sync and an async stream is not here but in :mod:`llmkit.stream`: the sync
``Stream`` closes when its caller breaks out of the loop, and when garbage-collected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self

from llmkit._stream_state import Accumulator, R, StreamState
from llmkit.types.events import StreamEvent, TextDelta

__all__ = ["AsyncStream"]


class _AsyncOneEach:
    """A backend's events as batches of one, for backends without ``batches()``.

    A class, not a generator function, so that no generator is left to finalise.
    """

    __slots__ = ("_events",)

    def __init__(self, events: AsyncIterator[StreamEvent]) -> None:
        self._events = events

    def __aiter__(self) -> AsyncIterator[list[StreamEvent]]:
        return self

    async def __anext__(self) -> list[StreamEvent]:
        return [await anext(self._events)]


class AsyncStream(StreamState[R]):
    """A stream of events; see :mod:`llmkit.stream`."""

    def __init__(self, events: AsyncIterator[StreamEvent], accumulator: Accumulator) -> None:
        super().__init__(accumulator)
        self._events = events

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        batches = getattr(self._events, "batches", None)
        return self._from_batches(batches() if batches is not None else _AsyncOneEach(self._events))

    async def _from_batches(
        self, batches: AsyncIterator[list[StreamEvent]]
    ) -> AsyncIterator[StreamEvent]:
        # A backend that can hands over its events a network read at a time.
        accumulator = self._accumulator
        add = accumulator.add
        add_text = accumulator.texts.append
        while not self._closed:
            try:
                batch = await anext(batches)
            except StopAsyncIteration:
                await self.aclose()
                if accumulator.done is None:
                    raise self._ended_early() from None
                return
            except Exception as exc:
                await self.aclose()
                raise self._interrupted(exc) from exc
            for event in batch:
                if type(event) is TextDelta and event.logprobs is None:
                    add_text(event.text)
                else:
                    add(event)
                try:
                    yield event
                except GeneratorExit:
                    # The caller broke out of its loop (see StreamState._left_loop).
                    self._left_loop()
                    raise
                if self._closed:
                    return

    async def text_stream(self) -> AsyncIterator[str]:
        """Only the text, piece by piece."""
        async for event in self:
            if isinstance(event, TextDelta):
                yield event.text

    async def final_response(self) -> R:
        """Read the rest of the stream and return the whole response."""
        async for _ in self:
            pass
        if not self.done:
            raise self._ended_early()
        return self.partial

    async def aclose(self) -> None:
        """Stop generation and free the backend's resources (idempotent)."""
        if self._closed:
            return
        self._closed = True
        aclose: Any = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
