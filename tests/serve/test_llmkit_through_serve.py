"""llmkit's own HTTP backends through ``llmkit serve`` (in-process llama.cpp, SmolLM2).

Both protocols end to end: llmkit's Ollama and OpenAI-compatible backends talk
to the real ``llmkit serve`` command, and every answer must equal what the
in-process client gives at temperature 0.  Then load: 200 concurrent
streaming requests through one ``AsyncClient`` all complete, each with the
same content as when run one at a time.
"""

from __future__ import annotations

import anyio
import pytest
from serve_helpers import serve_process

import llmkit
from llmkit.backends.http import RetryPolicy, Timeouts
from llmkit.backends.http.ollama import AsyncOllamaBackend, OllamaBackend
from llmkit.backends.http.openai import OpenAIBackend
from llmkit.errors import AuthenticationError, RemoteModelNotFoundError, UnsupportedOptionError

pytestmark = [pytest.mark.model, pytest.mark.timeout(600)]

KEY = "serve-key"
MESSAGES = [{"role": "user", "content": "Name two oceans."}]
OPTIONS = {"temperature": 0, "seed": 7, "num_predict": 24}


@pytest.fixture(scope="module")
def server(smollm2_path):
    with serve_process("--model", "smollm2", "--api-key", KEY, "--log-level", "warning") as url:
        yield url


@pytest.fixture(scope="module")
def local(smollm2_path):
    with llmkit.Client() as client:
        yield client


def test_ollama_backend_chats_streams_generates_embeds_and_manages(server, local):
    expected = local.chat(MESSAGES, options=OPTIONS)
    with llmkit.Client(
        "ollama://" + server.removeprefix("http://"), model="smollm2", api_key=KEY
    ) as client:
        reply = client.chat(MESSAGES, options=OPTIONS)
        assert reply.text == expected.text
        assert (reply.eval_count, reply.prompt_eval_count) == (
            expected.eval_count,
            expected.prompt_eval_count,
        )
        with client.chat(MESSAGES, options=OPTIONS, stream=True) as stream:
            pieces = list(stream.text_stream())
        assert len(pieces) > 3 and "".join(pieces) == expected.text

        generated = client.generate("The capital of France is", options=OPTIONS)
        assert generated.text == local.generate("The capital of France is", options=OPTIONS).text
        assert (
            client.embed(["hello", "world"]).embeddings
            == local.embed(["hello", "world"]).embeddings
        )

        backend = client.backend
        assert isinstance(backend, OllamaBackend)
        assert "smollm2" in [m.name for m in backend.list_models().models]
        assert backend.show("smollm2").model_info["general.architecture"] == "llama"
        assert [m.name for m in backend.ps().models] == ["smollm2"]
        assert backend.version().version

        with pytest.raises(RemoteModelNotFoundError):
            client.chat(MESSAGES, model="no-such-model")
    with pytest.raises(AuthenticationError):
        llmkit.Client(OllamaBackend(server, model="smollm2", api_key="wrong")).chat(MESSAGES)


def test_openai_backend_through_serve(server, local):
    expected = local.chat(MESSAGES, options=OPTIONS)
    client = llmkit.Client(
        OpenAIBackend(server + "/v1", model="smollm2", api_key=KEY, dialect="llama.cpp")
    )
    options = OPTIONS  # the server's own defaults (Ollama's) apply to the rest, as in-process
    assert client.chat(MESSAGES, options=options).text == expected.text
    with client.chat(MESSAGES, options=options, stream=True) as stream:
        assert stream.final_response().text == expected.text
    assert [m.name for m in client.backend.list_models().models] == ["smollm2"]
    with pytest.raises(UnsupportedOptionError):
        client.chat(MESSAGES, options={"num_ctx": 512})
    client.close()


PROMPTS = [f"{i}, {i + 1}," for i in range(8)]
SHORT = {"temperature": 0, "seed": 1, "num_predict": 4}


def test_200_concurrent_streams_match_one_at_a_time(server):
    async def one(client: llmkit.AsyncClient, prompt: str) -> str:
        stream = await client.chat(
            [{"role": "user", "content": prompt}], options=SHORT, stream=True
        )
        async with stream:
            return "".join([piece async for piece in stream.text_stream()])

    async def main() -> tuple[list[str], list[str]]:
        backend = AsyncOllamaBackend(
            server,
            model="smollm2",
            api_key=KEY,
            timeout=Timeouts(read=600),
            retry=RetryPolicy(max_attempts=1),
        )
        async with llmkit.AsyncClient(backend) as client:
            alone = [await one(client, prompt) for prompt in PROMPTS]
            results: list[str] = [""] * 200

            async def run(i: int) -> None:
                results[i] = await one(client, PROMPTS[i % len(PROMPTS)])

            async with anyio.create_task_group() as tg:
                for i in range(200):
                    tg.start_soon(run, i)
        return alone, results

    alone, together = anyio.run(main, backend="asyncio")
    assert all(alone)
    assert together == [alone[i % len(PROMPTS)] for i in range(200)]
