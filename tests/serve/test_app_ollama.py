"""Every Ollama route over the mock backend, through httpx's ASGI transport."""

from __future__ import annotations

import json

import ollama
import pytest
from serve_helpers import FailingBackend, asgi_client

from llmkit.backends.mock import MockBackend
from llmkit.errors import GenerationError, UnsupportedOptionError
from llmkit.serve import create_app
from llmkit.types.events import Done, TextDelta

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "hello there world"}]


def lines(response) -> list[dict]:
    assert response.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.text.splitlines()]


async def test_root_says_ollama_is_running(client):
    for method in ("GET", "HEAD"):
        response = await client.request(method, "/")
        assert response.status_code == 200
    assert (await client.get("/")).text == "Ollama is running"


async def test_version(client):
    body = (await client.get("/api/version")).json()
    assert body["version"].count(".") >= 2


async def test_chat_streams_ndjson_by_default(client):
    response = await client.post("/api/chat", json={"model": "mock", "messages": USER})
    chunks = lines(response)
    assert [c["message"]["content"] for c in chunks[:-1]] == ["hello ", "there ", "world"]
    assert all(c["done"] is False and c["model"] == "mock" for c in chunks[:-1])
    final = chunks[-1]
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["message"] == {"role": "assistant", "content": ""}
    assert final["eval_count"] == 3


async def test_chat_whole(client):
    response = await client.post(
        "/api/chat", json={"model": "mock:latest", "messages": USER, "stream": False}
    )
    body = response.json()
    assert response.headers["content-type"] == "application/json"
    assert body["message"] == {"role": "assistant", "content": "hello there world"}
    assert body["model"] == "mock:latest" and body["done"] is True


async def test_options_reach_the_backend(client):
    body = {"model": "mock", "messages": USER, "stream": False, "options": {"num_predict": 2}}
    response = (await client.post("/api/chat", json=body)).json()
    assert response["message"]["content"] == "hello there "
    assert response["done_reason"] == "length"


async def test_generate_streams_and_answers_whole(client):
    chunks = lines(await client.post("/api/generate", json={"model": "mock", "prompt": "a b"}))
    assert "".join(c["response"] for c in chunks) == "a b"
    assert chunks[-1]["done"] is True
    body = (
        await client.post(
            "/api/generate",
            json={"model": "mock", "prompt": "a b", "stream": False, "suffix": "", "system": ""},
        )
    ).json()
    assert body["response"] == "a b" and body["done_reason"] == "stop"


async def test_nothing_to_generate_is_a_load(client):
    chat = (await client.post("/api/chat", json={"model": "mock"})).json()
    assert chat["done_reason"] == "load" and chat["message"]["content"] == ""
    generate = (await client.post("/api/generate", json={"model": "mock", "keep_alive": 0})).json()
    assert generate["done_reason"] == "unload"


async def test_embed_and_legacy_embeddings(client):
    body = (await client.post("/api/embed", json={"model": "mock", "input": ["a", "b"]})).json()
    assert body["model"] == "mock" and len(body["embeddings"]) == 2
    assert len(body["embeddings"][0]) == 8
    empty = (await client.post("/api/embed", json={"model": "mock", "input": []})).json()
    assert empty["embeddings"] == []
    legacy = (await client.post("/api/embeddings", json={"model": "mock", "prompt": "a"})).json()
    assert legacy["embedding"] == body["embeddings"][0]


async def test_tags_show_and_ps(client):
    tags = (await client.get("/api/tags")).json()
    assert [m["name"] for m in tags["models"]] == ["mock"]
    shown = (await client.post("/api/show", json={"model": "mock"})).json()
    assert shown["model_info"] == {} and shown["capabilities"] == ["completion"]
    assert (await client.get("/api/ps")).json() == {"models": []}
    await client.post("/api/chat", json={"model": "mock", "messages": USER, "keep_alive": "1m"})
    (running,) = (await client.get("/api/ps")).json()["models"]
    assert running["name"] == "mock" and running["expires_at"].endswith("Z")
    await client.post("/api/generate", json={"model": "mock", "keep_alive": 0})
    assert (await client.get("/api/ps")).json() == {"models": []}


async def test_ps_answers_whatever_keep_alive_was_stored(mock_app, client):
    running = mock_app.state.llmkit.running
    served = mock_app.state.llmkit.catalog.find("mock")
    for keep_alive in (1e20, float("inf"), 9_223_372_036.0):
        running.touch(served, keep_alive, now=1e12)
        (entry,) = (await client.get("/api/ps")).json()["models"]
        assert entry["expires_at"].endswith("Z")


async def test_a_context_within_the_vocabulary_is_fine(client):
    body = {"model": "mock", "prompt": "x y", "context": [0, 5, 2**31 - 1], "stream": False}
    assert (await client.post("/api/generate", json=body)).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/chat", None, 400, "missing request body"),
        ("/api/chat", "[1]", 400, "must be a JSON object"),
        ("/api/chat", "{bad", 400, "invalid JSON"),
        ("/api/chat", {"messages": USER}, 400, "model is required"),
        ("/api/chat", {"model": "nope", "messages": USER}, 404, "model 'nope' not found"),
        ("/api/chat", {"model": "mock", "messages": USER, "options": {"top_k": 3}}, 400, "top_k"),
        (
            "/api/chat",
            {"model": "mock", "messages": USER, "options": {"temperature": -1}},
            400,
            "options.temperature",
        ),
        ("/api/chat", {"model": "mock", "messages": [{"role": "robot"}]}, 400, "messages.0.role"),
        ("/api/chat", {"model": "mock", "messages": USER, "keep_alive": "soon"}, 400, "keep_alive"),
        ("/api/generate", {"model": "mock", "prompt": "x", "logprobs": True}, 400, "logprobs"),
        ("/api/embed", {"model": "mock", "input": [1]}, 400, "invalid input type"),
        ("/api/show", {}, 400, "model is required"),
        ("/api/show", {"model": "nope"}, 404, "not found"),
        ("/api/pull", {"model": "smollm2"}, 400, "no model store"),
        ("/api/chat", '{"model": "\\ud800", "messages": []}', 400, "model: not valid UTF-8"),
        ("/api/chat", {"model": "mock", "keep_alive": "inf"}, 400, "keep_alive"),
        ("/api/generate", {"model": "mock", "keep_alive": 1e20}, 400, "keep_alive"),
        ("/api/embed", {"model": "mock", "input": "x", "keep_alive": "1e20"}, 400, "keep_alive"),
        (
            "/api/embeddings",
            {"model": "mock", "prompt": "x", "keep_alive": "inf"},
            400,
            "keep_alive",
        ),
        ("/api/generate", {"model": "mock", "prompt": "x", "context": [1, -1]}, 400, "context"),
        ("/api/generate", {"model": "mock", "prompt": "x", "context": [2**31]}, 400, "context"),
        ("/api/show", {"model": "mock", "options": {"num_ctx": 1}}, 400, "options"),
        ("/api/show", {"model": "mock", "verbose": "yes"}, 400, "verbose"),
        ("/api/chat", "[" * 5000 + "]" * 5000, 400, "deeper than 100 levels"),
    ],
)
async def test_errors_are_ollamas_error_object(client, path, body, status, words):
    if body is None:
        response = await client.post(path)
    elif isinstance(body, str):
        response = await client.post(path, content=body)
    else:
        response = await client.post(path, json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert list(response.json()) == ["error"]
    assert words in response.json()["error"]


async def test_an_error_before_the_first_event_is_a_status_not_a_stream():
    app = create_app(FailingBackend(UnsupportedOptionError("top_k", "x"), after=0), models=["m"])
    async with asgi_client(app) as client:
        response = await client.post("/api/chat", json={"model": "m", "messages": USER})
    assert response.status_code == 400
    assert response.json() == {"error": "option 'top_k' is not supported by the x backend"}


async def test_an_error_mid_stream_is_the_last_ndjson_line():
    app = create_app(
        FailingBackend(GenerationError("the runtime fell over"), after=2), models=["m"]
    )
    async with asgi_client(app) as client:
        response = await client.post("/api/generate", json={"model": "m", "prompt": "x"})
        assert response.status_code == 200
        chunks = lines(response)
        assert [c["response"] for c in chunks[:2]] == ["part0 ", "part1 "]
        assert chunks[-1] == {"error": "the runtime fell over"}
        whole = await client.post(
            "/api/generate", json={"model": "m", "prompt": "x", "stream": False}
        )
        assert whole.status_code == 500 and whole.json() == {"error": "the runtime fell over"}


async def test_a_stream_without_its_final_event_ends_in_an_error_line():
    app = create_app(MockBackend(script=[[TextDelta(text="half")]]), models=["m"])
    async with asgi_client(app) as client:
        chunks = lines(await client.post("/api/chat", json={"model": "m", "messages": USER}))
    assert chunks[0]["message"]["content"] == "half"
    assert "without its final event" in chunks[-1]["error"]


async def test_scripted_events_come_through_in_order():
    script = [[TextDelta(text="a"), TextDelta(text="b"), Done(done_reason="length")]]
    app = create_app(MockBackend(script=script), models=["m"])
    async with asgi_client(app) as client:
        chunks = lines(await client.post("/api/chat", json={"model": "m", "messages": USER}))
    assert [c["message"]["content"] for c in chunks] == ["a", "b", ""]
    assert chunks[-1]["done_reason"] == "length"


async def test_unknown_routes_and_methods():
    async with asgi_client(create_app(MockBackend())) as client:
        missing = await client.get("/api/nothing")
        assert missing.status_code == 404 and "error" in missing.json()
        wrong = await client.get("/api/chat")
        assert wrong.status_code == 405 and wrong.json() == {
            "error": "method GET is not allowed for /api/chat"
        }


async def test_the_official_ollama_client_over_the_app(mock_app):
    import httpx

    client = ollama.AsyncClient(
        host="http://testserver", transport=httpx.ASGITransport(app=mock_app)
    )
    reply = await client.chat(model="mock", messages=USER)
    assert reply.message.content == "hello there world" and reply.done
    parts = [part async for part in await client.chat(model="mock", messages=USER, stream=True)]
    assert "".join(p.message.content for p in parts) == "hello there world"
    assert parts[-1].done_reason == "stop"
    generated = await client.generate(model="mock", prompt="one two")
    assert generated.response == "one two"
    listed = await client.list()
    assert [m.model for m in listed.models] == ["mock"]
    embedded = await client.embed(model="mock", input=["x", "y"])
    assert len(embedded.embeddings) == 2
    shown = await client.show("mock")
    assert shown.capabilities == ["completion"]
    with pytest.raises(ollama.ResponseError) as caught:
        await client.chat(model="nope", messages=USER)
    assert caught.value.status_code == 404 and "not found" in caught.value.error


async def test_streams_refusals_and_whole_answers_take_turns_on_one_threaded_backend(client):
    """A synchronous backend's stream holds a task-owned lock: each must be released."""
    refused = {"model": "mock", "messages": USER, "options": {"top_k": 1}}
    streamed = {"model": "mock", "messages": USER}
    for _ in range(3):
        assert (await client.post("/api/chat", json=refused)).status_code == 400
        assert lines(await client.post("/api/chat", json=streamed))[-1]["done"] is True
        whole = await client.post("/api/chat", json={**streamed, "stream": False})
        assert whole.json()["message"]["content"] == "hello there world"
        sse = await client.post("/v1/chat/completions", json={**streamed, "stream": True})
        assert sse.text.endswith("data: [DONE]\n\n")
