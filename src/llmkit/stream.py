"""``Stream`` and ``AsyncStream``: iterators of events that are also context managers.

Iterating yields :mod:`llmkit.types.events`; leaving the ``with`` block,
calling ``close()``, breaking out of an ``async for`` inside ``async with``,
or cancelling the task closes the backend's iterator, which stops generation.
``final_response()`` reads what is left and returns the accumulated response.
A stream that fails after its first event raises
:class:`~llmkit.errors.StreamInterruptedError` with the partial response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast

from llmkit.errors import GenerationError, LLMKitError, StreamInterruptedError
from llmkit.streaming.accumulator import ChatAccumulator, GenerateAccumulator
from llmkit.types.events import StreamEvent, TextDelta
from llmkit.types.responses import ChatResponse, GenerateResponse

__all__ = ["AsyncStream", "Stream"]

R = TypeVar("R", ChatResponse, GenerateResponse)
Accumulator = ChatAccumulator | GenerateAccumulator


class _StreamState(Generic[R]):
    """What sync and async streams share: accumulation and error translation."""

    def __init__(self, accumulator: Accumulator) -> None:
        self._accumulator = accumulator
        self._closed = False

    @property
    def partial(self) -> R:
        """The response accumulated so far."""
        return cast(R, self._accumulator.response())

    @property
    def done(self) -> bool:
        """Whether the final event has arrived."""
        return self._accumulator.done is not None

    def _interrupted(self, exc: BaseException) -> BaseException:
        if self._accumulator.event_count == 0:
            if isinstance(exc, LLMKitError):
                return exc
            failure = GenerationError(f"the backend failed: {exc}")
            failure.__cause__ = exc
            return failure
        text = self._accumulator.text
        error = StreamInterruptedError(
            f"stream cut off after {len(text)} characters: {exc}", partial=self.partial
        )
        error.__cause__ = exc
        return error

    def _ended_early(self) -> StreamInterruptedError:
        return StreamInterruptedError(
            "the backend ended the stream without a final event", partial=self.partial
        )


class _OneEach:
    """A backend's events as batches of one, for backends without ``batches()``."""

    __slots__ = ("_events",)

    def __init__(self, events: Iterator[StreamEvent]) -> None:
        self._events = events

    def __iter__(self) -> Iterator[list[StreamEvent]]:
        return self

    def __next__(self) -> list[StreamEvent]:
        return [next(self._events)]


class _AsyncOneEach:
    """The async twin of :class:`_OneEach` (a class, not an async generator, so that no
    generator is left for the event loop to finalise)."""

    __slots__ = ("_events",)

    def __init__(self, events: AsyncIterator[StreamEvent]) -> None:
        self._events = events

    def __aiter__(self) -> AsyncIterator[list[StreamEvent]]:
        return self

    async def __anext__(self) -> list[StreamEvent]:
        return [await anext(self._events)]


class Stream(_StreamState[R]):
    """A synchronous stream of events; see the module docstring."""

    def __init__(self, events: Iterator[StreamEvent], accumulator: Accumulator) -> None:
        super().__init__(accumulator)
        self._events = events

    def __iter__(self) -> Iterator[StreamEvent]:
        batches = getattr(self._events, "batches", None)
        return self._from_batches(batches() if batches is not None else _OneEach(self._events))

    def _from_batches(self, batches: Iterator[list[StreamEvent]]) -> Iterator[StreamEvent]:
        # A backend that can hands over its events a network read at a time.
        accumulator = self._accumulator
        add = accumulator.add
        add_text = accumulator.texts.append
        while not self._closed:
            try:
                batch = next(batches)
            except StopIteration:
                self.close()
                if accumulator.done is None:
                    raise self._ended_early() from None
                return
            except Exception as exc:
                self.close()
                raise self._interrupted(exc) from exc
            for event in batch:
                if type(event) is TextDelta:
                    add_text(event.text)
                else:
                    add(event)
                try:
                    yield event
                except GeneratorExit:
                    # The caller broke out of its loop: stop generation now.
                    self.close()
                    raise
                if self._closed:
                    return

    def text_stream(self) -> Iterator[str]:
        """Only the text, piece by piece."""
        for event in self:
            if isinstance(event, TextDelta):
                yield event.text

    def final_response(self) -> R:
        """Read the rest of the stream and return the whole response."""
        for _ in self:
            pass
        if not self.done:
            raise self._ended_early()
        return self.partial

    def close(self) -> None:
        """Stop generation and free the backend's resources (idempotent)."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class AsyncStream(_StreamState[R]):
    """An asynchronous stream of events; see the module docstring."""

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
                if type(event) is TextDelta:
                    add_text(event.text)
                else:
                    add(event)
                yield event
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
