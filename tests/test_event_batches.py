"""Events in batches (llmkit.streaming.batches): the same events, one step per batch, closable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from llmkit.errors import StreamInterruptedError
from llmkit.stream import AsyncStream, Stream
from llmkit.streaming.accumulator import ChatAccumulator
from llmkit.streaming.batches import AsyncEventBatches, EventBatches, batched
from llmkit.types.events import Done, StreamEvent, TextDelta, ThinkingDelta

BATCHES: list[list[StreamEvent]] = [
    [TextDelta(text="a"), ThinkingDelta(text="t")],
    [TextDelta(text="b"), TextDelta(text="c")],
    [Done(done_reason="stop", model="m2")],
]
EVENTS = [event for batch in BATCHES for event in batch]


class Source:
    """Batches from a generator that records how far it got and whether it was closed."""

    def __init__(self, batches: list[list[StreamEvent]], fail: bool = False) -> None:
        self.batches = batches
        self.fail = fail
        self.steps = 0
        self.closed = False

    def sync(self) -> Iterator[list[StreamEvent]]:
        try:
            for batch in self.batches:
                self.steps += 1
                yield batch
            if self.fail:
                raise ConnectionError("cut")
        finally:
            self.closed = True

    async def asynchronous(self) -> AsyncIterator[list[StreamEvent]]:
        try:
            for batch in self.batches:
                self.steps += 1
                yield batch
            if self.fail:
                raise ConnectionError("cut")
        finally:
            self.closed = True


def test_batched_is_an_iterator_of_the_same_events() -> None:
    source = Source(BATCHES)
    events = batched(source.sync())
    assert isinstance(events, EventBatches)
    assert list(events) == EVENTS
    events.close()
    assert source.closed


def test_stream_takes_batches_whole_and_accumulates() -> None:
    source = Source(BATCHES)
    stream = Stream(batched(source.sync()), ChatAccumulator("m"))
    assert list(stream) == EVENTS
    assert source.steps == 3
    response = stream.partial
    assert response.message.content == "abc"
    assert response.message.thinking == "t"
    assert response.model == "m2" and response.done


def test_breaking_mid_batch_closes_the_source() -> None:
    source = Source(BATCHES)
    stream = Stream(batched(source.sync()), ChatAccumulator("m"))
    for event in stream:
        if event == TextDelta(text="b"):
            break
    assert source.closed
    assert stream.partial.message.content == "ab"
    assert list(stream) == []  # closed: nothing more


def test_failure_after_output_keeps_the_partial() -> None:
    source = Source(BATCHES[:2], fail=True)
    stream = Stream(batched(source.sync()), ChatAccumulator("m"))
    with pytest.raises(StreamInterruptedError) as info:
        stream.final_response()
    assert info.value.partial.message.content == "abc"
    assert source.closed


def test_async_batches(anyio_backend: str) -> None:
    async def main() -> None:
        source = Source(BATCHES)
        events = batched(source.asynchronous())
        assert isinstance(events, AsyncEventBatches)
        assert [event async for event in events] == EVENTS
        await events.aclose()
        assert source.closed

        source = Source(BATCHES)
        stream = AsyncStream(batched(source.asynchronous()), ChatAccumulator("m"))
        assert (await stream.final_response()).message.content == "abc"
        assert source.steps == 3

        source = Source(BATCHES)
        async with AsyncStream(batched(source.asynchronous()), ChatAccumulator("m")) as stream:
            async for event in stream:
                if event == TextDelta(text="b"):
                    break
        assert source.closed
        assert stream.partial.message.content == "ab"

        source = Source(BATCHES[:2], fail=True)
        stream = AsyncStream(batched(source.asynchronous()), ChatAccumulator("m"))
        with pytest.raises(StreamInterruptedError) as info:
            await stream.final_response()
        assert info.value.partial.message.content == "abc"

    anyio.run(main, backend=anyio_backend)
