"""The in-process llama.cpp backend under hostile requests: grammars llama.cpp refuses, option
values that would exhaust the machine, and histories that made context fitting quadratic.
Each is answered at once with an error that names the field (or, for the history, quickly),
and the backend goes on serving."""

from __future__ import annotations

import time
import warnings

import pytest

import llmkit
from llmkit.errors import InvalidRequestError, UnsupportedOptionError
from llmkit.types import ChatRequest

pytestmark = pytest.mark.model

USER = [{"role": "user", "content": "Say hi."}]
WIDE_STRING = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 2048}}}
LONG_ARRAY = {"type": "array", "items": {"type": "integer"}, "maxItems": 5000}


@pytest.fixture(scope="module")
def client(llama_backend):
    return llmkit.Client(llama_backend)


def _still_answers(client) -> None:
    response = client.chat(USER, options={"num_predict": 3, "temperature": 0})
    assert response.eval_count == 3


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        (WIDE_STRING, "format.properties.name.maxLength"),
        (LONG_ARRAY, "format.maxItems"),
        ({"type": "array", "items": WIDE_STRING}, "format.items.properties.name.maxLength"),
    ],
)
def test_a_schema_llama_cpp_cannot_take_is_refused_by_field(client, schema, field):
    for call in (
        lambda: client.generate("hi", format=schema, options={"num_predict": 3}),
        lambda: client.chat(USER, format=schema, options={"num_predict": 3}),
        lambda: list(client.chat(USER, format=schema, stream=True, options={"num_predict": 3})),
    ):
        with pytest.raises(InvalidRequestError) as caught:
            call()
        assert caught.value.fields == [field]
    _still_answers(client)


def test_a_forced_tool_call_over_a_schema_llama_cpp_cannot_take_is_refused(client):
    tool = {
        "type": "function",
        "function": {"name": "f", "description": "d", "parameters": WIDE_STRING},
    }
    with pytest.raises(InvalidRequestError) as caught:
        client.chat(USER, tools=[tool], tool_choice="required", options={"num_predict": 3})
    assert caught.value.fields == ["tools.0.function.parameters.properties.name.maxLength"]
    _still_answers(client)


def test_a_grammar_llama_cpp_refuses_for_another_reason_never_reaches_the_sampler(client):
    """The bound check is only the common case: whatever llama.cpp refuses is caught by asking
    llama.cpp itself before the grammar joins a sampler chain (a refused grammar there
    crashed the process at the first token)."""
    from llama_cpp.llama_grammar import LlamaGrammar

    from llmkit_llamacpp.backend import _accepted_grammar, _RequestGrammar

    loaded = next(iter(client.backend._loaded.values()))
    refused = _RequestGrammar(LlamaGrammar.from_string('root ::= "a"{2001}'), "format", "x")
    with pytest.raises(InvalidRequestError) as caught:
        _accepted_grammar(loaded, refused)
    assert caught.value.fields == ["format"]
    missing_root = _RequestGrammar(LlamaGrammar.from_string('other ::= "a"'), "tools", "y")
    with pytest.raises(InvalidRequestError):
        _accepted_grammar(loaded, missing_root)
    fine = _RequestGrammar(LlamaGrammar.from_string('root ::= "a"{3}'), "format", "z")
    assert _accepted_grammar(loaded, fine) is fine.grammar


def test_a_schema_at_the_bound_still_works(client):
    schema = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 20}}}
    response = client.generate("hi", format=schema, options={"num_predict": 8, "temperature": 0})
    assert response.response.startswith("{")


@pytest.mark.parametrize("threads", [1000, 10**6])
def test_more_threads_than_cpus_are_refused(client, threads):
    with pytest.raises(UnsupportedOptionError) as caught:
        client.chat(USER, options={"num_thread": threads, "num_predict": 2})
    assert caught.value.option == "num_thread"


def test_a_context_beyond_the_model_s_training_is_refused_before_any_allocation(client):
    started = time.monotonic()
    with pytest.raises(InvalidRequestError) as caught:
        client.chat(USER, options={"num_ctx": 1_000_000, "num_predict": 2})
    assert caught.value.fields == ["options.num_ctx"]
    assert "8192" in str(caught.value)
    assert time.monotonic() - started < 5


def test_a_batch_larger_than_the_context_is_cut_to_it(client):
    response = client.chat(USER, options={"num_batch": 10**9, "num_predict": 2})
    assert response.eval_count == 2


def test_keep_alive_out_of_a_duration_s_range_is_refused():
    for value in (float("inf"), 1e20, -1e20):
        with pytest.raises(ValueError, match="keep_alive"):
            ChatRequest(messages=USER, keep_alive=value)


def test_a_long_history_in_a_small_context_is_fitted_quickly(client):
    """2,000 one-word messages in 256 tokens took over five minutes when every candidate was
    rendered and counted; bisection counts a dozen."""
    history = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": "word"} for i in range(2000)
    ]
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        response = client.chat(history, options={"num_ctx": 256, "num_predict": 1})
    assert time.monotonic() - started < 20
    assert response.prompt_eval_count < 256
    assert response.dropped_messages is not None and len(response.dropped_messages) > 1900


@pytest.mark.parametrize("schema", [{"a": 1}, {"type": "object", "properties": 5}, {"$ref": 7}])
def test_a_schema_the_grammar_converter_cannot_read_is_refused(client, schema):
    with pytest.raises(InvalidRequestError) as caught:
        client.chat(USER, format=schema, options={"num_predict": 3})
    assert caught.value.fields == ["format"]


def test_an_embedding_batch_beyond_the_context_is_cut_to_it(client):
    response = client.embed("hello", options={"num_batch": 10**9})
    assert len(response.embeddings[0]) > 100


@pytest.mark.parametrize("token", [-1, 10**12])
def test_context_tokens_outside_the_vocabulary_are_refused(client, token):
    with pytest.raises(InvalidRequestError) as caught:
        client.generate("hi", context=[1, 2, token], options={"num_predict": 2})
    assert caught.value.fields == ["context.2"]


def test_keep_alive_strings_out_of_range_are_refused_too():
    for value in ("inf", "1e20", "-inf", "nan"):
        with pytest.raises(ValueError, match="keep_alive"):
            ChatRequest(messages=USER, keep_alive=value)
    assert ChatRequest(messages=USER, keep_alive="5m").keep_alive == "5m"


def test_a_request_template_too_long_to_compile_quickly_is_refused(client):
    with pytest.raises(InvalidRequestError) as caught:
        client.generate(
            "hi", template="{{ .Prompt }}" + "x" * (256 * 1024), options={"num_predict": 1}
        )
    assert caught.value.fields == ["template"]
