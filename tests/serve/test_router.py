"""The router: least outstanding requests, round robin on ties, over real mock backends."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from serve_helpers import FailingBackend

from llmkit.backends import resolve_async_backend
from llmkit.backends.mock import MockBackend
from llmkit.errors import BackendError, GenerationError
from llmkit.serve.router import Router, pick_upstream
from llmkit.types.events import Done, TextDelta
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest

pytestmark = pytest.mark.anyio


def chat(text: str) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": text}])


def mocks(count: int, **kwargs) -> list[MockBackend]:
    return [MockBackend(model=f"mock{index}", **kwargs) for index in range(count)]


@given(
    outstanding=st.lists(st.integers(0, 5), min_size=1, max_size=8),
    start=st.integers(0, 20),
)
def test_the_pick_is_a_least_loaded_upstream_and_the_first_such_in_turn(outstanding, start):
    start %= len(outstanding)
    index = pick_upstream(outstanding, start)
    assert outstanding[index] == min(outstanding)
    order = [(start + step) % len(outstanding) for step in range(len(outstanding))]
    before = order[: order.index(index)]
    assert all(outstanding[i] > min(outstanding) for i in before)


def test_pick_needs_upstreams():
    with pytest.raises(ValueError, match="no upstreams"):
        pick_upstream([], 0)


def test_a_router_needs_backends():
    with pytest.raises(BackendError):
        Router([])


async def read(stream) -> list:
    return [event async for event in stream]


async def test_sequential_requests_go_round_robin():
    backends = mocks(3)
    router = Router([resolve_async_backend(b) for b in backends])
    models = []
    for index in range(6):
        events = await read(router.chat(chat(f"hello {index}")))
        models.append(events[-1].model)
    assert models == ["mock0", "mock1", "mock2", "mock0", "mock1", "mock2"]
    assert [u.served for u in router.upstreams] == [2, 2, 2]
    assert [u.outstanding for u in router.upstreams] == [0, 0, 0]
    assert router.name == "router(mock, mock, mock)"


async def test_concurrent_streams_spread_over_the_least_busy():
    backends = mocks(3, delay=0.02)
    router = Router([resolve_async_backend(b) for b in backends])
    started = []

    async def one(index: int) -> None:
        stream = router.chat(chat("one two three four"))
        first = await stream.__anext__()
        started.append([u.outstanding for u in router.upstreams])
        assert isinstance(first, TextDelta)
        async for _ in stream:
            pass

    async with anyio.create_task_group() as group:
        for index in range(6):
            group.start_soon(one, index)
    assert [u.served for u in router.upstreams] == [2, 2, 2]
    assert [u.outstanding for u in router.upstreams] == [0, 0, 0]
    assert max(max(loads) for loads in started) <= 2


async def test_a_long_stream_keeps_its_upstream_busy():
    backends = mocks(2)
    router = Router([resolve_async_backend(b) for b in backends])
    long = router.chat(chat("a b c d e f"))
    await long.__anext__()  # upstream 0 is now busy
    for _ in range(3):
        events = await read(router.chat(chat("quick")))
        assert events[-1].model == "mock1"
    await long.aclose()
    assert [u.outstanding for u in router.upstreams] == [0, 0]
    assert backends[0].requests and len(backends[1].requests) == 3


async def test_closing_a_stream_early_frees_its_upstream_and_closes_the_backends_stream():
    backend = FailingBackend(GenerationError("never reached"), after=5)
    router = Router([backend])
    stream = router.generate(GenerateRequest(prompt="x"))
    await stream.__anext__()
    assert router.upstreams[0].outstanding == 1
    await stream.aclose()
    assert router.upstreams[0].outstanding == 0


async def test_a_failing_upstream_is_freed_and_its_error_passes_through():
    router = Router([FailingBackend(GenerationError("boom"), after=1)])
    with pytest.raises(GenerationError, match="boom"):
        await read(router.chat(chat("x")))
    assert router.upstreams[0].outstanding == 0
    with pytest.raises(GenerationError):
        await router.embed(EmbedRequest(input="x"))
    assert router.upstreams[0].outstanding == 0


async def test_embeddings_are_spread_too():
    backends = mocks(2)
    router = Router([resolve_async_backend(b) for b in backends])
    for _ in range(4):
        response = await router.embed(EmbedRequest(input="hello"))
        assert len(response.embeddings[0]) == 8
    assert [len(b.requests) for b in backends] == [2, 2]


async def test_the_same_answer_whichever_upstream():
    router = Router([resolve_async_backend(b) for b in mocks(2)])
    first = await read(router.chat(chat("same words")))
    second = await read(router.chat(chat("same words")))
    assert [e.text for e in first if isinstance(e, TextDelta)] == [
        e.text for e in second if isinstance(e, TextDelta)
    ]
    assert isinstance(first[-1], Done)


async def test_aclose_closes_every_upstream_even_when_one_fails():
    class Broken(FailingBackend):
        async def aclose(self) -> None:
            raise BackendError("cannot close")

    good = FailingBackend(GenerationError("x"))
    router = Router([Broken(GenerationError("x")), good])
    with pytest.raises(BackendError, match="cannot close"):
        await router.aclose()
    assert good.closed
