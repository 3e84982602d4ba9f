"""A local server that streams a long answer fast, for bench/client_overhead.py.

``POST /api/chat`` answers with Ollama's NDJSON chunks; ``POST /v1/chat/completions``
with OpenAI's server-sent events.  The body's ``options.num_predict`` (or
``max_tokens``) sets the number of chunks.  Started with ``--paced``, it sends each
chunk as its own write with a short pause, so the client reads one at a time;
otherwise it sends them in as few writes as possible (bursts).  Run as a separate process
so that its CPU time is not counted against the client.
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORDS = [" the", " sky", " is", " blue", " because", " of", " Rayleigh", " scattering", "."]


def ndjson_chunk(i: int) -> bytes:
    return (
        json.dumps(
            {
                "model": "smollm2",
                "created_at": "2026-11-29T03:00:00.000000Z",
                "message": {"role": "assistant", "content": WORDS[i % len(WORDS)]},
                "done": False,
            }
        ).encode()
        + b"\n"
    )


def ndjson_done(n: int) -> bytes:
    return (
        json.dumps(
            {
                "model": "smollm2",
                "created_at": "2026-11-29T03:00:01.000000Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "total_duration": 1000,
                "prompt_eval_count": 10,
                "eval_count": n,
                "eval_duration": 900,
            }
        ).encode()
        + b"\n"
    )


def sse_chunk(i: int) -> bytes:
    data = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1795900000,
        "model": "smollm2",
        "choices": [
            {"index": 0, "delta": {"content": WORDS[i % len(WORDS)]}, "finish_reason": None}
        ],
    }
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def sse_end(n: int) -> bytes:
    last = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1795900000,
        "model": "smollm2",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    usage = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1795900000,
        "model": "smollm2",
        "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": n + 10},
    }
    return (
        b"data: " + json.dumps(last).encode() + b"\n\n"
        b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"
    )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        n = int(body.get("max_tokens") or (body.get("options") or {}).get("num_predict") or 1000)
        paced = PACED
        sse = self.path.startswith("/v1/")
        chunk, end = (sse_chunk, sse_end) if sse else (ndjson_chunk, ndjson_done)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if sse else "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def write(data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        if paced:
            for i in range(n):
                write(chunk(i))
                self.wfile.flush()
                time.sleep(0.0002)
        else:
            batch = []
            for i in range(n):
                batch.append(chunk(i))
                if len(batch) == 256:
                    write(b"".join(batch))
                    batch = []
            if batch:
                write(b"".join(batch))
        write(end(n))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


PACED = "--paced" in sys.argv


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that stops reading early (the baseline clients the bench compares with
        # drop their connections) is no error worth a traceback; anything else is.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main() -> None:
    ports = [int(a) for a in sys.argv[1:] if a.isdigit()]
    server = Server(("127.0.0.1", ports[0] if ports else 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
