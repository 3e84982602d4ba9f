"""Helpers for the server's tests: a real uvicorn in a thread, backends to watch, a free port."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from llmkit.backends.mock import MockBackend
from llmkit.types.events import StreamEvent, TextDelta
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import EmbedResponse


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on a free port of 127.0.0.1, in a thread."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


class CountingMock(MockBackend):
    """The mock backend, noting how many events each stream produced and when it was closed."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.produced = 0
        self.streams_closed = 0
        self.closed_event = threading.Event()

    def _events(self, reply, options, model):
        try:
            for event in super()._events(reply, options, model):
                self.produced += 1
                yield event
        finally:
            self.streams_closed += 1
            self.closed_event.set()


class FailingBackend:
    """An async backend that yields some text, then fails (or fails before any event)."""

    name = "failing"

    def __init__(self, error: Exception, *, after: int = 1) -> None:
        self.error = error
        self.after = after
        self.closed = False

    async def _events(self) -> AsyncIterator[StreamEvent]:
        for index in range(self.after):
            yield TextDelta(text=f"part{index} ")
        raise self.error

    def chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._events()

    def generate(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        return self._events()

    async def embed(self, request: EmbedRequest) -> EmbedResponse:
        raise self.error

    async def aclose(self) -> None:
        self.closed = True


def asgi_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, version: int = 3) -> Path:
    """A tiny GGUF header: strings, numbers, a bool, arrays of numbers and of strings."""
    items = [
        ("general.architecture", 8, _string("llama")),
        ("general.size_label", 8, _string("135M")),
        ("general.file_type", 4, struct.pack("<I", 3)),
        ("general.license", 8, _string("apache-2.0")),
        ("llama.context_length", 4, struct.pack("<I", 8192)),
        ("llama.rope.freq_base", 6, struct.pack("<f", 100000.0)),
        ("tokenizer.ggml.add_bos_token", 7, struct.pack("<?", False)),
        ("llama.big", 11, struct.pack("<q", -(2**40))),
        ("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, 3) + struct.pack("<3f", 0.1, 0.2, 0.3)),
        ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 2) + _string("a") + _string("bc")),
        ("tokenizer.chat_template", 8, _string("{{ messages }}")),
    ]
    body = b"GGUF" + struct.pack("<IQQ", version, 0, len(items))
    for key, kind, value in items:
        body += _string(key) + struct.pack("<I", kind) + value
    path.write_bytes(body + b"\0" * 32)
    return path


@dataclass
class ServedProcess:
    """A running ``llmkit serve``: its URL, its process, and what it printed so far."""

    url: str
    process: subprocess.Popen
    output: Callable[[], str]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextmanager
def serve_subprocess(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> Iterator[ServedProcess]:
    """Run the real ``llmkit serve`` command on a free port; yield it once ``/`` answers."""
    port = free_port()
    command = [sys.executable, "-m", "llmkit", "serve", "--port", str(port), *args]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        url = f"http://127.0.0.1:{port}"

        def output() -> str:
            log.seek(0)
            return log.read().decode(errors="replace")

        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"llmkit serve exited with {process.returncode}: {output()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llmkit serve did not answer in {timeout} s: {output()}")
                try:
                    if httpx.get(f"{url}/", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield ServedProcess(url, process, output)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def serve_process(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> Iterator[str]:
    """Run the real ``llmkit serve`` command on a free port; yield its URL once ``/`` answers."""
    with serve_subprocess(*args, env=env, timeout=timeout) as served:
        yield served.url


@contextmanager
def limited_server(app, limits) -> Iterator[int]:
    """Serve ``app`` on a free port as ``llmkit serve`` does (its protocol and limits), in a
    thread; yield the port."""
    import uvicorn

    from llmkit.serve.server import uvicorn_config

    port = free_port()
    config = uvicorn_config(app, host="127.0.0.1", port=port, log_level="warning", limits=limits)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@dataclass
class Dribbled:
    """What a raw connection got back: the bytes, whether the server closed it, and when."""

    data: bytes
    closed: bool
    seconds: float

    @property
    def status(self) -> int | None:
        head = self.data.split(b"\r\n", 1)[0].split()
        return int(head[1]) if len(head) > 1 and head[0].startswith(b"HTTP/") else None

    def json(self):
        return json.loads(self.data.split(b"\r\n\r\n", 1)[1])


def dribble(
    port: int,
    first: bytes,
    drip: bytes = b"",
    *,
    every: float = 0.25,
    limit: float = 10.0,
) -> Dribbled:
    """Open a raw connection, send ``first``, then ``drip`` every ``every`` seconds (Slowloris)
    until the server closes the connection or ``limit`` seconds pass."""
    started = time.monotonic()
    data = b""
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(0.05)
        if first:
            sock.sendall(first)
        next_drip = time.monotonic() + every
        while time.monotonic() - started < limit:
            try:
                piece = sock.recv(65536)
            except TimeoutError:
                piece = None
            except OSError:  # reset: the server closed with our bytes unread
                closed = True
                break
            if piece == b"":
                closed = True
                break
            if piece:
                data += piece
            if drip and time.monotonic() >= next_drip:
                next_drip += every
                try:
                    sock.sendall(drip)
                except OSError:
                    closed = True
                    break
        if closed and not data:
            with contextlib.suppress(OSError):
                data = sock.recv(65536)
    return Dribbled(data, closed, time.monotonic() - started)
