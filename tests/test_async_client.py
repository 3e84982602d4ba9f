import time

import anyio
import pytest

import llmkit
from llmkit import MockBackend, TextDelta
from llmkit.backends import ThreadedAsyncBackend

pytestmark = pytest.mark.anyio
USER = [{"role": "user", "content": "one two three four five six"}]


async def test_async_chat_and_stream_agree():
    client = llmkit.AsyncClient("mock")
    whole = await client.chat(USER)
    async with await client.chat(USER, stream=True) as stream:
        pieces = [text async for text in stream.text_stream()]
        final = await stream.final_response()
    assert "".join(pieces) == whole.message.content == final.message.content
    await client.aclose()


async def test_sync_backend_runs_in_worker_threads():
    client = llmkit.AsyncClient(MockBackend())
    assert isinstance(client.backend, ThreadedAsyncBackend)
    response = await client.generate("a b c", options={"num_predict": 2})
    assert response.response == "a b " and response.done_reason == "length"
    assert (await client.embed("x")).embeddings


async def test_cancelling_the_task_stops_generation_promptly():
    backend = MockBackend(delay=0.05)
    client = llmkit.AsyncClient(backend)
    long_prompt = [{"role": "user", "content": " ".join(["word"] * 1000)}]
    seen = []
    started = time.monotonic()
    with anyio.move_on_after(0.3):
        async with await client.chat(long_prompt, stream=True) as stream:
            async for event in stream:
                seen.append(event)
    elapsed = time.monotonic() - started
    assert 0 < len(seen) < 20
    assert elapsed < 1.0  # 1000 words at 50 ms each would take 50 s


async def test_the_loop_is_not_blocked_while_generating():
    client = llmkit.AsyncClient(MockBackend(delay=0.02))
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await client.chat(USER)
        tg.cancel_scope.cancel()
    assert ticks >= 5


async def test_concurrent_streams_take_turns():
    client = llmkit.AsyncClient(MockBackend(delay=0.005))
    results = []

    async def one(word):
        response = await client.chat([{"role": "user", "content": f"{word} {word} {word}"}])
        results.append(response.message.content)

    async with anyio.create_task_group() as tg:
        for word in ("a", "b", "c"):
            tg.start_soon(one, word)
    assert sorted(results) == ["a a a", "b b b", "c c c"]


async def test_break_inside_async_with_closes_the_stream():
    closed = []

    def events():
        try:
            for word in ["a", "b", "c", "d"]:
                yield TextDelta(text=word)
        finally:
            closed.append(True)

    backend = MockBackend()
    backend.chat = lambda request: events()
    client = llmkit.AsyncClient(backend)
    async with await client.chat(USER, stream=True) as stream:
        async for _ in stream:
            break
    assert closed == [True]


async def test_a_stream_may_move_between_tasks(anyio_backend):
    """A web server primes a stream in the request's task and sends it from another."""
    import anyio

    from llmkit.types.events import TextDelta

    client = llmkit.AsyncClient("mock")
    stream = await client.chat([{"role": "user", "content": "one two three"}], stream=True)
    first: list = []

    async def prime():
        async for event in stream:
            first.append(event)
            break

    async with anyio.create_task_group() as tg:
        tg.start_soon(prime)
    assert isinstance(first[0], TextDelta)

    async def finish():
        await stream.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(finish)
    with anyio.fail_after(5):
        reply = await client.chat([{"role": "user", "content": "again"}])
    assert reply.text == "again"
