"""The official ``ollama`` and ``openai`` clients as witnesses of the wire formats.

The same call is made through the official client and through llmkit, to a
scripted server that records the bodies and answers both with the same bytes:
the bodies sent must be equal, and both clients must read the same answer.
"""

from __future__ import annotations

import json

import ollama
import openai
import pytest
from faultserver import Reply, ndjson, sse

from llmkit import Client
from llmkit.backends.http.ollama import OllamaBackend
from llmkit.backends.http.openai import OpenAIBackend

pytestmark = pytest.mark.timeout(60)

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather in Paris? ✓"},
]
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
OLLAMA_REPLY = [
    {
        "model": "m",
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": "Let me"},
        "done": False,
    },
    {
        "model": "m",
        "created_at": "2026-01-01T00:00:00Z",
        "message": {
            "role": "assistant",
            "content": " check.",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        "done": False,
    },
    {
        "model": "m",
        "created_at": "2026-01-01T00:00:01Z",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 10,
        "prompt_eval_count": 7,
        "eval_count": 4,
        "eval_duration": 5,
    },
]


def test_ollama_chat_body_and_reading_match_the_official_client(fault_server):
    options = {"temperature": 0.2, "num_predict": 30, "stop": ["\n\n"], "seed": 3, "num_ctx": 2048}
    fault_server.default = Reply(pieces=ndjson(*OLLAMA_REPLY), content_type="application/x-ndjson")
    official = ollama.Client(host=fault_server.url)
    chunks = list(
        official.chat(
            model="m",
            messages=MESSAGES,
            tools=[TOOL],
            options=options,
            format="json",
            keep_alive="5m",
            stream=True,
        )
    )
    mine = Client(OllamaBackend(fault_server.url)).chat(
        MESSAGES,
        model="m",
        tools=[TOOL],
        options=options,
        format="json",
        keep_alive="5m",
        stream=True,
    )
    response = mine.final_response()
    theirs, ours = (r.body for r in fault_server.received)
    assert ours == theirs
    assert response.text == "".join(c.message.content or "" for c in chunks)
    [call] = response.message.tool_calls
    [their_call] = [tc for c in chunks for tc in (c.message.tool_calls or [])]
    assert (call.function.name, call.function.arguments) == (
        their_call.function.name,
        dict(their_call.function.arguments),
    )
    assert (response.eval_count, response.prompt_eval_count, response.done_reason) == (4, 7, "stop")


def test_ollama_generate_and_embed_bodies_match(fault_server):
    fault_server.script(
        Reply(body={"model": "m", "response": "hi", "done": True}),
        Reply(body={"model": "m", "response": "hi", "done": True}),
        Reply(body={"model": "m", "embeddings": [[0.1, 0.2]]}),
        Reply(body={"model": "m", "embeddings": [[0.1, 0.2]]}),
    )
    official = ollama.Client(host=fault_server.url)
    official.generate(
        model="m", prompt="Once", suffix="end", system="S", raw=False, options={"top_k": 5}
    )
    Client(OllamaBackend(fault_server.url)).generate(
        "Once", model="m", suffix="end", system="S", raw=False, options={"top_k": 5}
    )
    official.embed(model="m", input=["a", "b"], truncate=True, dimensions=2)
    got = Client(OllamaBackend(fault_server.url)).embed(
        ["a", "b"], model="m", truncate=True, dimensions=2
    )
    bodies = [r.body for r in fault_server.received]
    assert bodies[1] == bodies[0]
    assert bodies[3] == bodies[2]
    assert got.embeddings == [[0.1, 0.2]]


def oa(delta: dict, finish=None, usage=None) -> dict:
    chunk = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        chunk["choices"] = []
        chunk["usage"] = usage
    return chunk


OPENAI_STREAM = sse(
    oa({"role": "assistant", "content": ""}),
    oa({"content": "Checking"}),
    oa(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    oa({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
    oa({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
    oa({}, finish="tool_calls"),
    oa({}, usage={"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}),
    "[DONE]",
)


def test_openai_chat_body_and_reading_match_the_official_client(fault_server):
    fault_server.default = Reply(pieces=OPENAI_STREAM, content_type="text/event-stream")
    official = openai.OpenAI(base_url=fault_server.url + "/v1", api_key="sk-test", max_retries=0)
    stream = official.chat.completions.create(
        model="m",
        messages=MESSAGES,
        tools=[TOOL],
        temperature=0.2,
        top_p=0.9,
        max_tokens=30,
        stop=["\n\n"],
        seed=3,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        response_format={"type": "json_object"},
        stream=True,
        stream_options={"include_usage": True},
    )
    text, arguments = "", ""
    for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for tc in choice.delta.tool_calls or []:
                arguments += tc.function.arguments or ""
    mine = (
        Client(OpenAIBackend(fault_server.url, api_key="sk-test"))
        .chat(
            MESSAGES,
            model="m",
            tools=[TOOL],
            options={
                "temperature": 0.2,
                "top_p": 0.9,
                "num_predict": 30,
                "stop": ["\n\n"],
                "seed": 3,
                "presence_penalty": 0.5,
                "frequency_penalty": 0.25,
            },
            format="json",
            stream=True,
        )
        .final_response()
    )
    theirs, ours = fault_server.received
    assert ours.body == theirs.body
    assert ours.headers["authorization"] == theirs.headers["authorization"] == "Bearer sk-test"
    assert mine.text == text == "Checking"
    [call] = mine.message.tool_calls
    assert call.id == "call_a"
    assert call.function.arguments == json.loads(arguments) == {"city": "Paris"}
    assert (mine.done_reason, mine.prompt_eval_count, mine.eval_count) == ("tool_calls", 9, 5)


def test_openai_tool_history_round_trips(fault_server):
    fault_server.default = Reply(
        body={
            "id": "x",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Sunny."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )
    history = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_9",
                    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                }
            ],
        },
        {"role": "tool", "content": "22C", "tool_call_id": "call_9"},
    ]
    official = openai.OpenAI(base_url=fault_server.url + "/v1", api_key="k", max_retries=0)
    official.chat.completions.create(
        model="m",
        messages=[
            history[0],
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_9",
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "arguments": json.dumps({"city": "Paris"}),
                        },
                    }
                ],
            },
            history[2],
        ],
    )
    reply = Client(OpenAIBackend(fault_server.url, api_key="k")).chat(history, model="m")
    theirs, ours = fault_server.received
    assert ours.body == theirs.body
    assert reply.text == "Sunny."
    assert reply.eval_count == 2


PROGRESS = ndjson(
    {"status": "pulling manifest"},
    {"status": "downloading", "digest": "sha256:ab", "total": 100, "completed": 50},
    {"status": "success"},
)


def test_model_management_bodies_match_the_official_client(fault_server):
    official = ollama.Client(host=fault_server.url)
    mine = OllamaBackend(fault_server.url)
    pairs = [
        (
            lambda: list(official.pull("m", stream=True)),
            lambda: list(mine.pull("m")),
            Reply(pieces=PROGRESS, content_type="application/x-ndjson"),
        ),
        (
            lambda: list(official.push("me/m", stream=True)),
            lambda: list(mine.push("me/m")),
            Reply(pieces=PROGRESS, content_type="application/x-ndjson"),
        ),
        (
            lambda: list(
                official.create(
                    model="m2",
                    from_="m",
                    system="Be brief.",
                    parameters={"temperature": 0.1},
                    stream=True,
                )
            ),
            lambda: list(
                mine.create("m2", from_="m", system="Be brief.", parameters={"temperature": 0.1})
            ),
            Reply(pieces=PROGRESS, content_type="application/x-ndjson"),
        ),
        (lambda: official.copy("m", "m3"), lambda: mine.copy("m", "m3"), Reply(body="")),
        (lambda: official.delete("m3"), lambda: mine.delete("m3"), Reply(body="")),
    ]
    for theirs, ours, reply in pairs:
        fault_server.script(reply, reply)
        their_result = theirs()
        our_result = ours()
        first, second = fault_server.received
        assert (second.method, second.path, second.body) == (first.method, first.path, first.body)
        if isinstance(our_result, list):
            assert [p.status for p in our_result] == [p.status for p in their_result]
            assert our_result[1].completed == 50 and our_result[1].total == 100
    mine.close()


def test_progress_error_line_is_a_typed_error(fault_server):
    from llmkit.errors import RemoteError

    fault_server.script(
        Reply(
            pieces=ndjson(
                {"status": "pulling manifest"},
                {"error": "pull model manifest: file does not exist"},
            )
        )
    )
    with pytest.raises(RemoteError, match="file does not exist"):
        list(OllamaBackend(fault_server.url).pull("nope"))


def test_a_shared_connection_pool(fault_server):
    import httpx

    fault_server.default = Reply(body={"version": "0.9.0"})
    shared = httpx.Client()
    first = OllamaBackend(fault_server.url, http_client=shared)
    second = OllamaBackend(fault_server.url, http_client=shared)
    assert first.version().version == second.version().version == "0.9.0"
    first.close()  # the caller owns the pool: closing a backend leaves it open
    assert second.version().version == "0.9.0"
    assert not shared.is_closed
    shared.close()
