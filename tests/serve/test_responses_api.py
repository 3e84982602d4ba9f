"""``POST /v1/responses`` (OpenAI's Responses API) through ``llmkit serve``, read by the
official ``openai`` client's ``responses.create``: text, streaming events, function tools,
``previous_response_id`` within the server's lifetime, ``max_output_tokens``; on the real
model and, where a scripted answer is needed (a tool call), on the mock backend."""

from __future__ import annotations

import openai
import pytest
from serve.serve_helpers import live_server

from llmkit.backends.mock import MockBackend
from llmkit.errors import InvalidRequestError
from llmkit.serve import create_app
from llmkit.serve.responses_api import responses_call
from llmkit.types.events import Done, TextDelta, ToolCallEvent
from llmkit.types.messages import ToolCall

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def client_for(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)


@pytest.mark.model
def test_text_and_its_stream_on_the_real_model(llama_backend):
    app = create_app(llama_backend, models=["smollm2"], close_backends=False)
    with live_server(app) as url:
        client = client_for(url)
        ask = {
            "model": "smollm2",
            "input": "What is the capital of France?",
            "instructions": "Answer in one short sentence.",
            "temperature": 0,
            "max_output_tokens": 24,
        }
        whole = client.responses.create(**ask)
        assert whole.object == "response" and whole.status in ("completed", "incomplete")
        assert "Paris" in whole.output_text
        assert whole.usage is not None and whole.usage.input_tokens > 10
        assert whole.usage.output_tokens <= 24

        kinds: list[str] = []
        deltas: list[str] = []
        final = None
        with client.responses.create(**ask, stream=True) as stream:
            for event in stream:
                kinds.append(event.type)
                if event.type == "response.output_text.delta":
                    deltas.append(event.delta)
                if event.type in ("response.completed", "response.incomplete"):
                    final = event.response
        assert kinds[:2] == ["response.created", "response.in_progress"]
        assert "response.output_item.added" in kinds and "response.output_text.done" in kinds
        assert final is not None and final.output_text == "".join(deltas) == whole.output_text
        numbers = [kinds.index(k) for k in ("response.created", "response.output_item.added")]
        assert numbers == sorted(numbers)

        cut = client.responses.create(
            model="smollm2", input="Write a long story.", max_output_tokens=3, temperature=0
        )
        assert cut.status == "incomplete" and cut.incomplete_details.reason == "max_output_tokens"


def test_function_tools_and_previous_response_id():
    call = ToolCall(id="call_1", function={"name": "get_weather", "arguments": {"city": "Rome"}})
    backend = MockBackend(
        script=[
            [ToolCallEvent(call=call), Done(model="m", done_reason="stop")],
            "It is sunny in Rome.",
            [TextDelta(text="Still sunny."), Done(model="m", done_reason="stop")],
        ]
    )
    app = create_app(backend, models=["m"])
    with live_server(app) as url:
        client = client_for(url)
        first = client.responses.create(
            model="m", input="Weather in Rome?", tools=[WEATHER], instructions="Be brief."
        )
        calls = [item for item in first.output if item.type == "function_call"]
        assert len(calls) == 1 and calls[0].name == "get_weather"
        assert calls[0].arguments == '{"city": "Rome"}' and calls[0].call_id == "call_1"
        assert first.tools[0].name == "get_weather"

        second = client.responses.create(
            model="m",
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
            tools=[WEATHER],
        )
        assert second.output_text == "It is sunny in Rome."
        sent = backend.requests[-1].messages
        assert [m.role for m in sent] == ["user", "assistant", "tool"]  # no old instructions
        assert sent[1].tool_calls[0].function.name == "get_weather"
        assert sent[2].tool_call_id == "call_1" and sent[2].tool_name == "get_weather"

        with client.responses.create(
            model="m", previous_response_id=second.id, input="And now?", stream=True
        ) as stream:
            done = [e for e in stream if e.type == "response.completed"]
        assert done[0].response.output_text == "Still sunny."
        assert [m.role for m in backend.requests[-1].messages] == [
            "user", "assistant", "tool", "assistant", "user",
        ]  # fmt: skip

        with pytest.raises(openai.NotFoundError) as missing:
            client.responses.create(model="m", previous_response_id="resp_nope", input="hi")
        assert missing.value.body["param"] == "previous_response_id"

        unstored = client.responses.create(model="m", input="x", store=False)
        with pytest.raises(openai.NotFoundError):
            client.responses.create(model="m", previous_response_id=unstored.id, input="y")


def test_what_it_cannot_do_is_refused_by_field():
    for body, field in [
        ({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, "tools.0.type"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input.0.content.0.type",
        ),
        ({"model": "m", "input": "x", "tool_choice": "required"}, "tool_choice"),
        ({"model": "m", "input": "x", "parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"model": "m", "input": "x", "frobnicate": 1}, "frobnicate"),
        ({"model": "m", "input": [{"type": "computer_call"}]}, "input.0.type"),
    ]:
        with pytest.raises(InvalidRequestError) as refused:
            responses_call(body)
        assert refused.value.fields == [field], (body, refused.value)
