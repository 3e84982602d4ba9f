"""What the serve fault suite sends: every route of the app, a valid body for each, and the
faults, each with the field its refusal must name; raw-socket requests; CPU time of a process.

The routes are read from the app itself (:func:`served_routes`), so a route added later
without a valid body here fails the suite instead of going untested.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from llmkit.backends.mock import MockBackend
from llmkit.serve import create_app

MODEL = "smollm2"
#: The fault server's limits (small, so that the suite runs quickly).
MAX_BODY = 1 << 20
TIMEOUT_SECONDS = 2.0
SERVE_ARGS = (
    "--model",
    MODEL,
    "--log-level",
    "info",
    "--max-body-size",
    str(MAX_BODY),
    "--header-timeout",
    str(TIMEOUT_SECONDS),
    "--body-timeout",
    str(TIMEOUT_SECONDS),
)
USER = [{"role": "user", "content": "Say hi."}]

#: A valid body for every route that takes one (generation kept to one token).
VALID_BODIES: dict[str, dict] = {
    "/api/chat": {"model": MODEL, "messages": USER, "stream": False, "options": {"num_predict": 1}},
    "/api/generate": {
        "model": MODEL,
        "prompt": "Hi",
        "stream": False,
        "options": {"num_predict": 1},
    },
    "/api/embed": {"model": MODEL, "input": "hi"},
    "/api/embeddings": {"model": MODEL, "prompt": "hi"},
    "/api/show": {"model": MODEL},
    "/api/pull": {"model": MODEL, "stream": False},
    "/v1/chat/completions": {"model": MODEL, "messages": USER, "max_tokens": 1},
    "/v1/completions": {"model": MODEL, "prompt": "Hi", "max_tokens": 1},
    "/v1/embeddings": {"model": MODEL, "input": "hi"},
    "/v1/responses": {"model": MODEL, "input": "Hi", "max_output_tokens": 1},
}
#: Each body route's main text field (where a bad string goes) and the path that names it.
TEXT_FIELDS: dict[str, tuple[tuple[str | int, ...], str]] = {
    "/api/chat": (("messages", 0, "content"), "messages.0.content"),
    "/api/generate": (("prompt",), "prompt"),
    "/api/embed": (("input",), "input"),
    "/api/embeddings": (("prompt",), "prompt"),
    "/api/show": (("model",), "model"),
    "/api/pull": (("model",), "model"),
    "/v1/chat/completions": (("messages", 0, "content"), "messages.0.content"),
    "/v1/completions": (("prompt",), "prompt"),
    "/v1/embeddings": (("input",), "input"),
    "/v1/responses": (("input",), "input"),
}
#: Each body route's fields of the wrong type: (field, value).
WRONG_TYPES: dict[str, list[tuple[str, object]]] = {
    "/api/chat": [("messages", "hi"), ("stream", "yes"), ("options", [1])],
    "/api/generate": [("prompt", 5), ("stream", "yes"), ("options", "fast")],
    "/api/embed": [("input", {"a": 1}), ("options", [1])],
    "/api/embeddings": [("prompt", 5), ("options", 7)],
    "/api/show": [("verbose", "very")],
    "/api/pull": [("stream", "yes")],
    "/v1/chat/completions": [("messages", "hi"), ("stream", "yes"), ("max_tokens", "many")],
    "/v1/completions": [("prompt", {"a": 1}), ("stream", "yes"), ("max_tokens", "many")],
    "/v1/embeddings": [("input", {"a": 1}), ("encoding_format", 5)],
    "/v1/responses": [("input", 5), ("stream", "yes"), ("max_output_tokens", "many")],
}
OLLAMA_GENERATING = ("/api/chat", "/api/generate", "/api/embed", "/api/embeddings")


@dataclass(frozen=True)
class Route:
    path: str
    """As the client sends it (a path parameter filled in)."""
    template: str
    methods: tuple[str, ...]

    @property
    def takes_body(self) -> bool:
        return "POST" in self.methods

    @property
    def protocol(self) -> str:
        return "openai" if self.path.startswith("/v1") else "ollama"


def served_routes() -> list[Route]:
    """Every route ``llmkit serve``'s app has, with path parameters filled in."""
    app = create_app(MockBackend(), models=[MODEL])
    routes = []
    for route in app.routes:
        template = route.path  # type: ignore[attr-defined]
        path = template.replace("{model:path}", MODEL)
        assert "{" not in path, f"fill in the path parameter of {template}"
        methods = tuple(sorted(route.methods))  # type: ignore[attr-defined]
        routes.append(Route(path, template, methods))
    return routes


@dataclass(frozen=True)
class Fault:
    """One bad request: its body, and what its refusal must name (``None``: anything 4xx)."""

    name: str
    body: bytes
    field: str | None
    status: int | None = None
    """The exact status expected; otherwise any 4xx."""
    waits_on: str | None = None
    """Why this one may fail until another change lands (reported, not skipped)."""


def _dump(value: object) -> bytes:
    return json.dumps(value).encode()


def _with(path: str, **changes: object) -> dict:
    return {**VALID_BODIES[path], **changes}


def _set(body: dict, where: tuple[str | int, ...], value: object) -> dict:
    body = json.loads(json.dumps(body))
    node = body
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
    return body


def _with_text(path: str, marker: str) -> bytes:
    """The valid body with its text field holding ``marker``, written raw into the JSON."""
    where, _ = TEXT_FIELDS[path]
    body = _dump(_set(VALID_BODIES[path], where, "<<TEXT>>"))
    return body.replace(b'"<<TEXT>>"', b'"' + marker.encode("latin-1") + b'"')


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _out_of_range(path: str) -> list[Fault]:
    """The out-of-range numbers, each where the route's clients would put it."""
    faults = []
    options = {
        "num_ctx": 1_000_000,
        "num_thread": 1000,
        "num_batch": 1_000_000_000,
        "temperature": -1,
        "top_p": 2,
    }
    for option, value in options.items():
        if path in OLLAMA_GENERATING and option == "num_batch":
            continue  # honoured: cut to the context, as Ollama does (test_serve_faults.py)
        if path in OLLAMA_GENERATING:
            base = VALID_BODIES[path]
            body = {**base, "options": {**base.get("options", {}), option: value}}
            field = option
        else:  # show, pull: no options; OpenAI: the option as a top-level argument
            body = _with(path, **{option if path.startswith("/v1") else "options": value})
            field = option if path.startswith("/v1") else "options"
        faults.append(Fault(f"{option}={value}", _dump(body), field))
    for keep_alive in ("inf", 1e20, "1e20"):
        body = _with(path, keep_alive=keep_alive)
        faults.append(Fault(f"keep_alive={keep_alive!r}", _dump(body), "keep_alive"))
    for context in ([-1], [10**12], [1, 2, 60000]):
        body = _with(path, context=context)
        faults.append(Fault(f"context={context}", _dump(body), "context"))
    return faults


def body_faults(path: str) -> list[Fault]:
    """Every fault for a route that takes a body."""
    text_field = TEXT_FIELDS[path][1]
    faults = [
        Fault("malformed JSON", _dump(VALID_BODIES[path])[:-3], "JSON"),
        Fault("not an object", b"[1, 2, 3]", "JSON object"),
        Fault("empty body", b"", "request body"),
        Fault("model of the wrong type", _dump(_with(path, model=5)), "model"),
        Fault("NaN", _dump(VALID_BODIES[path])[:-1] + b', "seed": NaN}', "seed"),
        Fault("1e999", _dump(VALID_BODIES[path])[:-1] + b', "seed": 1e999}', "seed"),
        Fault("digits past the int limit", b'{"model": ' + b"9" * 5000 + b"}", "JSON"),
        Fault(
            "nested 5000 deep",
            _dump(_with(path, model=MODEL))[:-1] + b', "deep": ' + _nested(5000).encode() + b"}",
            "deep",
        ),
        Fault(
            "nested 150 deep",
            _dump(_with(path, model=MODEL))[:-1] + b', "deep": ' + _nested(150).encode() + b"}",
            "deep",
        ),
        Fault("a bare array nested 100000 deep", _nested(100_000).encode(), None, 400),
        Fault("invalid UTF-8 in the model", _with_field(path, "model", b"smoll\xffm2"), "model"),
        Fault("invalid UTF-8 in the text", _with_text(path, "Say \xff\xfe hi"), text_field),
        Fault("UTF-8 of a surrogate", _with_text(path, "\xed\xa0\x80"), text_field),
        Fault("a cut multi-byte character", _with_text(path, "caf\xc3"), text_field),
        Fault("lone surrogate in the model", _with_field(path, "model", b"\\ud800"), "model"),
        Fault("lone surrogate in the text", _with_text(path, "hi \\udfff there"), text_field),
        Fault(
            "lone surrogate in a key",
            _dump(VALID_BODIES[path])[:-1] + b', "\\ud800": 1}',
            "\\ud800",
        ),
    ]
    schema_field = {
        "/api/chat": ("format", {"a": 1}),
        "/api/generate": ("format", {"a": 1}),
        "/v1/chat/completions": (
            "response_format",
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"a": 1}}},
        ),
    }.get(path)
    if schema_field is not None:
        field, value = schema_field
        faults.append(
            Fault(
                "a schema llama.cpp's grammar converter cannot read",
                _dump(_with(path, **{field: value})),
                field,
                waits_on="the llama.cpp backend refusing a schema its grammar converter "
                "rejects (AssertionError: Unrecognized schema)",
            )
        )
    for field, value in WRONG_TYPES[path]:
        faults.append(
            Fault(f"{field} of the wrong type", _dump(_with(path, **{field: value})), field)
        )
    return faults + _out_of_range(path)


def _with_field(path: str, field: str, raw: bytes) -> bytes:
    body = _dump(_with(path, **{field: "<<RAW>>"}))
    return body.replace(b'"<<RAW>>"', b'"' + raw + b'"')


def get_faults() -> list[Fault]:
    """Bodies sent to the routes that take none: ignored (2xx) or refused (4xx), never 5xx."""
    return [
        Fault("malformed JSON", b'{"model": ', None),
        Fault("nested 5000 deep", _nested(5000).encode(), None),
        Fault("invalid UTF-8", b'{"model": "\xff"}', None),
        Fault("lone surrogate", b'{"model": "\\ud800"}', None),
        Fault(
            "out-of-range numbers",
            b'{"keep_alive": "inf", "context": [-1], "num_ctx": 1e999}',
            None,
        ),
    ]


# -- checking answers -----------------------------------------------------------------


def error_text(route: Route, response: httpx.Response) -> str:
    """The error's message (and OpenAI's ``param``), checking the protocol's error shape."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.headers,
        response.text[:300],
    )
    body = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    if route.protocol == "ollama":
        assert isinstance(error, str), body
        return error
    assert set(error) == {"message", "type", "param", "code"}, body
    assert error["type"] == "invalid_request_error", body
    return f"{error['message']} (param: {error['param']})"


# -- raw sockets ----------------------------------------------------------------------


@dataclass
class RawAnswer:
    status: int | None
    head: bytes
    body: bytes
    closed: bool
    seconds: float

    def json(self):
        return json.loads(self.body)


def raw_request(
    port: int,
    head: bytes,
    body_pieces: list[bytes] | None = None,
    *,
    every: float = 0.0,
    limit: float = 15.0,
) -> RawAnswer:
    """Send ``head`` then each body piece (``every`` seconds apart) while reading, until the
    server closes the connection or ``limit`` seconds pass (a second after a whole response
    that does not close it); return what came back."""
    started = time.monotonic()
    data = b""
    closed = False
    pieces = list(body_pieces or [])
    deadline = started + limit
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(0.02)
        if head:
            sock.sendall(head)
        next_send = time.monotonic()
        while time.monotonic() < deadline:
            if pieces and time.monotonic() >= next_send:
                try:
                    sock.sendall(pieces.pop(0))
                except OSError:  # the server closed on us: read what it said
                    pieces = []
                next_send = time.monotonic() + every
            try:
                piece = sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
            if not piece:
                closed = True
                break
            data += piece
            if _whole(data):
                deadline = min(deadline, time.monotonic() + 1.0)
                pieces = []
    head_part, _, body_part = data.partition(b"\r\n\r\n")
    first = head_part.split(b"\r\n", 1)[0].split()
    status = int(first[1]) if len(first) > 1 else None
    return RawAnswer(status, head_part, body_part, closed, time.monotonic() - started)


def _whole(data: bytes) -> bool:
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


# -- the server process ---------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    import os

    return ticks / os.sysconf("SC_CLK_TCK")


def idle_after(pid: int, since: float, limit: float) -> float | None:
    """Seconds from ``since`` (``time.monotonic()``) until the process stopped using CPU
    (a 300 ms window with under 30 ms of it), or ``None`` if it was still busy ``limit``
    seconds after ``since``."""
    while time.monotonic() - since < limit:
        before = cpu_seconds(pid)
        time.sleep(0.3)
        if cpu_seconds(pid) - before < 0.03:
            return time.monotonic() - since - 0.3
    return None


def rss_bytes(pid: int) -> int:
    """The process's resident memory (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
