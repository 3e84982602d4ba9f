"""What sync and async streams share: accumulation and error translation (pure).

:mod:`llmkit.stream` has the streams; the sync one is generated from the async
one (``_async/stream.py``), and both build on :class:`StreamState` here.
"""

from __future__ import annotations

from typing import Generic, TypeVar, cast

from llmkit.errors import GenerationError, LLMKitError, StreamInterruptedError
from llmkit.streaming.accumulator import ChatAccumulator, GenerateAccumulator
from llmkit.types.responses import ChatResponse, GenerateResponse

__all__ = ["Accumulator", "R", "StreamState"]

R = TypeVar("R", ChatResponse, GenerateResponse)
Accumulator = ChatAccumulator | GenerateAccumulator


class StreamState(Generic[R]):
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

    def _left_loop(self) -> None:
        """The caller broke out of its loop (the generator got ``GeneratorExit``).

        Nothing here: a sync :class:`~llmkit.stream.Stream` closes now; an async
        generator is finalised later, so an async stream is closed by ``aclose()``
        or ``async with``.
        """

    def _ended_early(self) -> StreamInterruptedError:
        return StreamInterruptedError(
            "the backend ended the stream without a final event", partial=self.partial
        )
