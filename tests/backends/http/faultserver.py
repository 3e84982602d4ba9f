"""A small scripted HTTP server for fault tests: each request gets the next scripted reply.

Replies are plain data, so a test says exactly what the wire does: a status
with headers and body, a chunked stream of pieces (optionally cut off without
its end, or stalling between pieces), or a connection closed with no reply.
The server records every request (method, path, headers, JSON body).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-reply is what the fault tests do on purpose: no traceback
    for that (other errors still print one)."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: When given, the body is sent chunked, piece by piece.
    pieces: list[bytes | str] | None = None
    #: Seconds to wait before each piece.
    delay: float = 0.0
    #: After this many pieces, wait ``pause`` seconds (a stall mid-stream).
    pause_after: int | None = None
    pause: float = 0.0
    #: Cut the connection after this many pieces, without the final chunk.
    cut_after: int | None = None
    #: Close the connection without answering at all.
    hang_up: bool = False
    #: Seconds to wait before answering (to trip read timeouts).
    stall: float = 0.0
    content_type: str = "application/json"


def ndjson(*objects: dict) -> list[bytes]:
    return [json.dumps(o).encode() + b"\n" for o in objects]


def sse(*objects: dict | str) -> list[bytes]:
    out = []
    for o in objects:
        data = o if isinstance(o, str) else json.dumps(o)
        out.append(f"data: {data}\n\n".encode())
    return out


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FaultServer:
    """Serves scripted replies on 127.0.0.1; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.default: Reply | None = None
        self.received: list[Received] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                with server._lock:
                    server.received.append(
                        Received(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                    reply = server.replies.pop(0) if server.replies else server.default
                if reply is None:
                    reply = Reply(status=500, body={"error": "no scripted reply left"})
                # The client may go away (a cancelled or timed-out test request).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._send(self, reply)

            do_GET = do_POST = do_DELETE = do_HEAD = _handle

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self.replies = list(replies)
            self.received = []

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.stall:
            time.sleep(reply.stall)
        if reply.hang_up:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", reply.content_type)
        if reply.pieces is None:
            body = reply.body
            if isinstance(body, dict | list):
                data = json.dumps(body).encode()
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = body or b""
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            handler.wfile.flush()
            return
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        handler.wfile.flush()
        for number, piece in enumerate(reply.pieces):
            if reply.cut_after is not None and number >= reply.cut_after:
                handler.close_connection = True
                handler.wfile.flush()
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.delay:
                time.sleep(reply.delay)
            if reply.pause_after is not None and number == reply.pause_after:
                time.sleep(reply.pause)
            data = piece.encode() if isinstance(piece, str) else piece
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
