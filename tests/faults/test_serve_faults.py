"""``llmkit serve`` on the real model under hostile and broken requests.

Every route the app has gets every fault: malformed JSON, wrong types, an oversized body,
JSON nested thousands deep, invalid UTF-8, lone surrogates, out-of-range numbers
(``num_ctx``, ``num_thread``, ``num_batch``, ``temperature``, ``top_p``, ``keep_alive``,
``context``).  A route that takes a body answers each with a 4xx whose error, in its
protocol's shape, names the field; a route that takes none ignores the body or refuses it,
never with a 5xx.  Nothing hangs and the server lives on: after the suite it still answers
a valid chat, and it never logged an unhandled error.

Slow clients (Slowloris headers or bodies, idle connections) are cut off by the header and
body timeouts, and a client leaving a stream frees the model within about a second.
"""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from serve.serve_helpers import serve_subprocess
from serve_fixtures import (
    MAX_BODY,
    MODEL,
    OLLAMA_GENERATING,
    TIMEOUT_SECONDS,
    USER,
    VALID_BODIES,
    body_faults,
    cpu_seconds,
    error_text,
    get_faults,
    idle_after,
    raw_request,
    served_routes,
)

pytestmark = pytest.mark.model

ROUTES = served_routes()
BODY_ROUTES = [route for route in ROUTES if route.takes_body]
GET_ROUTES = [route for route in ROUTES if not route.takes_body]
BODY_CASES = [
    pytest.param(route, fault, id=f"{route.path}-{fault.name}")
    for route in BODY_ROUTES
    for fault in body_faults(route.path)
]
GET_CASES = [
    pytest.param(route, fault, id=f"{route.path}-{fault.name}")
    for route in GET_ROUTES
    for fault in get_faults()
]
#: Answers no client mistake may get.
SERVER_ERRORS = range(500, 600)


@pytest.fixture(scope="module")
def http(fault_server):
    with httpx.Client(base_url=fault_server.url, timeout=60) as client:
        yield client


def _alive(fault_server) -> None:
    assert fault_server.process.poll() is None, fault_server.output()[-3000:]


def test_every_route_of_the_app_is_in_the_suite():
    assert {route.path for route in BODY_ROUTES} == set(VALID_BODIES), (
        "a route takes a body the suite has no valid body for: add it to serve_fixtures"
    )
    assert {route.template for route in GET_ROUTES} >= {
        "/",
        "/api/version",
        "/api/tags",
        "/api/ps",
        "/v1/models",
        "/v1/models/{model:path}",
    }


@pytest.mark.parametrize("path", sorted(VALID_BODIES))
def test_the_valid_bodies_are_valid(http, path):
    response = http.post(path, json=VALID_BODIES[path])
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", sorted(OLLAMA_GENERATING))
def test_a_batch_larger_than_the_context_is_cut_to_it(fault_server, http, path):
    """num_batch 1e9 once asked llama.cpp for 179 TiB; it is cut to num_ctx, as Ollama does."""
    body = VALID_BODIES[path]
    response = http.post(
        path, json={**body, "options": {**body.get("options", {}), "num_batch": 10**9}}
    )
    assert response.status_code == 200, response.text[:500]
    _alive(fault_server)


@pytest.mark.parametrize(("route", "fault"), BODY_CASES)
def test_a_bad_body_is_a_4xx_naming_the_field(fault_server, http, route, fault):
    response = http.post(route.path, content=fault.body)
    if fault.waits_on and not 400 <= response.status_code < 500:
        pytest.fail(
            f"answered {response.status_code} {response.text[:200]}; waits on {fault.waits_on}"
        )
    assert response.status_code not in SERVER_ERRORS, response.text[:500]
    assert 400 <= response.status_code < 500, response.text[:500]
    if fault.status is not None:
        assert response.status_code == fault.status
    text = error_text(route, response)
    if fault.field is not None:
        assert fault.field in text, f"the error does not name {fault.field!r}: {text}"
    _alive(fault_server)


@pytest.mark.parametrize(("route", "fault"), GET_CASES)
def test_a_body_sent_where_none_is_read_is_never_a_5xx(fault_server, http, route, fault):
    response = http.request("GET", route.path, content=fault.body)
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        error_text(route, response)
    _alive(fault_server)


@pytest.mark.parametrize("route", ROUTES, ids=[route.path for route in ROUTES])
def test_an_oversized_body_is_413_naming_the_limit_on_every_route(fault_server, route):
    method = "POST" if route.takes_body else "GET"
    head = (
        f"{method} {route.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {600_000_000}\r\n\r\n"
    ).encode()
    answer = raw_request(fault_server.port, head, [b'{"model": "' + b"x" * 65536])
    assert answer.status == 413, answer
    assert answer.closed or b"connection: close" in answer.head.lower()
    message = json.dumps(answer.json())
    assert f"{MAX_BODY} bytes" in message and "--max-body-size" in message
    _alive(fault_server)


@pytest.mark.parametrize("route", BODY_ROUTES, ids=[route.path for route in BODY_ROUTES])
def test_a_chunked_body_growing_past_the_limit_is_413_and_never_read_whole(fault_server, route):
    head = f"POST {route.path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
    answer = raw_request(fault_server.port, head, [chunk] * 64, every=0.0)  # 4 MiB offered
    assert answer.status == 413, answer
    _alive(fault_server)


def test_a_body_just_under_the_limit_is_read(http):
    body = {"model": MODEL + " " * (MAX_BODY - 100)}  # the name is stripped: still the model
    response = http.post("/api/show", json=body)
    assert response.status_code == 200, response.text[:300]


# -- the grammar llama.cpp refused (it used to crash the server at the first token) ----------

WIDE_STRING = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 2048}}}
LONG_ARRAY = {"type": "array", "items": {"type": "integer"}, "maxItems": 5000}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/generate",
            {"model": MODEL, "prompt": "hi", "format": WIDE_STRING, "stream": False},
            "format.properties.name.maxLength",
        ),
        (
            "/api/chat",
            {"model": MODEL, "messages": USER, "format": LONG_ARRAY, "stream": False},
            "format.maxItems",
        ),
        (
            "/v1/chat/completions",
            {
                "model": MODEL,
                "messages": USER,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "r", "schema": WIDE_STRING},
                },
            },
            "response_format",
        ),
        (
            "/v1/chat/completions",
            {
                "model": MODEL,
                "messages": USER,
                "tool_choice": "required",
                "tools": [
                    {"type": "function", "function": {"name": "f", "parameters": WIDE_STRING}}
                ],
            },
            "tools",
        ),
    ],
)
def test_a_schema_llama_cpp_cannot_take_is_a_400_and_the_server_lives(
    fault_server, http, path, body, field
):
    response = http.post(path, json=body)
    assert response.status_code == 400, response.text[:300]
    assert field in response.text
    _alive(fault_server)
    assert http.post("/api/chat", json=VALID_BODIES["/api/chat"]).json()["done"] is True


# -- slow clients -----------------------------------------------------------------------


def test_slowloris_headers_are_cut_off_by_the_header_timeout(fault_server):
    answer = raw_request(
        fault_server.port,
        b"POST /api/chat HTTP/1.1\r\nHost: x\r\n",
        [b"X-Slow: 1\r\n"[i : i + 1] for i in range(10)] * 20,
        every=0.2,
        limit=TIMEOUT_SECONDS * 4,
    )
    assert answer.closed and answer.seconds < TIMEOUT_SECONDS + 1.5, answer
    assert answer.status == 408 and "--header-timeout" in answer.json()["error"]


def test_a_slowloris_body_is_cut_off_by_the_body_timeout(fault_server):
    body = json.dumps(VALID_BODIES["/v1/chat/completions"]).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    answer = raw_request(
        fault_server.port,
        head,
        [body[i : i + 1] for i in range(len(body))],
        every=0.2,
        limit=TIMEOUT_SECONDS * 4,
    )
    assert answer.closed and answer.seconds < TIMEOUT_SECONDS + 1.5, answer
    assert answer.status == 408 and "--body-timeout" in answer.json()["error"]["message"]


def test_a_client_that_stops_reading_is_cut_off_by_the_write_timeout():
    """A stream nobody reads fills the socket's buffers; the server then waits at most the
    write timeout, closes the connection and stops the stream. (The mock backend echoes a
    long prompt a word an event, fast enough to fill the buffers in a second or two.)"""
    import socket

    words = 150_000
    with serve_subprocess("--backend", "mock", "--write-timeout", "1") as served:
        body = json.dumps(
            {"model": "mock", "messages": [{"role": "user", "content": "w " * words}]}
        ).encode()
        head = f"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", served.port))
            sock.sendall(head.encode() + body)
            started = time.monotonic()
            while "--write-timeout" not in served.output():
                assert time.monotonic() - started < 30, "the connection was not cut off"
                time.sleep(0.2)
            cut_after = time.monotonic() - started
            # What the kernel had buffered, then the end: far from the whole stream.
            sock.settimeout(5)
            got = b""
            try:
                while piece := sock.recv(1 << 16):
                    got += piece
            except ConnectionResetError:
                pass
        print(f"cut off {cut_after:.1f} s after the request, {len(got)} bytes delivered")
        assert got.count(b'"done":false') < words // 2
        # The stream was stopped: the server is idle, and answers the next request at once.
        time.sleep(0.5)
        before = cpu_seconds(served.process.pid)
        time.sleep(0.5)
        assert cpu_seconds(served.process.pid) - before < 0.05, "the stream went on"
        reply = httpx.post(f"{served.url}/api/chat", json={"model": "mock", "messages": USER})
        assert reply.status_code == 200


def test_connections_past_max_connections_are_answered_503():
    import socket

    with serve_subprocess("--backend", "mock", "--max-connections", "3") as served:
        held = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(3)]
        try:
            time.sleep(0.3)
            refused = httpx.get(f"{served.url}/api/tags")
            assert refused.status_code == 503
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.3)
        assert httpx.get(f"{served.url}/api/tags").status_code == 200


def test_an_idle_connection_is_closed(fault_server):
    answer = raw_request(fault_server.port, b"", limit=TIMEOUT_SECONDS * 4)
    assert answer.closed and answer.seconds < TIMEOUT_SECONDS + 1.5


def test_many_slow_connections_do_not_stop_the_server_answering(fault_server, http):
    import socket

    slow = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", fault_server.port))
            sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        started = time.monotonic()
        assert http.get("/api/tags").status_code == 200
        assert time.monotonic() - started < 1
        time.sleep(TIMEOUT_SECONDS + 1)
        closed = 0
        for sock in slow:
            sock.settimeout(1)
            try:
                data = sock.recv(4096)
                closed += data.startswith(b"HTTP/1.1 408") or data == b""
            except OSError:
                closed += 1
        assert closed == len(slow), "slow connections were kept open past the header timeout"
    finally:
        for sock in slow:
            sock.close()


# -- a client leaving a stream --------------------------------------------------------------


STORY = [
    {
        "role": "user",
        "content": "Write a long story about a dragon who learns to cook. Use at least 500 words.",
    }
]  # SmolLM2 writes 2000 tokens and more for it at temperature 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/chat",
            {"model": MODEL, "messages": STORY, "options": {"num_predict": 4000, "temperature": 0}},
        ),
        (
            "/v1/chat/completions",
            {
                "model": MODEL,
                "messages": STORY,
                "max_tokens": 4000,
                "temperature": 0,
                "stream": True,
            },
        ),
    ],
)
def test_a_client_leaving_a_stream_frees_the_model_within_a_second(fault_server, path, body):
    pid = fault_server.process.pid
    with httpx.Client(base_url=fault_server.url, timeout=60) as client:
        with client.stream("POST", path, json=body) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            for _ in range(5):
                next(lines)
            busy_from = cpu_seconds(pid)
            time.sleep(0.5)
            assert cpu_seconds(pid) - busy_from > 0.2, "the model was not generating"
        left = time.monotonic()  # the connection is closed here
    freed_after = idle_after(pid, left, limit=5)
    assert freed_after is not None, "generation went on after the client left"
    print(f"{path}: the model was free {freed_after:.2f} s after the client left")
    assert freed_after < 1.0, f"the model was busy {freed_after:.2f} s after the client left"
    # and it serves the next request at once
    reply = httpx.post(
        f"{fault_server.url}/api/chat", json=VALID_BODIES["/api/chat"], timeout=30
    ).json()
    assert reply["done"] is True


# -- after all of it -------------------------------------------------------------------------


def test_ps_still_answers(http):
    response = http.get("/api/ps")
    assert response.status_code == 200
    assert all(model["expires_at"].endswith("Z") for model in response.json()["models"])


def test_afterwards_the_server_still_chats(fault_server, http):
    reply = http.post(
        "/api/chat",
        json={**VALID_BODIES["/api/chat"], "options": {"num_predict": 8, "temperature": 0}},
    )
    assert reply.status_code == 200 and reply.json()["message"]["content"]
    _alive(fault_server)


def test_no_request_was_answered_5xx_or_logged_an_unhandled_error(fault_server):
    log = fault_server.output()
    answered_5xx = re.findall(r'"[A-Z]+ (\S+) HTTP/1\.1" (5\d\d)', log)
    assert not answered_5xx, f"answered 5xx: {answered_5xx}"
    for sign in ("Exception in ASGI application", "unhandled error", "unexpected error"):
        assert sign not in log, log[log.index(sign) - 200 :][:3000]
