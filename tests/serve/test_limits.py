"""Request and connection limits: body size (413), body and header timeouts (408), header size
(431), idle connections; in the ASGI middleware, and on raw sockets against a real uvicorn
running ``llmkit serve``'s protocol."""

from __future__ import annotations

import subprocess
import sys

import anyio
import httpx
import pytest
from serve_helpers import dribble, limited_server, serve_process

from llmkit.backends.mock import MockBackend
from llmkit.serve import create_app
from llmkit.serve.limits import DEFAULT_LIMITS, RequestLimits, ServeLimits, parse_size

QUICK = ServeLimits(max_body_bytes=1000, body_timeout=1.0, header_timeout=1.0)
CHAT = b'{"model": "mock", "messages": [{"role": "user", "content": "hi"}], "stream": false}'


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1", 1),
        ("1024", 1024),
        ("16K", 16384),
        ("16k", 16384),
        ("16M", 16 << 20),
        ("2G", 2 << 30),
        ("512KiB", 512 << 10),
        ("1 MB", 1 << 20),
        (77, 77),
    ],
)
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-1", "1T", "ten", "1.5M", 0])
def test_bad_sizes(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_the_defaults():
    expected = ServeLimits(
        max_body_bytes=16 << 20,
        body_timeout=30.0,
        header_timeout=10.0,
        keep_alive_timeout=5.0,
        max_header_bytes=16 << 10,
    )
    assert expected == DEFAULT_LIMITS


@pytest.mark.parametrize(
    "bad",
    [
        {"max_body_bytes": 0},
        {"max_header_bytes": 0},
        {"body_timeout": 0},
        {"header_timeout": -1},
        {"keep_alive_timeout": float("inf")},
        {"body_timeout": float("nan")},
    ],
)
def test_limits_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        ServeLimits(**bad)


# -- the middleware, message by message ---------------------------------------------------


class Recorder:
    """An ASGI app that records the body it was given."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:
        message = await receive()
        self.bodies.append(message["body"])
        assert message["more_body"] is False
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _drive(middleware, path, headers, messages):
    """Run the middleware over ``messages``; what it sent, and how many messages it read."""
    sent: list[dict] = []
    read = 0

    async def receive():
        nonlocal read
        read += 1
        if read <= len(messages):
            return messages[read - 1]
        await anyio.sleep_forever()
        return None

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "method": "POST", "headers": headers}
    await middleware(scope, receive, send)
    return sent, read


def _chunk(body: bytes, more: bool = True) -> dict:
    return {"type": "http.request", "body": body, "more_body": more}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "shape"), [("/api/chat", "ollama"), ("/v1/chat/completions", "openai")]
)
async def test_a_declared_length_past_the_limit_is_refused_before_any_byte_is_read(path, shape):
    app = Recorder()
    middleware = RequestLimits(app, ServeLimits(max_body_bytes=1000))
    sent, read = await _drive(middleware, path, [(b"content-length", b"600000000")], [])
    assert read == 0 and app.bodies == []
    start, body = sent
    assert start["status"] == 413
    assert (b"connection", b"close") in start["headers"]
    error = httpx.Response(413, content=body["body"]).json()["error"]
    message = error if shape == "ollama" else error["message"]
    assert "1000 bytes" in message and "--max-body-size" in message
    if shape == "openai":
        assert error["code"] == "request_too_large"


@pytest.mark.anyio
async def test_a_body_is_refused_at_the_chunk_that_crosses_the_limit_never_buffered_past_it():
    app = Recorder()
    middleware = RequestLimits(app, ServeLimits(max_body_bytes=1000))
    endless = [_chunk(b"x" * 300) for _ in range(100)]  # chunked: no length given
    sent, read = await _drive(middleware, "/api/chat", [], endless)
    assert read == 4, "read on after the limit was passed"
    assert sent[0]["status"] == 413 and app.bodies == []


@pytest.mark.anyio
async def test_a_body_within_the_limit_reaches_the_app_in_one_message():
    app = Recorder()
    middleware = RequestLimits(app, ServeLimits(max_body_bytes=1000))
    pieces = [_chunk(b"a" * 400), _chunk(b"b" * 400), _chunk(b"c" * 200, more=False)]
    sent, _ = await _drive(middleware, "/api/chat", [(b"content-length", b"1000")], pieces)
    assert app.bodies == [b"a" * 400 + b"b" * 400 + b"c" * 200]
    assert sent[0]["status"] == 200


@pytest.mark.anyio
async def test_a_body_that_does_not_arrive_in_time_is_answered_408():
    app = Recorder()
    middleware = RequestLimits(app, ServeLimits(body_timeout=0.3))
    with anyio.fail_after(5):
        sent, _ = await _drive(middleware, "/v1/completions", [], [_chunk(b"{")])
    assert sent[0]["status"] == 408 and app.bodies == []
    assert b"--body-timeout" in sent[1]["body"]


@pytest.mark.anyio
async def test_a_client_leaving_mid_body_gets_no_answer():
    app = Recorder()
    middleware = RequestLimits(app)
    sent, _ = await _drive(middleware, "/api/chat", [], [_chunk(b"{"), {"type": "http.disconnect"}])
    assert sent == [] and app.bodies == []


@pytest.mark.anyio
async def test_the_app_refuses_an_oversized_body_in_each_protocols_shape():
    app = create_app(MockBackend(), models=["mock"], limits=ServeLimits(max_body_bytes=100))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        big = {"model": "mock", "prompt": "x" * 200}
        ollama_side = await client.post("/api/generate", json=big)
        openai_side = await client.post("/v1/completions", json=big)
        fine = await client.post("/api/generate", json={"model": "mock", "prompt": "hi"})
    assert ollama_side.status_code == 413 and "100 bytes" in ollama_side.json()["error"]
    assert openai_side.status_code == 413
    assert openai_side.json()["error"]["code"] == "request_too_large"
    assert fine.status_code == 200


# -- a real uvicorn with llmkit serve's protocol, on raw sockets ---------------------------


@pytest.fixture(scope="module")
def port():
    with limited_server(create_app(MockBackend(), models=["mock"], limits=QUICK), QUICK) as port:
        yield port


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(port):
    got = dribble(port, b"", limit=5)
    assert got.closed and 0.8 < got.seconds < 2.5 and got.data == b""


def test_headers_dribbled_a_byte_at_a_time_are_cut_off_with_408(port):
    got = dribble(port, b"POST /api/chat HTTP/1.1\r\nHost: x\r\n", b"X", every=0.1, limit=6)
    assert got.closed and got.seconds < 2.5, "a Slowloris connection was kept open"
    assert got.status == 408 and "--header-timeout" in got.json()["error"]


def test_a_body_dribbled_a_byte_at_a_time_is_cut_off_with_408(port):
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n{"
    got = dribble(port, head, b" ", every=0.1, limit=6)
    assert got.closed and got.seconds < 2.5
    assert got.status == 408 and "--body-timeout" in got.json()["error"]["message"]


def test_a_kept_alive_connection_dribbling_its_next_request_is_cut_off(port):
    first = b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\nGET /api/ta"
    got = dribble(port, first, b"g", every=0.1, limit=6)
    assert got.closed and got.seconds < 2.5
    assert got.data.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408" in got.data


def test_a_declared_huge_body_is_refused_at_once_and_the_connection_closed(port):
    head = b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 600000000\r\n\r\n{"
    got = dribble(port, head, b"x" * 65536, every=0.01, limit=6)
    assert got.closed and got.seconds < 2 and got.status == 413
    assert "1000 bytes" in got.json()["error"]


def test_a_chunked_body_past_the_limit_is_refused_and_the_connection_closed(port):
    head = b"POST /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    got = dribble(port, head, b"100\r\n" + b"x" * 256 + b"\r\n", every=0.01, limit=6)
    assert got.closed and got.seconds < 2 and got.status == 413


def test_headers_past_the_size_limit_are_refused_with_431(port):
    request = b"GET /api/tags HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
    got = dribble(port, request, limit=5)
    assert got.closed and got.status == 431 and "--max-header-size" in got.json()["error"]


def test_a_request_that_is_not_http_gets_a_json_400_and_is_closed(port):
    got = dribble(port, b"NOT HTTP AT ALL\r\n\r\n", limit=5)
    assert got.closed and got.status == 400 and got.json() == {"error": "invalid HTTP request"}


def test_a_normal_request_still_works_and_the_connection_is_kept_alive(port):
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(3):
            reply = client.post("/api/chat", content=CHAT)
            assert reply.status_code == 200 and reply.json()["message"]["content"] == "hi"
        assert client.get("/api/tags").status_code == 200


def test_a_request_without_the_key_is_refused_unread_and_its_connection_closed():
    app = create_app(MockBackend(), models=["mock"], api_key="k", limits=QUICK)
    with limited_server(app, QUICK) as port:
        head = b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n{"
        got = dribble(port, head, b" ", every=0.1, limit=6)
    assert got.closed and got.seconds < 1 and got.status == 401


# -- the command line ---------------------------------------------------------------------


def test_help_lists_the_limits_with_their_defaults():
    result = subprocess.run(
        [sys.executable, "-m", "llmkit", "serve", "--help"], capture_output=True, text=True
    )
    text = " ".join(result.stdout.split())
    for flag, default in [
        ("--max-body-size", "16M"),
        ("--body-timeout", "30.0"),
        ("--header-timeout", "10.0"),
        ("--keep-alive-timeout", "5.0"),
        ("--max-header-size", "16K"),
    ]:
        assert flag in text
        assert f"[default: {default}" in text.split(flag, 1)[1].split("--", 1)[0], flag


def test_a_bad_limit_is_a_usage_error():
    result = subprocess.run(
        [sys.executable, "-m", "llmkit", "serve", "-b", "mock", "--max-body-size", "lots"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "not a size" in result.stderr


def test_the_command_applies_the_flags():
    with serve_process(
        "--backend", "mock", "--max-body-size", "1K", "--header-timeout", "1"
    ) as url:
        port = int(url.rsplit(":", 1)[1])
        refused = httpx.post(f"{url}/api/generate", json={"model": "mock", "prompt": "x" * 2000})
        assert refused.status_code == 413 and "1024 bytes" in refused.json()["error"]
        got = dribble(port, b"GET /api/tags HTTP/1.1\r\n", b"X", every=0.1, limit=6)
        assert got.closed and got.seconds < 2.5 and got.status == 408
