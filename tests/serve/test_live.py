"""A real uvicorn on 127.0.0.1: client disconnects stop generation; many streams at once."""

from __future__ import annotations

import json
import time

import anyio
import httpx
import pytest
from serve_helpers import CountingMock, live_server

from llmkit.serve import create_app

WORDS = " ".join(f"w{index}" for index in range(200))  # 200 events: 10 s at 50 ms each
CHAT = {"model": "m", "messages": [{"role": "user", "content": WORDS}]}


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def slow():
    return CountingMock(delay=0.05)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/chat", CHAT),
        ("/api/generate", {"model": "m", "prompt": WORDS}),
        ("/v1/chat/completions", {**CHAT, "stream": True}),
        ("/v1/completions", {"model": "m", "prompt": WORDS, "stream": True}),
    ],
)
def test_a_client_leaving_mid_stream_stops_generation(slow, path, body):
    with live_server(create_app(slow, models=["m"])) as url, httpx.Client(base_url=url) as client:
        with client.stream("POST", path, json=body) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            got = [next(lines) for _ in range(3)]
            assert all(got[::2])
        # the response is closed: the connection goes away mid-stream
        assert slow.closed_event.wait(5), "the backend's stream was not closed"
        produced = slow.produced
        assert produced < 40, f"generation went on after the client left ({produced} events)"
        time.sleep(0.3)
        assert slow.produced == produced, "events were still produced after the close"


def test_a_client_leaving_a_whole_request_stops_generation_too(slow):
    with live_server(create_app(slow, models=["m"])) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/api/chat", json={**CHAT, "stream": False}, timeout=0.5)
        assert slow.closed_event.wait(5), "the backend's stream was not closed"
        assert slow.produced < 40


def test_after_a_disconnect_the_backend_serves_the_next_request(slow):
    with live_server(create_app(slow, models=["m"])) as url, httpx.Client(base_url=url) as client:
        with client.stream("POST", "/api/chat", json=CHAT) as response:
            next(response.iter_lines())
        assert slow.closed_event.wait(5)
        slow.delay = 0
        reply = client.post("/api/chat", json={**CHAT, "stream": False}).json()
        assert reply["message"]["content"] == WORDS


def test_a_router_stream_is_closed_upstream_when_the_client_leaves():
    upstreams = [CountingMock(delay=0.05), CountingMock(delay=0.05)]
    with live_server(create_app(upstreams, models=["m"])) as url, httpx.Client(base_url=url) as c:
        with c.stream("POST", "/api/chat", json=CHAT) as response:
            next(response.iter_lines())
        assert upstreams[0].closed_event.wait(5)
        assert upstreams[0].produced < 40 and upstreams[1].produced == 0


def test_many_concurrent_streams_all_complete_with_the_same_content():
    backends = [CountingMock(), CountingMock()]
    app = create_app(backends, models=["m"])
    prompts = [f"request {index} says " + " ".join(["word"] * (index % 7)) for index in range(60)]

    async def one(client: httpx.AsyncClient, prompt: str) -> str:
        body = {"model": "m", "messages": [{"role": "user", "content": prompt}]}
        text = ""
        async with client.stream("POST", "/api/chat", json=body) as response:
            async for line in response.aiter_lines():
                chunk = json.loads(line)
                text += chunk["message"]["content"]
                if chunk["done"]:
                    assert chunk["done_reason"] == "stop"
        return text

    async def run_all(url: str) -> list[str]:
        results: dict[int, str] = {}
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

            async def keep(index: int, prompt: str) -> None:
                results[index] = await one(client, prompt)

            async with anyio.create_task_group() as group:
                for index, prompt in enumerate(prompts):
                    group.start_soon(keep, index, prompt)
        return [results[index] for index in range(len(prompts))]

    with live_server(app) as url:
        assert anyio.run(run_all, url) == prompts
    assert sum(b.streams_closed for b in backends) == len(prompts)
    assert all(b.streams_closed > 10 for b in backends), "the router did not spread the load"
