"""Every OpenAI-compatible route over the mock backend, through httpx's ASGI transport."""

from __future__ import annotations

import base64
import json
import struct

import httpx
import openai
import pytest
from serve_helpers import FailingBackend, asgi_client

from llmkit.backends.mock import MockBackend
from llmkit.errors import GenerationError, UnsupportedOptionError
from llmkit.serve import create_app
from llmkit.types.events import Done, ToolCallEvent
from llmkit.types.messages import ToolCall, ToolCallFunction

pytestmark = pytest.mark.anyio

USER = [{"role": "user", "content": "hello there world"}]


def events(response) -> list:
    """The SSE events of a response: parsed JSON, and "[DONE]" as it is."""
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.endswith("\n\n")
    out = []
    for block in response.text.split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        data = block.removeprefix("data: ")
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


async def test_chat_completion_whole(client):
    response = await client.post("/v1/chat/completions", json={"model": "mock", "messages": USER})
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "mock"
    assert body["id"].startswith("chatcmpl-")
    assert body["choices"][0]["message"]["content"] == "hello there world"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 3


async def test_chat_completion_stream_with_usage(client):
    body = {
        "model": "mock",
        "messages": USER,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 2,
    }
    chunks = events(await client.post("/v1/chat/completions", json=body))
    assert chunks[-1] == "[DONE]"
    first, *middle, finish, usage, _ = chunks
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"]["content"] for c in middle] == ["hello ", "there "]
    assert finish["choices"][0]["finish_reason"] == "length"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 2
    assert all(c["usage"] is None for c in (first, *middle, finish))
    assert len({c["id"] for c in chunks[:-1]}) == 1


async def test_completions_whole_and_streamed(client):
    whole = (await client.post("/v1/completions", json={"model": "mock", "prompt": "a b c"})).json()
    assert whole["object"] == "text_completion" and whole["choices"][0]["text"] == "a b c"
    chunks = events(
        await client.post(
            "/v1/completions", json={"model": "mock", "prompt": "a b", "stream": True}
        )
    )
    assert "".join(c["choices"][0]["text"] for c in chunks[:-1]) == "a b"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


async def test_embeddings_float_and_base64(client):
    floats = (
        await client.post("/v1/embeddings", json={"model": "mock", "input": ["a", "b"]})
    ).json()
    assert [d["index"] for d in floats["data"]] == [0, 1]
    vector = floats["data"][0]["embedding"]
    packed = (
        await client.post(
            "/v1/embeddings", json={"model": "mock", "input": "a", "encoding_format": "base64"}
        )
    ).json()["data"][0]["embedding"]
    decoded = struct.unpack(f"<{len(vector)}f", base64.b64decode(packed))
    assert list(decoded) == pytest.approx(vector, abs=1e-7)


async def test_models_and_one_model(client):
    listed = (await client.get("/v1/models")).json()
    assert listed["object"] == "list" and [m["id"] for m in listed["data"]] == ["mock"]
    one = await client.get("/v1/models/mock")
    assert one.json()["id"] == "mock" and one.json()["object"] == "model"
    missing = await client.get("/v1/models/gpt-4o")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/v1/chat/completions", {"model": "mock", "messages": USER, "top_k": 4}, 400, "top_k"),
        (
            "/v1/chat/completions",
            {"model": "mock", "messages": USER, "temperature": 3},
            400,
            "temperature",
        ),
        (
            "/v1/chat/completions",
            {"model": "mock", "messages": USER, "n": 2, "stream": True},
            400,
            "n",
        ),
        ("/v1/chat/completions", {"model": "mock", "messages": USER, "bogus": 1}, 400, "bogus"),
        ("/v1/chat/completions", {"model": "mock"}, 400, "messages"),
        ("/v1/chat/completions", {"model": "gpt-4o", "messages": USER}, 404, "model"),
        ("/v1/completions", {"model": "mock", "prompt": "x", "top_p": 0.5}, 400, "top_p"),
        ("/v1/embeddings", {"model": "mock", "input": [[1, 2]]}, 400, "input"),
        ("/v1/embeddings", {"model": "mock", "input": "x", "dimensions": 4}, None, None),
    ],
)
async def test_errors_are_openai_error_objects(client, path, body, status, param):
    response = await client.post(path, json=body)
    if status is None:
        assert response.status_code == 200
        return
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


async def test_bad_json_and_unknown_routes(client):
    bad = await client.post("/v1/chat/completions", content=b"{nope")
    assert bad.status_code == 400 and "invalid JSON" in bad.json()["error"]["message"]
    missing = await client.post("/v1/assistants", json={})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (POST /v1/assistants)"
    wrong = await client.get("/v1/chat/completions")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


async def test_an_error_before_the_first_event_is_a_status():
    app = create_app(
        FailingBackend(UnsupportedOptionError("num_predict", "x"), after=0), models=["m"]
    )
    async with asgi_client(app) as client:
        response = await client.post(
            "/v1/chat/completions", json={"model": "m", "messages": USER, "stream": True}
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "max_tokens"


async def test_an_error_mid_stream_is_an_error_event_without_done():
    app = create_app(FailingBackend(GenerationError("fell over"), after=1), models=["m"])
    async with asgi_client(app) as client:
        response = await client.post(
            "/v1/chat/completions", json={"model": "m", "messages": USER, "stream": True}
        )
    chunks = events(response)
    assert chunks[1]["choices"][0]["delta"]["content"] == "part0 "
    assert chunks[-1] == {
        "error": {"message": "fell over", "type": "server_error", "param": None, "code": None}
    }
    assert "[DONE]" not in chunks


async def test_tool_calls_stream_as_indexed_deltas():
    call = ToolCall(id="call_1", function=ToolCallFunction(name="weather", arguments={"c": "Oslo"}))
    script = [[ToolCallEvent(call=call), ToolCallEvent(call=call), Done()]] * 2
    app = create_app(MockBackend(script=script), models=["m"])
    async with asgi_client(app) as client:
        body = {"model": "m", "messages": USER}
        chunks = events(await client.post("/v1/chat/completions", json={**body, "stream": True}))
        whole = (await client.post("/v1/chat/completions", json=body)).json()
    deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks[1:3]]
    assert [d["index"] for d in deltas] == [0, 1]
    assert deltas[0]["function"] == {"name": "weather", "arguments": '{"c": "Oslo"}'}
    assert chunks[3]["choices"][0]["finish_reason"] == "tool_calls"
    message = whole["choices"][0]["message"]
    assert message["content"] is None and len(message["tool_calls"]) == 2
    assert whole["choices"][0]["finish_reason"] == "tool_calls"


def official(app, **kwargs) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url="http://testserver/v1",
        api_key=kwargs.pop("api_key", "unused"),
        http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app)),
        max_retries=0,
        **kwargs,
    )


async def test_the_official_openai_client_over_the_app(mock_app):
    client = official(mock_app)
    reply = await client.chat.completions.create(model="mock", messages=USER, max_tokens=2)
    assert reply.choices[0].message.content == "hello there "
    assert reply.choices[0].finish_reason == "length"
    stream = await client.chat.completions.create(
        model="mock", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "hello there world" and chunks[-1].usage.completion_tokens == 3
    completion = await client.completions.create(model="mock", prompt="x y")
    assert completion.choices[0].text == "x y"
    embedded = await client.embeddings.create(model="mock", input=["a", "b"])  # base64 on the wire
    floats = await client.embeddings.create(model="mock", input=["a", "b"], encoding_format="float")
    assert [d.embedding for d in embedded.data] == [d.embedding for d in floats.data]
    assert [m.id async for m in client.models.list()] == ["mock"]
    assert (await client.models.retrieve("mock")).id == "mock"


async def test_the_official_client_raises_its_own_error_classes(mock_app):
    client = official(mock_app)
    with pytest.raises(openai.NotFoundError) as missing:
        await client.chat.completions.create(model="gpt-4o", messages=USER)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="mock", messages=USER, extra_body={"top_k": 5})
    assert bad.value.param == "top_k"
    failing = official(create_app(FailingBackend(GenerationError("fell over")), models=["m"]))
    stream = await failing.chat.completions.create(model="m", messages=USER, stream=True)
    with pytest.raises(openai.APIError, match="fell over"):
        async for _ in stream:
            pass
    with pytest.raises(openai.InternalServerError):
        await failing.chat.completions.create(model="m", messages=USER)
