"""The pure wire modules: request bodies, the option table, chunk readers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmkit.backends.http import ollama_wire, openai_wire
from llmkit.backends.http.connection import auth_headers, base_url_from_target
from llmkit.backends.http.openai_dialects import DIALECTS, map_options, options_table
from llmkit.errors import InvalidRequestError, UnsupportedFeatureError, UnsupportedOptionError
from llmkit.types import ChatRequest, EmbedRequest, GenerateRequest, Options
from llmkit.types.events import Done, TextDelta, ToolCallEvent
from llmkit.types.options import OLLAMA_OPTION_NAMES


def chat(**kw) -> ChatRequest:
    return ChatRequest.model_validate({"messages": [{"role": "user", "content": "hi"}], **kw})


# -- connection settings ---------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "path", "url"),
    [
        ("localhost:11434", "", "http://localhost:11434"),
        ("127.0.0.1:8000/v1", "/v1", "http://127.0.0.1:8000/v1"),
        ("127.0.0.1:8000", "/v1", "http://127.0.0.1:8000/v1"),
        ("api.example.com", "/v1", "https://api.example.com/v1"),
        ("gpu-box:8000", "/v1", "http://gpu-box:8000/v1"),
        ("https://api.example.com/v1/", "/v1", "https://api.example.com/v1"),
        ("[::1]:11434", "", "http://[::1]:11434"),
    ],
)
def test_base_url_from_target(target, path, url):
    assert base_url_from_target(target, default="x", path=path) == url


def test_bad_target_names_the_problem():
    with pytest.raises(InvalidRequestError, match="ftp://x"):
        base_url_from_target("ftp://x", default="x")


def test_auth_headers_argument_then_environment():
    assert auth_headers("k1", ["A"], {"A": "k2"}) == {"Authorization": "Bearer k1"}
    assert auth_headers(None, ["A", "B"], {"B": "k3"}) == {"Authorization": "Bearer k3"}
    assert auth_headers(None, ["A"], {}) == {}


# -- Ollama ----------------------------------------------------------------------


def test_ollama_body_is_the_request_itself():
    request = chat(model="m", options={"temperature": 0.5}, think="high", format={"type": "object"})
    body = ollama_wire.chat_body(request)
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "options": {"temperature": 0.5},
        "think": "high",
        "format": {"type": "object"},
        "stream": False,
    }
    assert ollama_wire.chat_body(chat(stream=True), model="fallback")["model"] == "fallback"


def test_ollama_needs_a_model():
    with pytest.raises(InvalidRequestError) as info:
        ollama_wire.chat_body(chat())
    assert info.value.fields == ["model"]


def test_ollama_reader_thinking_text_calls_done():
    reader = ollama_wire.OllamaChunkReader(chat=True)
    events = reader.events(
        {
            "message": {
                "role": "assistant",
                "thinking": "hmm",
                "content": "ok",
                "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}],
            },
            "done": True,
            "done_reason": "stop",
            "eval_count": 2,
            "model": "m",
        }
    )
    assert [e.type for e in events] == ["thinking", "text", "tool_call", "done"]
    assert events[-1].usage.eval_count == 2


def test_ollama_continuations():
    body = ollama_wire.chat_body(chat(model="m"))
    resumed = ollama_wire.continue_chat_body(body, "So far", "")
    assert resumed["messages"][-1] == {"role": "assistant", "content": "So far"}
    gen = ollama_wire.generate_body(GenerateRequest(model="m", prompt="P"))
    assert ollama_wire.continue_generate_body(gen, "x") is None
    raw = ollama_wire.generate_body(GenerateRequest(model="m", prompt="P", raw=True))
    assert ollama_wire.continue_generate_body(raw, "x")["prompt"] == "Px"


# -- OpenAI: options and bodies ----------------------------------------------------


def test_every_option_is_mapped_or_rejected_in_every_dialect():
    for dialect in DIALECTS:
        for name in OLLAMA_OPTION_NAMES:
            value = (
                [""]
                if name == "stop"
                else True
                if isinstance(Options.model_fields[name].annotation, type)
                and Options.model_fields[name].annotation is bool
                else 1
            )
            try:
                options = Options.model_validate({name: value})
            except Exception:
                continue
            try:
                body = map_options(options, dialect, chat=True)
            except UnsupportedOptionError as exc:
                assert exc.option == name
                assert f"options.{name}" in exc.fields
            else:
                assert len(body) == 1


def test_dialect_fields():
    options = Options(num_predict=5, top_k=3, repeat_penalty=1.2, mirostat=2)
    assert map_options(options, "llama-cpp-python", chat=True) == {
        "max_tokens": 5,
        "top_k": 3,
        "repeat_penalty": 1.2,
        "mirostat_mode": 2,
    }
    assert map_options(Options(num_predict=5), "openai", chat=True) == {"max_completion_tokens": 5}
    assert map_options(Options(num_predict=5), "openai", chat=False) == {"max_tokens": 5}
    assert map_options(Options(repeat_penalty=1.1), "vllm", chat=True) == {
        "repetition_penalty": 1.1
    }
    with pytest.raises(UnsupportedOptionError, match="fixed when the server loads"):
        map_options(Options(num_ctx=4096), "llama.cpp", chat=True)
    with pytest.raises(UnsupportedOptionError, match=r"llama\.cpp, llama-cpp-python, vllm"):
        map_options(Options(top_k=3), "generic", chat=True)
    assert map_options(Options(extra={"top_k": 3}), "generic", chat=True) == {"top_k": 3}
    with pytest.raises(InvalidRequestError, match="known: generic"):
        map_options(None, "nope", chat=True)


def test_options_table_covers_every_option():
    table = options_table()
    for name in OLLAMA_OPTION_NAMES:
        assert f"| `{name}` |" in table


def test_chat_body_images_tools_and_ids():
    request = ChatRequest.model_validate(
        {
            "messages": [
                {"role": "user", "content": "look", "images": [b"\x89PNG\r\n"]},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": "f", "arguments": {"x": "é"}}}],
                },
                {"role": "tool", "content": "done", "tool_name": "f"},
            ],
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ],
            "format": {"type": "object"},
            "think": "low",
        }
    )
    body = openai_wire.chat_body(request, "m", "generic")
    user, assistant, tool = body["messages"]
    assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"x": "é"}'
    assert tool["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["reasoning_effort"] == "low"
    cpp = openai_wire.chat_body(request.model_copy(update={"think": None}), "m", "llama-cpp-python")
    assert cpp["response_format"] == {"type": "json_object", "schema": {"type": "object"}}


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (chat(keep_alive="5m"), "keep_alive"),
        (chat(think=True), "think"),
        (chat(truncate=True), "truncate"),
        (
            ChatRequest.model_validate({"messages": [{"role": "tool", "content": "x"}]}),
            "messages.0.tool_call_id",
        ),
        (
            ChatRequest.model_validate(
                {"messages": [{"role": "assistant", "content": "x", "images": ["aGk="]}]}
            ),
            "messages.0.images",
        ),
    ],
)
def test_fields_a_server_cannot_take_are_rejected(request_, field):
    with pytest.raises(UnsupportedFeatureError) as info:
        openai_wire.chat_body(request_, "m", "generic")
    assert info.value.field == field


def test_completion_and_embed_bodies():
    body = openai_wire.completion_body(
        GenerateRequest(prompt="P", suffix="S", stream=True), None, "generic"
    )
    assert body == {
        "prompt": "P",
        "suffix": "S",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    for field in ("system", "template", "images"):
        value = ["aGk="] if field == "images" else "x"
        with pytest.raises(UnsupportedFeatureError):
            openai_wire.completion_body(
                GenerateRequest.model_validate({"prompt": "P", field: value}), None, "generic"
            )
    assert openai_wire.embed_body(EmbedRequest(input=["a"], dimensions=8), "m", "generic") == {
        "input": ["a"],
        "encoding_format": "float",
        "model": "m",
        "dimensions": 8,
    }


# -- OpenAI: the chunk reader ------------------------------------------------------

CALL_CHUNKS = [
    {"choices": [{"index": 0, "delta": {"content": "Sure"}}]},
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {"index": 0, "id": "a", "function": {"name": "get", "arguments": '{"q": '}}
                    ]
                },
            }
        ]
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {"index": 1, "id": "b", "function": {"name": "put", "arguments": "{}"}}
                    ]
                },
            }
        ]
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"日本"}'}}]},
            }
        ]
    },
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 6}},
]


def test_tool_calls_are_assembled_from_argument_deltas():
    reader = openai_wire.OpenAIChunkReader(chat=True)
    events = [e for c in CALL_CHUNKS for e in reader.events(c)] + reader.finish()
    assert isinstance(events[0], TextDelta)
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [(c.id, c.function.name, c.function.arguments, c.function.index) for c in calls] == [
        ("a", "get", {"q": "日本"}, 0),
        ("b", "put", {}, 1),
    ]
    done = events[-1]
    assert isinstance(done, Done)
    assert (done.done_reason, done.usage.prompt_eval_count, done.usage.eval_count) == (
        "tool_calls",
        4,
        6,
    )
    assert reader.finish() == []


@given(st.lists(st.integers(1, 6), min_size=1, max_size=30))
def test_argument_split_does_not_matter(sizes):
    text = json.dumps({"city": "Zürich", "days": [1, 2], "note": 'a "quoted" word'})
    pieces, start = [], 0
    for size in sizes:
        pieces.append(text[start : start + size])
        start += size
    pieces.append(text[start:])
    reader = openai_wire.OpenAIChunkReader(chat=True)
    for piece in pieces:
        reader.events(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "function": {
                                        "name": "" if piece is not pieces[0] else "w",
                                        "arguments": piece,
                                    },
                                }
                            ]
                        },
                    }
                ]
            }
        )
    [call, _done] = reader.finish()
    assert call.call.function.arguments == json.loads(text)


def test_bad_arguments_are_an_error_with_the_text():
    reader = openai_wire.OpenAIChunkReader(chat=True)
    reader.events(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "function": {"name": "f", "arguments": "{oops"}}
                        ]
                    },
                }
            ]
        }
    )
    with pytest.raises(Exception, match="oops"):
        reader.finish()


def test_embed_response_pools_per_token_vectors():
    data = {
        "data": [
            {"index": 1, "embedding": [[3.0, 0.0], [0.0, 0.0]]},
            {"index": 0, "embedding": [0.6, 0.8]},
        ]
    }
    response = openai_wire.embed_response(data, "u")
    assert response.embeddings == [[0.6, 0.8], [1.0, 0.0]]


def test_docs_table_is_generated_from_the_dialects():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "http.md").read_text()
    markers = r"<!-- openai-options:start -->\n(.*?)\n<!-- openai-options:end -->"
    match = re.search(markers, text, re.S)
    assert match, "docs/http.md lost its generated-table markers"
    assert match.group(1) == options_table()
