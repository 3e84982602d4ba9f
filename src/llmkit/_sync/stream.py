# Generated from src/llmkit/_async/stream.py by .ci/unasync.py; do not edit.
"""``Stream``: what can be generated of :mod:`llmkit.stream`'s streams.

The pure parts they share are in :mod:`llmkit._stream_state`.  What differs between
a sync and an async stream is not here but in :mod:`llmkit.stream`: the sync
``Stream`` closes when its caller breaks out of the loop, and when garbage-collected.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

from llmkit._stream_state import Accumulator, R, StreamState
from llmkit.types.events import StreamEvent, TextDelta

__all__ = ["Stream"]


class _OneEach:
    """A backend's events as batches of one, for backends without ``batches()``.

    A class, not a generator function, so that no generator is left to finalise.
    """

    __slots__ = ("_events",)

    def __init__(self, events: Iterator[StreamEvent]) -> None:
        self._events = events

    def __iter__(self) -> Iterator[list[StreamEvent]]:
        return self

    def __next__(self) -> list[StreamEvent]:
        return [next(self._events)]


class Stream(StreamState[R]):
    """A stream of events; see :mod:`llmkit.stream`."""

    def __init__(self, events: Iterator[StreamEvent], accumulator: Accumulator) -> None:
        super().__init__(accumulator)
        self._events = events

    def __iter__(self) -> Iterator[StreamEvent]:
        batches = getattr(self._events, "batches", None)
        return self._from_batches(batches() if batches is not None else _OneEach(self._events))

    def _from_batches(
        self, batches: Iterator[list[StreamEvent]]
    ) -> Iterator[StreamEvent]:
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
        close: Any = getattr(self._events, "close", None)
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
