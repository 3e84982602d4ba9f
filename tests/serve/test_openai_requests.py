"""OpenAI request bodies → llmkit requests (pure)."""

from __future__ import annotations

import base64

import pytest

from llmkit.errors import InvalidRequestError
from llmkit.serve.openai_requests import (
    chat_request,
    completion_request,
    embedding_request,
    openai_param,
)

USER = [{"role": "user", "content": "hi"}]
PNG = base64.b64encode(b"\x89PNG fake image bytes").decode()


def chat(**fields):
    return chat_request({"model": "m", "messages": USER, **fields})


def refused(call, param):
    with pytest.raises(InvalidRequestError) as caught:
        call()
    assert caught.value.fields[0] == param, caught.value
    return caught.value


def test_the_standard_sampling_arguments_become_options():
    call = chat(
        temperature=0.5,
        top_p=0.9,
        max_tokens=20,
        stop="END",
        seed=7,
        frequency_penalty=0.1,
        presence_penalty=-0.2,
    )
    options = call.request.options
    assert options.given() == {
        "temperature": 0.5,
        "top_p": 0.9,
        "num_predict": 20,
        "stop": ["END"],
        "seed": 7,
        "frequency_penalty": 0.1,
        "presence_penalty": -0.2,
    }
    assert call.model == "m" and call.stream is False and call.include_usage is False


def test_server_extras_of_llama_cpp_and_vllm_become_options():
    options = chat(
        top_k=40,
        min_p=0.05,
        typical_p=0.9,
        tfs_z=1.0,
        repetition_penalty=1.1,
        repeat_last_n=64,
        penalize_nl=True,
        mirostat_mode=2,
        mirostat_tau=5.0,
        mirostat_eta=0.1,
    ).request.options
    assert options.top_k == 40 and options.min_p == 0.05 and options.typical_p == 0.9
    assert options.repeat_penalty == 1.1 and options.repeat_last_n == 64
    assert options.penalize_newline is True and options.mirostat == 2
    assert options.mirostat_tau == 5.0 and options.mirostat_eta == 0.1


def test_max_completion_tokens_and_conflicts():
    assert chat(max_completion_tokens=9).request.options.num_predict == 9
    assert chat(max_tokens=9, max_completion_tokens=9).request.options.num_predict == 9
    refused(lambda: chat(max_tokens=8, max_completion_tokens=9), "max_completion_tokens")
    refused(lambda: chat(repeat_penalty=1.1, repetition_penalty=1.2), "repetition_penalty")


def test_no_sampling_arguments_no_options():
    assert chat().request.options is None


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"presence_penalty": 3}, "presence_penalty"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"n": 17}, "n"),
        ({"top_logprobs": 3}, "top_logprobs"),  # without logprobs: true
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"audio": {"voice": "x"}}, "audio"),
        ({"grammar": "root ::= x"}, "grammar"),
        ({"min_tokens": 3}, "min_tokens"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        (
            {"chat_template_kwargs": {"add_generation_prompt": False}},
            "chat_template_kwargs.add_generation_prompt",
        ),
        (
            {"chat_template_kwargs": {"enable_thinking": "yes"}},
            "chat_template_kwargs.enable_thinking",
        ),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_what_cannot_be_honoured_is_refused_naming_the_argument(fields, param):
    refused(lambda: chat(**fields), param)


def test_labels_are_accepted_without_effect():
    call = chat(user="u1", metadata={"k": "v"}, store=False, service_tier="auto", n=1)
    assert call.request.options is None


def test_stream_and_usage():
    call = chat(stream=True, stream_options={"include_usage": True})
    assert call.stream is True and call.include_usage is True
    assert chat(stream=True).include_usage is False


def test_messages_roles_parts_and_images():
    call = chat_request(
        {
            "model": "m",
            "messages": [
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {"type": "text", "text": "here"},
                    ],
                },
            ],
        }
    )
    system, user = call.request.messages
    assert (system.role, system.content) == ("system", "be brief")
    assert user.content == "look\nhere" and user.images == [PNG]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://example.com/cat.png", "does not fetch"),
        ("data:image/png,rawbytes", "base64 data"),
        ("data:image/png;base64,@@@", "not valid base64"),
    ],
)
def test_images_that_cannot_be_used_are_refused(url, words):
    message = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
    error = refused(
        lambda: chat_request({"model": "m", "messages": [message]}),
        "messages.0.content.0.image_url.url",
    )
    assert words in str(error)


def test_tool_calls_and_their_answers():
    call = chat_request(
        {
            "model": "m",
            "messages": [
                *USER,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "cold"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "weather",
                        "description": "the weather",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                        },
                        "strict": True,
                    },
                }
            ],
        }
    )
    _, assistant, tool = call.request.messages
    assert assistant.content == ""
    assert assistant.tool_calls[0].id == "call_1"
    assert assistant.tool_calls[0].function.arguments == {"city": "Oslo"}
    assert (tool.tool_call_id, tool.tool_name, tool.content) == ("call_1", "weather", "cold")
    assert call.request.tools[0].function.name == "weather"
    assert call.request.tools[0].function.parameters["properties"]["city"] == {"type": "string"}


def test_tool_choice_none_offers_no_tools():
    tool = {"type": "function", "function": {"name": "f"}}
    assert chat(tools=[tool], tool_choice="none").request.tools is None
    assert chat(tools=[tool], tool_choice="auto").request.tools[0].function.name == "f"


def test_bad_tool_call_arguments_are_named():
    message = {
        "role": "assistant",
        "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{x"}}
        ],
    }
    refused(
        lambda: chat_request({"model": "m", "messages": [message]}),
        "messages.0.tool_calls.0.function.arguments",
    )


def test_message_rules():
    refused(
        lambda: chat_request({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
        "messages.0.tool_call_id",
    )
    refused(
        lambda: chat_request({"model": "m", "messages": [{"role": "function", "content": "x"}]}),
        "messages.0.role",
    )
    refused(
        lambda: chat_request({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
        "messages.0.role",
    )


def test_response_format():
    assert chat(response_format={"type": "text"}).request.format is None
    assert chat(response_format={"type": "json_object"}).request.format == "json"
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    assert chat(response_format=fmt).request.format == schema
    assert chat(response_format={"type": "json_object", "schema": schema}).request.format == schema
    refused(
        lambda: chat(response_format={"type": "json_schema", "json_schema": {"name": "x"}}),
        "response_format.json_schema.schema",
    )


def test_reasoning_effort_becomes_think():
    assert chat(reasoning_effort="high").request.think == "high"
    assert chat(reasoning_effort="none").request.think is False
    # llama.cpp's and vLLM's switch, as llmkit's own OpenAI backend sends it
    assert chat(chat_template_kwargs={"enable_thinking": True}).request.think is True
    assert chat(chat_template_kwargs={"enable_thinking": False}).request.think is False
    both = chat(reasoning_effort="low", chat_template_kwargs={"enable_thinking": True})
    assert both.request.think == "low"


def test_completions_send_the_prompt_raw():
    call = completion_request(
        {"model": "m", "prompt": ["Once upon"], "max_tokens": 5, "suffix": "end"}
    )
    assert call.request.prompt == "Once upon" and call.request.raw is True
    assert call.request.suffix == "end" and call.request.options.num_predict == 5
    refused(lambda: completion_request({"model": "m", "prompt": ["a", "b"]}), "prompt")
    refused(lambda: completion_request({"model": "m", "prompt": [1, 2, 3]}), "prompt")
    refused(lambda: completion_request({"model": "m", "prompt": "x", "echo": True}), "echo")
    refused(lambda: completion_request({"model": "m", "prompt": "x", "best_of": 2}), "best_of")
    refused(lambda: completion_request({"model": "m", "prompt": "x", "logprobs": 2}), "logprobs")


def test_embeddings():
    call = embedding_request({"model": "m", "input": ["a", "b"], "encoding_format": "base64"})
    assert call.request.input == ["a", "b"] and call.encoding_format == "base64"
    assert embedding_request({"model": "m", "input": "a"}).encoding_format == "float"
    assert embedding_request({"model": "m", "input": "a", "dimensions": 4}).request.dimensions == 4
    refused(lambda: embedding_request({"model": "m", "input": [1, 2]}), "input")
    refused(lambda: embedding_request({"model": "m", "input": []}), "input")
    refused(
        lambda: embedding_request({"model": "m", "input": "a", "encoding_format": "hex"}),
        "encoding_format",
    )
    refused(lambda: embedding_request({"input": "a"}), "model")


@pytest.mark.parametrize(
    ("field", "param"),
    [
        ("options.num_predict", "max_tokens"),
        ("options.top_k", "top_k"),
        ("options.mirostat", "mirostat_mode"),
        ("options.penalize_newline", "penalize_nl"),
        ("options.num_ctx", "num_ctx"),
        ("format", "response_format"),
        ("think", "reasoning_effort"),
        ("messages.0.images", "messages.0.images"),
    ],
)
def test_llmkit_fields_are_named_as_openai_names_them(field, param):
    assert openai_param(field) == param
