"""Failover across real upstream servers killed and restarted during a run: ``llmkit serve``
(the mock backend) and llama-cpp-python's server (the real model), behind the router used
client-side (an ``AsyncClient``) and in front of them (``llmkit serve -b ... -b ...`` with
the official ``openai`` client).  Every request is answered once; a stream that started is
never sent again; a dead upstream is marked down, then probed back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from serve.serve_helpers import free_port, serve_subprocess

import llmkit
from llmkit.backends import resolve_async_backend
from llmkit.errors import LLMKitError
from llmkit.serve.router import Router, is_upstream_fault

pytestmark = pytest.mark.model

QUESTION = [{"role": "user", "content": "Say one word."}]
SHORT = {"num_predict": 3, "temperature": 0}


class Process:
    """An upstream server on a fixed port that can be killed and started again."""

    def __init__(self, command: list[str], log: Path) -> None:
        self.port = free_port()
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the upstream did not start"
            time.sleep(0.2)

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def upstreams(tmp_path: Path, smollm2_path: Path):
    serve_mock = ["serve", "--backend", "mock", "--model", "smollm2", "--port", "{port}"]
    mock = Process([sys.executable, "-m", "llmkit", *serve_mock], tmp_path / "mock.log")
    lcpp = Process(
        [
            sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path),
            "--model_alias", "smollm2", "--port", "{port}", "--n_ctx", "512",
            "--n_threads", "1",
        ],
        tmp_path / "lcpp.log",
    )  # fmt: skip
    mock.start()
    lcpp.start()
    yield mock, lcpp
    for process in (mock, lcpp):
        if process.process is not None and process.process.poll() is None:
            process.kill()


def test_the_router_fails_over_and_probes_a_restarted_upstream_back(upstreams):
    mock, lcpp = upstreams
    router = Router(
        [
            resolve_async_backend(f"openai://127.0.0.1:{mock.port}/v1"),
            resolve_async_backend(f"openai://127.0.0.1:{lcpp.port}/v1"),
        ],
        down_seconds=0.3,
        max_down_seconds=0.6,
    )
    first, second = router.upstreams

    async def run() -> list[str]:
        client = llmkit.AsyncClient(router, model="smollm2")
        answers: list[str] = []
        for index in range(24):
            if index == 6:
                mock.kill()
            if index == 14:
                await anyio.to_thread.run_sync(mock.start)
                served_when_back.append(first.served)
                await anyio.sleep(0.7)  # past its time down: the next request probes it
            response = await client.chat(QUESTION, options=SHORT)
            assert response.done
            answers.append(response.message.content)
        await router.aclose()
        return answers

    served_when_back: list[int] = []
    answers = anyio.run(run)
    assert len(answers) == 24  # every request answered once
    assert second.served >= 8  # it took the dead one's share
    assert first.served > served_when_back[0], "the restarted upstream got nothing back"
    assert first.failures == 0 and first.down_until is None  # marked up again


def test_a_client_given_a_list_of_backends_fails_over(upstreams):
    mock, lcpp = upstreams
    specs = [f"openai://127.0.0.1:{mock.port}/v1", f"openai://127.0.0.1:{lcpp.port}/v1"]

    async def run() -> int:
        client = llmkit.AsyncClient(specs, model="smollm2")
        assert isinstance(client.backend, Router)
        answered = 0
        for index in range(6):
            if index == 2:
                mock.kill()
            response = await client.chat(QUESTION, options=SHORT)
            answered += bool(response.done)
        await client.aclose()
        return answered

    assert anyio.run(run) == 6


def test_a_stream_that_started_is_never_sent_again(upstreams):
    mock, lcpp = upstreams
    router = Router(
        [
            resolve_async_backend(f"openai://127.0.0.1:{lcpp.port}/v1"),
            resolve_async_backend(f"openai://127.0.0.1:{mock.port}/v1"),
        ]
    )
    story = [{"role": "user", "content": "Write a long story about a dragon."}]

    async def run() -> BaseException | None:
        client = llmkit.AsyncClient(router, model="smollm2")
        stream = await client.chat(
            story, stream=True, options={"num_predict": 2000, "temperature": 0}
        )
        seen = 0
        try:
            async for _ in stream:
                seen += 1
                if seen == 5:
                    lcpp.kill()
        except LLMKitError as exc:
            return exc
        finally:
            await router.aclose()
        return None

    error = anyio.run(run)
    assert error is not None, "the stream ended although its server was killed"
    assert router.upstreams[1].served == 0  # not sent to the other upstream


def test_only_an_upstreams_own_faults_fail_over():
    from llmkit.errors import (
        BackendBusyError,
        BadRequestError,
        ConnectionFailedError,
        HTTPStatusError,
        RemoteTimeoutError,
    )

    assert is_upstream_fault(ConnectionFailedError("refused", url="u"))
    assert is_upstream_fault(RemoteTimeoutError("slow", url="u", phase="read"))
    assert is_upstream_fault(BackendBusyError("busy"))
    assert is_upstream_fault(HTTPStatusError("x", url="u", status_code=503))
    assert is_upstream_fault(HTTPStatusError("x", url="u", status_code=429))
    assert not is_upstream_fault(BadRequestError("bad", url="u", status_code=400))
    assert not is_upstream_fault(ValueError("mine"))


def test_llmkit_serve_in_front_fails_over_for_the_official_client(upstreams):
    import openai

    mock, lcpp = upstreams
    with serve_subprocess(
        "-b", f"openai://127.0.0.1:{mock.port}/v1", "-b", f"openai://127.0.0.1:{lcpp.port}/v1",
        "--model", "smollm2",
    ) as front:  # fmt: skip
        client = openai.OpenAI(base_url=f"{front.url}/v1", api_key="none", max_retries=0)
        answered = 0
        for index in range(12):
            if index == 4:
                mock.kill()
            reply = client.chat.completions.create(
                model="smollm2", messages=QUESTION, max_tokens=3, temperature=0
            )
            assert reply.choices[0].message.content is not None
            answered += 1
        assert answered == 12
