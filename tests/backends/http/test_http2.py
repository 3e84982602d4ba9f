"""HTTP/2: the remote backends against a real HTTP/2 server.

hypercorn serves ``llmkit serve``'s app (the real SmolLM2) over TLS with a certificate from a
test CA (trustme) and offers ``h2`` by ALPN. With the ``h2`` package installed, the backends
negotiate HTTP/2 on their own; ``verify`` takes the test CA; a certificate the client does not
trust is a typed connection error.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme
from faultserver import free_port

import llmkit
from llmkit.backends.http.ollama import AsyncOllamaBackend, OllamaBackend
from llmkit.backends.http.openai import OpenAIBackend
from llmkit.errors import ConnectionFailedError

pytestmark = pytest.mark.model

HERE = Path(__file__).resolve().parent
QUESTION = [{"role": "user", "content": "Name a color."}]
GREEDY = {"temperature": 0, "seed": 1, "num_predict": 16}


@pytest.fixture(scope="module")
def h2_server(smollm2_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("h2")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    port = free_port()
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hypercorn",
            "--certfile",
            str(folder / "cert.pem"),
            "--keyfile",
            str(folder / "key.pem"),
            "--bind",
            f"127.0.0.1:{port}",
            "h2_app:app",
        ],
        cwd=HERE,
        env={**os.environ, "LLMKIT_H2_MODEL": str(smollm2_path)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (folder / "server.log").read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "hypercorn did not start"
            time.sleep(0.1)
    yield f"https://127.0.0.1:{port}", str(folder / "ca.pem")
    process.terminate()
    process.wait(timeout=10)
    log.close()


def protocols(client):
    """What each pooled connection speaks, as httpcore describes it."""
    return {
        repr(conn).split(", ")[1]
        for conn in client.backend.session._client._transport._pool.connections
    }


def test_the_ollama_backend_streams_over_http2(h2_server):
    url, ca = h2_server
    with llmkit.Client(OllamaBackend(url, model="smollm2", verify=ca)) as client:
        events = list(client.chat(QUESTION, options=GREEDY, stream=True))
        streamed = "".join(e.text for e in events if isinstance(e, llmkit.TextDelta))
        whole = client.chat(QUESTION, options=GREEDY).message.content
        assert streamed and streamed == whole
        assert protocols(client) == {"HTTP/2"}


def test_the_openai_backend_and_async_clients_too(h2_server):
    url, ca = h2_server
    with llmkit.Client(OllamaBackend(url, model="smollm2", verify=ca)) as reference:
        expected = reference.chat(QUESTION, options=GREEDY).message.content
    with llmkit.Client(OpenAIBackend(url + "/v1", model="smollm2", verify=ca)) as client:
        assert client.chat(QUESTION, options=GREEDY).message.content == expected
        assert protocols(client) == {"HTTP/2"}

    async def run():
        async with llmkit.AsyncClient(
            AsyncOllamaBackend(url, model="smollm2", verify=ca)
        ) as aclient:
            stream = await aclient.chat(QUESTION, options=GREEDY, stream=True)
            async with stream:
                text = "".join([e.text async for e in stream if isinstance(e, llmkit.TextDelta)])
            return text, protocols(aclient)

    import anyio

    assert anyio.run(run) == (expected, {"HTTP/2"})


def test_an_untrusted_certificate_is_a_typed_connection_error(h2_server):
    url, _ = h2_server
    client = llmkit.Client(OllamaBackend(url, model="smollm2"))
    with client, pytest.raises(ConnectionFailedError, match="CERTIFICATE_VERIFY_FAILED"):
        client.chat(QUESTION, options=GREEDY)
