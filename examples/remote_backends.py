"""Talk to servers: start `llmkit serve` in front of a backend, then use it over both protocols.

The server here runs the scripted `mock` backend so the example needs no model;
`llmkit serve` alone (no --backend) serves the in-process llama.cpp model instead.
The same Client code works against Ollama, llama.cpp's server, vLLM or OpenAI.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

import llmkit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


port = free_port()
server = subprocess.Popen(
    [
        sys.executable,
        "-m",
        "llmkit",
        "serve",
        "--backend",
        "mock",
        "--model",
        "demo",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ],
)
try:
    for _ in range(200):  # wait until it answers
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)

    # The Ollama API.
    with llmkit.Client(f"ollama://127.0.0.1:{port}", model="demo") as client:
        reply = client.chat([{"role": "user", "content": "Hello over the Ollama API"}])
        print("ollama:", reply.text)
        print("models:", [m.name for m in client.backend.list_models().models])

    # The OpenAI-compatible API, streaming.
    with (
        llmkit.Client(f"openai://127.0.0.1:{port}/v1", model="demo") as client,
        client.chat([{"role": "user", "content": "Hello over SSE"}], stream=True) as stream,
    ):
        print("openai:", "".join(stream.text_stream()))

    # Failures are typed llmkit errors, never raw httpx exceptions.
    try:
        llmkit.Client(f"ollama://127.0.0.1:{free_port()}", model="demo").chat(
            [{"role": "user", "content": "anyone there?"}]
        )
    except llmkit.errors.ConnectionFailedError as error:
        print("error:", type(error).__name__)
finally:
    server.terminate()
    server.wait()
