"""llmkit's OpenAI-compatible backend against llama-cpp-python's real server (SmolLM2).

The server is started by the ``llama_cpp_server`` fixture on a free local
port.  Its ``repeat_penalty`` default is 1.1 (the Python API's is 1.0), so
the comparison with the in-process backend sets it explicitly.
"""

from __future__ import annotations

import math

import anyio
import pytest

from llmkit import AsyncClient, Client
from llmkit.backends.http.openai import AsyncOpenAIBackend, OpenAIBackend
from llmkit.errors import UnsupportedOptionError
from llmkit.types.events import Done, TextDelta
from llmkit.types.responses import EmbedResponse

pytestmark = [pytest.mark.model, pytest.mark.timeout(240)]

GREEDY = {"temperature": 0, "num_predict": 24, "seed": 1, "repeat_penalty": 1.0, "top_k": 40}
QUESTION = [{"role": "user", "content": "Name three colours of the rainbow."}]


def backend(url: str) -> OpenAIBackend:
    return OpenAIBackend(url, dialect="llama-cpp-python")


def test_chat_matches_the_in_process_backend(llama_cpp_server, llama_backend):
    remote = Client(backend(llama_cpp_server)).chat(QUESTION, options=GREEDY)
    local = Client(llama_backend).chat(QUESTION, options=GREEDY)
    assert remote.text
    assert remote.text == local.text
    assert remote.done_reason == "length"
    assert remote.eval_count == 24
    assert remote.prompt_eval_count == local.prompt_eval_count


def test_streaming_yields_the_same_text(llama_cpp_server):
    client = Client(backend(llama_cpp_server))
    whole = client.chat(QUESTION, options=GREEDY).text
    with client.chat(QUESTION, options=GREEDY, stream=True) as stream:
        events = list(stream)
    pieces = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(pieces) > 3
    assert "".join(pieces) == whole
    assert isinstance(events[-1], Done)
    assert events[-1].done_reason == "length"


def test_async_streaming(llama_cpp_server, anyio_backend):
    async def main():
        async with AsyncClient(
            AsyncOpenAIBackend(llama_cpp_server, dialect="llama-cpp-python")
        ) as client:
            stream = await client.chat(QUESTION, options=GREEDY, stream=True)
            text = [piece async for piece in stream.text_stream()]
            return "".join(text)

    text = anyio.run(main, backend=anyio_backend)
    assert text == Client(backend(llama_cpp_server)).chat(QUESTION, options=GREEDY).text


def test_completions_are_raw(llama_cpp_server, llama_backend):
    prompt = "The capital of France is"
    remote = Client(backend(llama_cpp_server)).generate(prompt, options=GREEDY)
    local = Client(llama_backend).generate(prompt, raw=True, options=GREEDY)
    assert remote.text == local.text


def test_stop_strings(llama_cpp_server):
    reply = Client(backend(llama_cpp_server)).generate(
        "1, 2, 3, 4, 5,", options={**GREEDY, "stop": [" 8"]}
    )
    assert " 8" not in reply.text
    assert reply.done_reason == "stop"


def test_json_format(llama_cpp_server):
    import json

    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string"}},
        "required": ["colour"],
    }
    reply = Client(backend(llama_cpp_server)).chat(
        [{"role": "user", "content": "Give me a colour as JSON."}],
        format=schema,
        options={"temperature": 0, "num_predict": 40},
    )
    data = json.loads(reply.text)
    assert isinstance(data["colour"], str)


def test_embeddings_match_the_in_process_backend(llama_cpp_server, llama_backend):
    texts = ["The sky is blue.", "Grass is green."]
    # One text per request: for a model without pooling, llama-cpp-python 0.3.36's server
    # returns wrong per-token vectors for every input after the first of a batch (measured:
    # the same text alone and second in a batch differ by up to 39 per component).
    client = Client(backend(llama_cpp_server))
    remote = EmbedResponse(
        embeddings=[client.embed(text).embeddings[0] for text in texts],
    )
    local = Client(llama_backend).embed(texts)
    assert len(remote.embeddings) == 2
    assert len(remote.embeddings[0]) == len(local.embeddings[0]) == 576
    for r, mine in zip(remote.embeddings, local.embeddings, strict=True):
        assert math.isclose(math.sqrt(sum(x * x for x in r)), 1.0, rel_tol=1e-6)
        cosine = sum(a * b for a, b in zip(r, mine, strict=True))
        # Same pooling (mean, then L2): the vectors agree.
        assert cosine > 0.9999
    # The two texts are told apart.
    assert sum(a * b for a, b in zip(*remote.embeddings, strict=True)) < 0.999


def test_list_models(llama_cpp_server):
    listed = backend(llama_cpp_server).list_models()
    assert [m.name for m in listed.models] == ["smollm2"]


def test_unsupported_option_is_rejected_before_sending(llama_cpp_server):
    with pytest.raises(UnsupportedOptionError) as info:
        Client(backend(llama_cpp_server)).chat(QUESTION, options={"typical_p": 0.5})
    assert info.value.option == "typical_p"
    assert "llama.cpp" in str(info.value)  # names the dialect that would take it
