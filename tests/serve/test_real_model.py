"""``llmkit serve`` with the in-process llama.cpp backend and SmolLM2, through the official clients.

The real command runs as a subprocess on 127.0.0.1; ollama-python and openai-python
chat, stream, list and embed through it, and every answer is checked against what
llmkit's own in-process client gives for the same request at temperature 0 (the
backend evaluates each prompt afresh, so greedy output is the same every time).
"""

from __future__ import annotations

import struct

import ollama
import openai
import pytest
from serve_helpers import serve_process

import llmkit

pytestmark = pytest.mark.model

KEY = "test-key"
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Name three planets of the solar system."},
]
OPTIONS = {"temperature": 0, "seed": 42, "num_predict": 32}


@pytest.fixture(scope="module")
def server(smollm2_path):
    with serve_process("--model", "smollm2", "--api-key", KEY, "--log-level", "warning") as url:
        yield url


@pytest.fixture(scope="module")
def local(smollm2_path):
    with llmkit.Client() as client:  # the in-process backend, default model smollm2
        yield client


@pytest.fixture(scope="module")
def expected(local):
    return local.chat(MESSAGES, options=OPTIONS)


def float32(values):
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def test_the_ollama_client_chats_streams_lists_and_embeds(server, local, expected):
    client = ollama.Client(host=server, headers={"Authorization": f"Bearer {KEY}"})
    assert expected.message.content.strip()

    reply = client.chat(model="smollm2", messages=MESSAGES, options=OPTIONS)
    assert reply.message.content == expected.message.content
    assert (reply.prompt_eval_count, reply.eval_count) == (
        expected.prompt_eval_count,
        expected.eval_count,
    )
    assert reply.done_reason == expected.done_reason

    parts = list(client.chat(model="smollm2", messages=MESSAGES, options=OPTIONS, stream=True))
    assert "".join(part.message.content for part in parts) == expected.message.content
    assert len(parts) > 3 and parts[-1].done and not parts[0].done

    generated = client.generate(model="smollm2", prompt="The capital of France is", options=OPTIONS)
    local_generated = local.generate("The capital of France is", options=OPTIONS)
    assert generated.response == local_generated.response
    assert generated.context == local_generated.context

    listed = client.list()
    names = [model.model for model in listed.models]
    assert "smollm2" in names
    details = next(m for m in listed.models if m.model == "smollm2").details
    assert (details.family, details.quantization_level) == ("llama", "Q4_1")
    assert client.show("smollm2").modelinfo["general.architecture"] == "llama"
    assert [m.model for m in client.ps().models] == ["smollm2"]

    embedded = client.embed(model="smollm2", input=["hello", "a second text"])
    assert embedded.embeddings == local.embed(["hello", "a second text"]).embeddings

    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="smollm2", messages=MESSAGES, options={"tfs_z": 0.5})
    assert caught.value.status_code == 400 and "tfs_z" in caught.value.error


def test_the_openai_client_chats_streams_lists_and_embeds(server, local, expected):
    client = openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0)
    arguments = {"model": "smollm2", "messages": MESSAGES, "temperature": 0, "seed": 42}

    reply = client.chat.completions.create(**arguments, max_tokens=32)
    assert reply.choices[0].message.content == expected.message.content
    assert reply.usage.prompt_tokens == expected.prompt_eval_count
    assert reply.usage.completion_tokens == expected.eval_count

    stream = client.chat.completions.create(
        **arguments, max_completion_tokens=32, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == expected.message.content
    assert chunks[-1].usage.completion_tokens == expected.eval_count

    completion = client.completions.create(
        model="smollm2", prompt="Once upon a time", max_tokens=16, temperature=0, seed=42
    )
    raw = local.generate(
        "Once upon a time", raw=True, options={"temperature": 0, "seed": 42, "num_predict": 16}
    )
    assert completion.choices[0].text == raw.response

    assert [model.id for model in client.models.list()] == ["smollm2"]
    assert client.models.retrieve("smollm2").owned_by == "llmkit"

    texts = ["hello", "a second text"]
    local_vectors = local.embed(texts).embeddings
    floats = client.embeddings.create(model="smollm2", input=texts, encoding_format="float")
    assert [item.embedding for item in floats.data] == local_vectors
    packed = client.embeddings.create(model="smollm2", input=texts)  # base64 float32 by default
    assert [item.embedding for item in packed.data] == [float32(v) for v in local_vectors]

    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="llama3", messages=MESSAGES)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server}/v1", api_key="wrong", max_retries=0).models.list()
