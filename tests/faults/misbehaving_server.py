"""A real HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose, for the client fault tests.

It speaks HTTP/1.1 by hand over a plain socket (one thread per connection), so it can do what
no framework lets a server do: send a body without end, a gzip bomb, a 200 MB line, nothing at
all, one byte a second, a chunked body cut off mid-chunk, a ``Content-Length`` that lies, bytes
that are not UTF-8 or not JSON.  ``tests/backends/http/faultserver.py`` (the scripted server of
the retry and status tests) sits on ``http.server``, which frames every body itself and holds a
reply in memory, so it cannot express these faults; this one complements it.

``server.mode`` picks the misbehaviour (one of :data:`MODES`, or ``"ok"`` for a valid answer);
every answer is shaped after the request's path: NDJSON for Ollama's ``/api/chat`` and
``/api/generate``, server-sent events for OpenAI's ``/v1/chat/completions`` and
``/v1/completions``, a JSON document for anything else (``/api/tags``, ``/v1/models``).

Run it alone (``python tests/faults/misbehaving_server.py MODE``) to point another client at it.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import sys
import threading
import time
import zlib
from collections.abc import Iterator

__all__ = ["MODES", "MisbehavingServer", "gzip_zeros"]

#: Every misbehaviour, with what the server does.
MODES: dict[str, str] = {
    "endless_body": "a 200 answer whose chunked body never ends (64 KiB chunks of 'x', no newline)",
    "gzip_bomb": "Content-Encoding: gzip over 10 GiB of zeros, about 10 MB on the wire",
    "stacked_gzip": "Content-Encoding: gzip, gzip: a gzip bomb gzipped again (1 MB on the wire)",
    "endless_error_body": "a 500 error whose body never ends",
    "huge_line": "two tokens, then one 200 MB NDJSON line / SSE event (a 200 MB JSON document)",
    "endless_stream": "valid tokens (NDJSON / SSE events) without end (an endless JSON array)",
    "silent_after_headers": "the status line and headers, then nothing (the socket stays open)",
    "stall_mid_stream": "two tokens (the opening of a JSON document), then nothing",
    "silent_before_headers": "reads the request, then says nothing at all",
    "slow_drip": "headers, then a valid body one byte per second",
    "drip_headers": "the status line and headers themselves, one byte per second",
    "truncated_chunked": "two tokens, then a chunk that promises 1024 bytes; 10 come, then close",
    "wrong_content_length": "Content-Length 1000 bytes more than sent (two tokens), then close",
    "invalid_utf8": "a token whose JSON string holds bytes that are not UTF-8",
    "invalid_json": "a line / event / document that is not JSON",
}

_CHUNK = 64 * 1024
_CONTENT_TYPES = {
    "ndjson": b"application/x-ndjson",
    "sse": b"text/event-stream",
    "json": b"application/json",
}
_TEXT = ("Hel", "lo")


def _ollama_chunk(text: str, done: bool = False) -> dict:
    out: dict = {
        "model": "m",
        "created_at": "t",
        "message": {"role": "assistant", "content": text},
        "done": done,
    }
    if done:
        out.update(done_reason="stop", eval_count=2, prompt_eval_count=3)
    return out


def _openai_chunk(text: str | None, finish: str | None = None) -> dict:
    delta = {} if text is None else {"content": text}
    return {"model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class _Shape:
    """How an answer is framed for one request path."""

    def __init__(self, path: str) -> None:
        if path.startswith(("/api/chat", "/api/generate")):
            self.kind = "ndjson"
        elif path.startswith(("/v1/chat/completions", "/v1/completions")):
            self.kind = "sse"
        else:
            self.kind = "json"
        self.generate = path.startswith("/api/generate")

    @property
    def content_type(self) -> bytes:
        return _CONTENT_TYPES[self.kind]

    def event(self, data: bytes) -> bytes:
        """One record of the stream carrying ``data`` (a JSON text)."""
        return data + b"\n" if self.kind == "ndjson" else b"data: " + data + b"\n\n"

    def token(self, text: str) -> bytes:
        if self.kind == "ndjson":
            chunk = _ollama_chunk(text)
            if self.generate:
                chunk = {"model": "m", "created_at": "t", "response": text, "done": False}
            return self.event(json.dumps(chunk).encode())
        return self.event(json.dumps(_openai_chunk(text)).encode())

    def end(self) -> bytes:
        if self.kind == "ndjson":
            return self.event(json.dumps(_ollama_chunk("", done=True)).encode())
        return self.event(json.dumps(_openai_chunk(None, "stop")).encode()) + b"data: [DONE]\n\n"

    def valid_body(self) -> bytes:
        if self.kind == "json":
            return b'{"models": [], "object": "list", "data": []}'
        return b"".join(self.token(t) for t in _TEXT) + self.end()

    def opening(self) -> bytes:
        """The start of a valid answer: two tokens (the opening of a JSON document)."""
        if self.kind == "json":
            return b'{"models": ['
        return b"".join(self.token(t) for t in _TEXT)

    def token_prefix(self) -> bytes:
        """The bytes of a token record before its text (the inside of a JSON string)."""
        return self._token_parts()[0]

    def token_suffix(self) -> bytes:
        """The bytes of a token record after its text."""
        return self._token_parts()[1]

    def _token_parts(self) -> tuple[bytes, bytes]:
        before, marker, after = self.token("MARKER").partition(b"MARKER")
        assert marker
        return before, after


def gzip_zeros(total: int, block: int = 1 << 20) -> Iterator[bytes]:
    """A gzip stream of ``total`` zero bytes, made block by block (small on the wire).

    Each block ends with a full flush, which resets the compressor: every block after the first
    compresses to the same bytes, so 10 GiB cost one block's work and about 1 KiB per MiB.
    The trailer's CRC is computed only if a client reads that far.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(block)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    blocks = total // block
    yield first
    for _ in range(blocks - 1):
        yield repeat
    tail = compressor.flush(zlib.Z_FINISH)
    # The compressor's own trailer covers only the two blocks it saw: write the true one.
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(zeros, crc)
    yield tail[:-8] + crc.to_bytes(4, "little") + (blocks * block % 2**32).to_bytes(4, "little")


class _ClientGone(Exception):
    """The client closed its end, or the server is stopping."""


class _Connection:
    def __init__(self, server: MisbehavingServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock

    # low-level ---------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.server.stopping.is_set():
            raise _ClientGone
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise _ClientGone from exc

    def chunk(self, data: bytes) -> None:
        if data:
            self.send(b"%x\r\n%s\r\n" % (len(data), data))

    def last_chunk(self) -> None:
        self.send(b"0\r\n\r\n")

    def wait(self, seconds: float | None) -> None:
        """Sleep, returning early (raising) when the client goes away or the server stops."""
        end = None if seconds is None else time.monotonic() + seconds
        while True:
            left = 0.1 if end is None else min(0.1, end - time.monotonic())
            if left <= 0:
                return
            if self.server.stopping.is_set():
                raise _ClientGone
            readable, _, _ = select.select([self.sock], [], [], left)
            if readable:
                try:
                    data = self.sock.recv(65536)
                except OSError as exc:
                    raise _ClientGone from exc
                if not data:
                    raise _ClientGone

    def head(
        self,
        shape: _Shape,
        *,
        length: int | None = None,
        extra: tuple[bytes, ...] = (),
        status: bytes = b"200 OK",
    ) -> bytes:
        lines = [b"HTTP/1.1 " + status, b"Content-Type: " + shape.content_type, *extra]
        if length is None:
            lines.append(b"Transfer-Encoding: chunked")
        else:
            lines.append(b"Content-Length: %d" % length)
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def read_request(self) -> tuple[str, str] | None:
        data = b""
        while b"\r\n\r\n" not in data:
            readable, _, _ = select.select([self.sock], [], [], 0.1)
            if self.server.stopping.is_set():
                return None
            if not readable:
                continue
            piece = self.sock.recv(65536)
            if not piece:
                return None
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(body) < length:
            piece = self.sock.recv(65536)
            if not piece:
                return None
            body += piece
        return method, path

    # the answers ------------------------------------------------------------

    def serve(self) -> None:
        with contextlib.suppress(_ClientGone, OSError), self.sock:
            request = self.read_request()
            if request is None:
                return
            method, path = request
            mode = self.server.mode
            self.server.requests.append((method, path, mode))
            getattr(self, "mode_" + mode)(_Shape(path))

    def mode_ok(self, shape: _Shape) -> None:
        body = shape.valid_body()
        self.send(self.head(shape, length=len(body)) + body)

    def mode_endless_body(self, shape: _Shape) -> None:
        self.send(self.head(shape))
        piece = b"x" * _CHUNK
        while True:
            self.chunk(piece)

    def mode_gzip_bomb(self, shape: _Shape) -> None:
        self.send(self.head(shape, extra=(b"Content-Encoding: gzip",)))
        for block in gzip_zeros(10 << 30):
            self.chunk(block)
        self.last_chunk()

    def mode_stacked_gzip(self, shape: _Shape) -> None:
        self.send(self.head(shape, extra=(b"Content-Encoding: gzip, gzip",)))
        outer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        for block in gzip_zeros(10 << 30):
            self.chunk(outer.compress(block))
        self.chunk(outer.flush())
        self.last_chunk()

    def mode_endless_error_body(self, shape: _Shape) -> None:
        self.send(self.head(shape, status=b"500 Internal Server Error"))
        piece = b'{"error": "' + b"e" * _CHUNK
        while True:
            self.chunk(piece)

    def mode_huge_line(self, shape: _Shape, size: int = 200 * 10**6) -> None:
        self.send(self.head(shape))
        if shape.kind == "json":
            self.chunk(b'{"models": [{"name": "')
        else:
            self.chunk(b"".join(shape.token(t) for t in _TEXT) + shape.token_prefix())
        piece = b"a" * _CHUNK
        for _ in range(size // _CHUNK):
            self.chunk(piece)
        if shape.kind == "json":
            self.chunk(b'"}]}')
        else:
            self.chunk(shape.token_suffix() + shape.end())
        self.last_chunk()

    def mode_endless_stream(self, shape: _Shape) -> None:
        self.send(self.head(shape))
        if shape.kind == "json":
            self.chunk(b'{"models": [')
            item = b'{"name": "m"}, ' * 1000
            while True:
                self.chunk(item)
        tokens = b"".join(shape.token(t) for t in _TEXT) * 200
        while True:
            self.chunk(tokens)

    def mode_silent_after_headers(self, shape: _Shape) -> None:
        self.send(self.head(shape))
        self.wait(None)

    def mode_stall_mid_stream(self, shape: _Shape) -> None:
        self.send(self.head(shape))
        self.chunk(shape.opening())
        self.wait(None)

    def mode_silent_before_headers(self, shape: _Shape) -> None:
        self.wait(None)

    def mode_slow_drip(self, shape: _Shape) -> None:
        body = shape.valid_body()
        self.send(self.head(shape, length=len(body)))
        for index in range(len(body)):
            self.send(body[index : index + 1])
            self.wait(1.0)

    def mode_drip_headers(self, shape: _Shape) -> None:
        body = shape.valid_body()
        head = self.head(shape, length=len(body), extra=(b"X-Padding: " + b"p" * 4000,))
        for index in range(len(head)):
            self.send(head[index : index + 1])
            self.wait(1.0)
        self.send(body)

    def mode_truncated_chunked(self, shape: _Shape) -> None:
        self.send(self.head(shape))
        self.chunk(shape.opening())
        self.send(b"400\r\n" + b"y" * 10)
        self.sock.shutdown(socket.SHUT_RDWR)

    def mode_wrong_content_length(self, shape: _Shape) -> None:
        body = shape.opening()
        self.send(self.head(shape, length=len(body) + 1000) + body)
        self.sock.shutdown(socket.SHUT_RDWR)

    def mode_invalid_utf8(self, shape: _Shape) -> None:
        if shape.kind == "json":
            body = b'{"models": [{"name": "\xff\xfe"}]}'
        else:
            bad = shape.token_prefix() + b"\xff\xfe\xc3" + shape.token_suffix()
            body = shape.token(_TEXT[0]) + bad + shape.end()
        self.send(self.head(shape, length=len(body)) + body)

    def mode_invalid_json(self, shape: _Shape) -> None:
        if shape.kind == "json":
            body = b'{"models": [oops'
        else:
            body = shape.token(_TEXT[0]) + shape.event(b'{"model": "m", oops}') + shape.end()
        self.send(self.head(shape, length=len(body)) + body)


class MisbehavingServer:
    """Listens on 127.0.0.1 (a free port); ``url`` is its base URL, ``mode`` its misbehaviour.

    ``requests`` records ``(method, path, mode)`` of each request.  ``close()`` stops it and
    every connection it holds open.
    """

    def __init__(self, mode: str = "ok") -> None:
        if mode != "ok" and mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        self.mode = mode
        self.requests: list[tuple[str, str, str]] = []
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, name="misbehaving-accept")
        self._accepting.daemon = True
        self._accepting.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            thread = threading.Thread(target=_Connection(self, sock).serve, daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
            thread.start()

    def close(self) -> None:
        self.stopping.set()
        self._accepting.join(5)
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> MisbehavingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    with MisbehavingServer(sys.argv[1] if len(sys.argv) > 1 else "ok") as served:
        print(f"{served.mode} on {served.url}; Ctrl-C stops", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
