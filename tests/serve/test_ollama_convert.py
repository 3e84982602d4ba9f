"""Ollama's wire format on the server side: bodies in, NDJSON objects out (pure)."""

from __future__ import annotations

import json

import pytest

from llmkit.errors import InvalidRequestError, UnsupportedFeatureError
from llmkit.serve import ollama_convert as convert
from llmkit.serve.catalog import ServedModel
from llmkit.streaming.accumulator import ChatAccumulator, GenerateAccumulator
from llmkit.types.events import Done, TextDelta, ThinkingDelta, ToolCallEvent
from llmkit.types.messages import ToolCall, ToolCallFunction
from llmkit.types.responses import Usage


def ollama_python_chat_body(**extra):
    """What ollama-python 0.6 sends for client.chat(model, messages) (exclude_none dump)."""
    return {
        "model": "smollm2",
        "stream": False,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [],
        **extra,
    }


def test_stream_defaults_to_true_as_in_ollama():
    call = convert.chat_request({"model": "m", "messages": []})
    assert call.stream is True
    assert convert.chat_request({"model": "m", "stream": False}).stream is False


def test_a_chat_body_becomes_a_chat_request_without_transport_fields():
    call = convert.chat_request(
        ollama_python_chat_body(options={"temperature": 0}, format="json", keep_alive="5m")
    )
    assert call.model == "smollm2"
    assert call.request.stream is None
    assert call.request.tools is None  # [] from ollama-python means "none"
    assert call.request.options.temperature == 0
    assert call.request.format == "json"
    assert call.request.keep_alive == "5m"


def test_roles_are_lower_cased_as_ollama_does():
    call = convert.chat_request({"model": "m", "messages": [{"role": "USER", "content": "x"}]})
    assert call.request.messages[0].role == "user"


def test_model_is_required():
    for body in ({}, {"model": ""}, {"model": "  "}, {"model": 3}):
        with pytest.raises(InvalidRequestError, match="model is required"):
            convert.chat_request(body)


def test_stream_must_be_a_boolean():
    with pytest.raises(InvalidRequestError, match="stream"):
        convert.chat_request({"model": "m", "stream": "yes"})


def test_zero_values_of_fields_llmkit_lacks_mean_unset_and_other_values_are_refused():
    assert convert.chat_request({"model": "m", "width": 0, "steps": 0}).model == "m"
    with pytest.raises(UnsupportedFeatureError) as caught:
        convert.generate_request({"model": "m", "width": 512})
    assert caught.value.fields == ["width"]


def test_logprobs_are_taken_as_ollama_sends_them():
    call = convert.chat_request({"model": "m", "logprobs": True, "top_logprobs": 3})
    assert call.request.logprobs is True and call.request.top_logprobs == 3
    assert convert.generate_request({"model": "m", "logprobs": False}).request.logprobs is False


def test_unknown_fields_and_options_are_errors_naming_them():
    with pytest.raises(InvalidRequestError) as caught:
        convert.chat_request({"model": "m", "bogus": 1})
    assert caught.value.fields == ["bogus"]
    with pytest.raises(InvalidRequestError) as caught:
        convert.chat_request({"model": "m", "options": {"temprature": 1}})
    assert caught.value.fields == ["options.temprature"]


def test_ollama_python_generate_body_with_empty_strings():
    body = {
        "model": "m",
        "prompt": "hi",
        "suffix": "",
        "system": "",
        "template": "",
        "stream": False,
        "raw": False,
        "format": "",
        "images": [],
    }
    request = convert.generate_request(body).request
    assert (request.suffix, request.system, request.template, request.format) == (None,) * 4
    assert request.images is None and request.prompt == "hi"


def test_raw_refuses_template_system_and_context():
    with pytest.raises(InvalidRequestError, match="raw mode"):
        convert.generate_request({"model": "m", "prompt": "x", "raw": True, "system": "s"})


def test_embed_bodies():
    call = convert.embed_request({"model": "m", "input": ["a", "b"], "truncate": True})
    assert call.request.input == ["a", "b"] and call.request.truncate is True
    assert convert.embed_request({"model": "m"}).request.input == ""
    assert convert.embed_request({"model": "m", "dimensions": 0}).request.dimensions is None
    for bad in ([1, 2], 5, {"a": 1}):
        with pytest.raises(InvalidRequestError, match="invalid input type"):
            convert.embed_request({"model": "m", "input": bad})


def test_legacy_embeddings_body():
    call = convert.embeddings_request({"model": "m", "prompt": "hello", "keep_alive": 0})
    assert call.request.input == "hello"
    with pytest.raises(InvalidRequestError, match="bogus"):
        convert.embeddings_request({"model": "m", "prompt": "x", "bogus": 1})


def test_pull_body():
    assert convert.pull_request({"model": "smollm2", "insecure": False}) == ("smollm2", True)
    assert convert.pull_request({"name": "smollm2", "stream": False}) == ("smollm2", False)
    with pytest.raises(InvalidRequestError, match="model is required"):
        convert.pull_request({})
    with pytest.raises(InvalidRequestError, match="quantize"):
        convert.pull_request({"model": "x", "quantize": "q4"})


def done(**usage):
    return Done(
        done_reason="stop",
        created_at="2026-01-01T00:00:00Z",
        usage=Usage(**usage),
        context=[1, 2],
    )


def test_chat_chunks_are_ollamas_stream():
    chunks = convert.OllamaChunks("smollm2", "chat")
    text = chunks.chunk(TextDelta(text="Hel"))
    assert text["model"] == "smollm2" and text["done"] is False
    assert text["message"] == {"role": "assistant", "content": "Hel"}
    thinking = chunks.chunk(ThinkingDelta(text="hmm"))
    assert thinking["message"] == {"role": "assistant", "content": "", "thinking": "hmm"}
    call = ToolCall(function=ToolCallFunction(name="f", arguments={"x": 1}))
    tool = chunks.chunk(ToolCallEvent(call=call))
    assert tool["message"]["tool_calls"] == [{"function": {"name": "f", "arguments": {"x": 1}}}]
    final = chunks.chunk(done(eval_count=3, prompt_eval_count=5, total_duration=10))
    assert list(final)[:6] == [
        "model",
        "created_at",
        "message",
        "done",
        "done_reason",
        "total_duration",
    ]
    assert final["done"] is True and final["done_reason"] == "stop"
    assert final["created_at"] == "2026-01-01T00:00:00Z"
    assert final["eval_count"] == 3 and final["prompt_eval_count"] == 5
    assert "context" not in final
    assert chunks.done


def test_generate_chunks_carry_response_and_the_final_context():
    chunks = convert.OllamaChunks("m", "generate")
    assert chunks.chunk(TextDelta(text="a"))["response"] == "a"
    final = chunks.chunk(done(eval_count=1))
    assert final["response"] == "" and final["context"] == [1, 2]


def test_chunks_are_one_json_line_each():
    line = json.dumps(convert.OllamaChunks("m", "chat").chunk(TextDelta(text="a\nb")))
    assert "\n" not in line


def test_whole_chat_and_generate_answers():
    chat = ChatAccumulator("m")
    for event in (TextDelta(text="Hi "), TextDelta(text="there"), done(eval_count=2)):
        chat.add(event)
    body = convert.chat_body(chat.response(), "asked-name")
    assert body["model"] == "asked-name"
    assert body["message"] == {"role": "assistant", "content": "Hi there"}
    assert body["done"] is True and body["eval_count"] == 2

    generate = GenerateAccumulator("m")
    for event in (ThinkingDelta(text="t"), TextDelta(text="x"), done()):
        generate.add(event)
    body = convert.generate_body(generate.response(), "m")
    assert (body["response"], body["thinking"], body["context"]) == ("x", "t", [1, 2])


def test_load_and_unload_answers():
    assert convert.load_body("m", "chat", unload=False)["done_reason"] == "load"
    body = convert.load_body("m", "generate", unload=True)
    assert body["done_reason"] == "unload" and body["response"] == ""


def test_tags_and_ps():
    model = ServedModel(name="smollm2", upstream="smollm2", size=5, digest="abc")
    tags = convert.tags_body([model])["models"][0]
    assert (tags["name"], tags["model"], tags["size"], tags["digest"]) == (
        "smollm2",
        "smollm2",
        5,
        "abc",
    )
    assert set(tags["details"]) >= {"format", "family", "parameter_size", "quantization_level"}
    ps = convert.ps_body([(model, 0.0), (model, None)])["models"]
    assert ps[0]["expires_at"] == "1970-01-01T00:00:00Z"
    assert ps[1]["expires_at"].startswith("2318")
    assert ps[0]["size_vram"] == 0 and "modified_at" not in ps[0]


@pytest.mark.parametrize(
    ("context", "vocab", "words"),
    [
        ([1, -1], 10, "token id -1 at index 1 is outside the model's vocabulary of 10 tokens"),
        ([10], 10, "token id 10 at index 0"),
        ([10**12], None, "outside the token ids 0 to 2147483647"),
        ([-5], None, "token id -5"),
    ],
)
def test_a_context_token_the_model_cannot_have_is_refused(context, vocab, words):
    with pytest.raises(InvalidRequestError, match=words) as caught:
        convert.check_context(context, vocab)
    assert caught.value.fields == ["context"]


def test_a_context_within_the_vocabulary_passes():
    convert.check_context(None, 10)
    convert.check_context([], 10)
    convert.check_context([0, 9], 10)
    convert.check_context([2**31 - 1], None)
