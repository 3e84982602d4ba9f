"""The OpenAI backend with ``api="responses"``: chats over ``/v1/responses``, against a real
``llmkit serve`` (the real model, and the mock backend where a scripted tool call is needed),
and the pure body and event conversions."""

from __future__ import annotations

import pytest
from serve.serve_helpers import live_server

import llmkit
from llmkit.backends.http.responses_wire import ResponsesReader, responses_body
from llmkit.backends.mock import MockBackend
from llmkit.errors import UnsupportedOptionError
from llmkit.serve import create_app
from llmkit.types import ChatRequest, Done, TextDelta, ToolCall
from llmkit.types.events import ToolCallEvent

QUESTION = [
    {"role": "system", "content": "Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
]
GREEDY = {"temperature": 0, "num_predict": 16}


@pytest.mark.model
def test_a_chat_over_the_responses_api_matches_chat_completions(llama_backend):
    app = create_app(llama_backend, models=["smollm2"], close_backends=False)
    with live_server(app) as url:
        target = f"openai://{url.removeprefix('http://')}/v1"
        responses = llmkit.Client(target, api="responses", model="smollm2")
        completions = llmkit.Client(target, model="smollm2")
        via_responses = responses.chat(QUESTION, options=GREEDY)
        via_completions = completions.chat(QUESTION, options=GREEDY)
        with responses.chat(QUESTION, options=GREEDY, stream=True) as stream:
            streamed = "".join(stream.text_stream())
            final = stream.final_response()
    assert "Paris" in via_responses.message.content
    assert via_responses.message.content == via_completions.message.content == streamed
    assert via_responses.prompt_eval_count == via_completions.prompt_eval_count
    assert final.eval_count == via_responses.eval_count and final.done_reason in ("stop", "length")


def test_tool_calls_and_their_results_go_both_ways():
    call = ToolCall(id="call_7", function={"name": "get_weather", "arguments": {"city": "Rome"}})
    backend = MockBackend(
        script=[
            [ToolCallEvent(call=call), Done(model="m", done_reason="stop")],
            [TextDelta(text="Sunny."), Done(model="m", done_reason="stop")],
        ]
    )
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    with live_server(create_app(backend, models=["m"])) as url:
        client = llmkit.Client(f"openai://{url.removeprefix('http://')}/v1", api="responses")
        first = client.chat([{"role": "user", "content": "Rome?"}], model="m", tools=[tool])
        (got,) = first.message.tool_calls
        assert got.id == "call_7" and got.function.arguments == {"city": "Rome"}
        second = client.chat(
            [
                {"role": "user", "content": "Rome?"},
                first.message,
                {"role": "tool", "content": "sunny", "tool_call_id": "call_7"},
            ],
            model="m",
            tools=[tool],
        )
    assert second.message.content == "Sunny."
    sent = backend.requests[-1].messages
    assert [m.role for m in sent] == ["user", "assistant", "tool"]
    assert sent[2].tool_call_id == "call_7" and sent[2].tool_name == "get_weather"


def test_the_body_and_what_it_refuses():
    request = ChatRequest(
        model="m",
        messages=QUESTION,
        options={"temperature": 0.2, "num_predict": 5},
        think="low",
        format={"type": "object"},
        tool_choice=None,
    )
    body = responses_body(request, None)
    assert body["instructions"] == "Answer in one short sentence."
    assert body["input"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert body["max_output_tokens"] == 5 and body["temperature"] == 0.2
    assert body["reasoning"] == {"effort": "low"}
    assert body["text"]["format"]["type"] == "json_schema"
    with pytest.raises(UnsupportedOptionError) as refused:
        responses_body(ChatRequest(model="m", messages=QUESTION, options={"top_k": 5}), None)
    assert refused.value.option == "top_k"


def test_stream_events_become_llmkit_events():
    reader = ResponsesReader(url="u")
    stream = (
        b'event: response.created\ndata: {"type": "response.created", "response": {}}\n\n'
        b'event: response.output_text.delta\ndata: {"type": "response.output_text.delta",'
        b' "delta": "Hel"}\n\n'
        b'data: {"type": "response.output_text.delta", "delta": "lo"}\n\n'
        b'data: {"type": "response.output_item.done", "item": {"type": "function_call",'
        b' "call_id": "c1", "name": "f", "arguments": "{\\"x\\": 1}"}}\n\n'
        b'data: {"type": "response.incomplete", "response": {"model": "m", "status":'
        b' "incomplete", "incomplete_details": {"reason": "max_output_tokens"},'
        b' "usage": {"input_tokens": 3, "output_tokens": 2}}}\n\n'
    )
    events = reader.feed(stream[:50]) + reader.feed(stream[50:])
    assert [type(e).__name__ for e in events] == ["TextDelta", "TextDelta", "ToolCallEvent", "Done"]
    assert events[2].call.function.arguments == {"x": 1}
    assert events[3].done_reason == "length" and events[3].usage.eval_count == 2
    assert reader.done and reader.finish() == []
    cut = ResponsesReader(url="u")
    cut.feed(b'data: {"type": "response.output_text.delta", "delta": "x"}\n\n')
    with pytest.raises(llmkit.errors.ConnectionFailedError):
        cut.finish()
