"""llmkit events and responses → OpenAI JSON (pure)."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from llmkit.serve.catalog import ServedModel
from llmkit.serve.openai_responses import (
    ChatCompletionChunks,
    CompletionChunks,
    chat_completion_body,
    completion_body,
    embeddings_body,
    finish_reason,
    models_body,
)
from llmkit.streaming.accumulator import ChatAccumulator, GenerateAccumulator
from llmkit.types.events import Done, TextDelta, ThinkingDelta, ToolCallEvent
from llmkit.types.messages import ToolCall, ToolCallFunction
from llmkit.types.responses import EmbedResponse, Usage

DONE = Done(done_reason="stop", usage=Usage(prompt_eval_count=7, eval_count=3))
CALL = ToolCall(id="call_9", function=ToolCallFunction(name="weather", arguments={"city": "Oslo"}))


@pytest.mark.parametrize(
    ("reason", "tools", "expected"),
    [
        ("stop", False, "stop"),
        ("length", False, "length"),
        ("stop", True, "tool_calls"),
        ("tool_calls", True, "tool_calls"),
        ("length", True, "length"),
        ("cancelled", False, "stop"),
        (None, False, "stop"),
    ],
)
def test_finish_reasons(reason, tools, expected):
    assert finish_reason(reason, tool_calls=tools) == expected


def test_a_chat_stream_as_openai_python_reads_it():
    chunks = ChatCompletionChunks("smollm2", include_usage=True, id="chatcmpl-1", created=5)
    start = chunks.start()
    assert start["object"] == "chat.completion.chunk" and start["usage"] is None
    assert start["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    (text,) = chunks.chunks(TextDelta(text="Hi"))
    assert text["choices"][0]["delta"] == {"content": "Hi"}
    (thought,) = chunks.chunks(ThinkingDelta(text="hmm"))
    assert thought["choices"][0]["delta"] == {"reasoning_content": "hmm"}
    (call,) = chunks.chunks(ToolCallEvent(call=CALL))
    delta = call["choices"][0]["delta"]["tool_calls"][0]
    assert delta["index"] == 0 and delta["id"] == "call_9" and delta["type"] == "function"
    assert json.loads(delta["function"]["arguments"]) == {"city": "Oslo"}
    finish, usage = chunks.chunks(DONE)
    assert finish["choices"][0]["finish_reason"] == "tool_calls"
    assert finish["choices"][0]["delta"] == {}
    assert usage["choices"] == [] and usage["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
    }
    assert {c["id"] for c in (start, text, finish, usage)} == {"chatcmpl-1"}


def test_without_include_usage_there_is_no_usage_field():
    chunks = ChatCompletionChunks("m")
    assert "usage" not in chunks.start()
    assert len(chunks.chunks(DONE)) == 1


def test_tool_call_deltas_are_numbered_and_get_ids():
    chunks = ChatCompletionChunks("m")
    unnamed = ToolCall(function=ToolCallFunction(name="f"))
    first = chunks.chunks(ToolCallEvent(call=unnamed))[0]["choices"][0]["delta"]["tool_calls"][0]
    second = chunks.chunks(ToolCallEvent(call=unnamed))[0]["choices"][0]["delta"]["tool_calls"][0]
    assert (first["index"], second["index"]) == (0, 1)
    assert first["id"].startswith("call-") and first["id"] != second["id"]


def test_empty_text_makes_no_chunk():
    assert ChatCompletionChunks("m").chunks(TextDelta(text="")) == []


def test_completion_stream():
    chunks = CompletionChunks("m", include_usage=True)
    (text,) = chunks.chunks(TextDelta(text="abc"))
    assert text["object"] == "text_completion" and text["choices"][0]["text"] == "abc"
    assert chunks.chunks(ThinkingDelta(text="x")) == []
    finish, usage = chunks.chunks(Done(done_reason="length"))
    assert finish["choices"][0]["finish_reason"] == "length" and usage["usage"]["total_tokens"] == 0


def test_whole_chat_completion():
    accumulator = ChatAccumulator("m")
    for event in (TextDelta(text="Hello"), DONE):
        accumulator.add(event)
    body = chat_completion_body(accumulator.response(), "asked", id="chatcmpl-x", created=1)
    assert body["object"] == "chat.completion" and body["model"] == "asked"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Hello", "refusal": None}
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == 10


def test_whole_chat_completion_with_tool_calls_and_thinking():
    accumulator = ChatAccumulator("m")
    for event in (ThinkingDelta(text="plan"), ToolCallEvent(call=CALL), DONE):
        accumulator.add(event)
    message = chat_completion_body(accumulator.response(), "m")["choices"][0]["message"]
    assert message["content"] is None and message["reasoning_content"] == "plan"
    assert message["tool_calls"][0]["function"] == {
        "name": "weather",
        "arguments": '{"city": "Oslo"}',
    }
    assert "index" not in message["tool_calls"][0]


def test_whole_completion():
    accumulator = GenerateAccumulator("m")
    for event in (TextDelta(text="abc"), DONE):
        accumulator.add(event)
    body = completion_body(accumulator.response(), "m")
    assert body["object"] == "text_completion" and body["choices"][0]["text"] == "abc"


def test_embeddings_as_floats_and_as_base64_float32():
    response = EmbedResponse(embeddings=[[0.5, -1.25, 0.1]], prompt_eval_count=2)
    floats = embeddings_body(response, "m")
    assert floats["data"][0] == {"object": "embedding", "index": 0, "embedding": [0.5, -1.25, 0.1]}
    assert floats["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    packed = embeddings_body(response, "m", "base64")["data"][0]["embedding"]
    decoded = struct.unpack("<3f", base64.b64decode(packed))
    assert decoded == struct.unpack("<3f", struct.pack("<3f", 0.5, -1.25, 0.1))


def test_models():
    model = ServedModel(name="smollm2", upstream="smollm2", modified_at="2026-01-02T03:04:05Z")
    assert models_body([model]) == {
        "object": "list",
        "data": [{"id": "smollm2", "object": "model", "created": 1767323045, "owned_by": "llmkit"}],
    }
    assert (
        models_body([ServedModel(name="x", upstream=None, modified_at="never")])["data"][0][
            "created"
        ]
        == 0
    )
