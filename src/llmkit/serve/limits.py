"""What one request may cost the server: body size, how long its bytes may take, JSON depth.

:class:`ServeLimits` holds the limits, with the defaults ``llmkit serve`` uses; its
command-line flags come from :func:`limit_options`.  Two layers enforce them:

- :class:`RequestLimits`, an ASGI middleware (any ASGI server): it reads the
  request body before the app sees it, chunk by chunk, and refuses it with 413
  once it grows past ``max_body_bytes`` (at once when ``Content-Length`` says so),
  or with 408 when the whole body has not arrived ``body_timeout`` seconds after
  the headers.  Either answer closes the connection, so what the client still
  sends is never read.  The app then gets the body in one message.
- :mod:`llmkit.serve.http11` (the uvicorn protocol ``llmkit serve`` runs): a
  connection must deliver a request's whole header block ``header_timeout``
  seconds after its first byte (after it opened, for a new connection), and the
  block may be at most ``max_header_bytes``; ``keep_alive_timeout`` closes an
  idle connection between requests.

JSON bodies nest at most :data:`~llmkit.serve.wire.MAX_JSON_DEPTH` levels
(:func:`~llmkit.serve.wire.parse_json_object`).

Nothing here imports Starlette or uvicorn: the command line reads this module.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from llmkit.serve.errors import Problem, ollama_error_body, openai_error_body

__all__ = [
    "DEFAULT_LIMITS",
    "RequestLimits",
    "ServeLimits",
    "limit_options",
    "parse_size",
]

F = TypeVar("F", bound=Callable[..., Any])

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)(i?b)?\s*$", re.IGNORECASE)
_UNIT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str | int) -> int:
    """Bytes from ``"16M"``, ``"512KiB"``, ``"1g"`` or ``"1048576"`` (units are powers of 1024)."""
    if isinstance(text, int):
        size = text
    else:
        match = _SIZE.match(text)
        if match is None:
            raise ValueError(f"not a size: {text!r} (give bytes, or a number with K, M or G)")
        size = int(match.group(1)) * _UNIT[match.group(2).lower()]
    if size < 1:
        raise ValueError(f"a size must be at least 1 byte, got {text!r}")
    return size


@dataclass(frozen=True)
class ServeLimits:
    """The limits on each request and connection; see the module docstring."""

    max_body_bytes: int = 16 << 20
    """The largest request body accepted (``--max-body-size``): 16 MiB."""
    body_timeout: float = 30.0
    """Seconds from the end of the headers until the whole body must be in (``--body-timeout``)."""
    header_timeout: float = 10.0
    """Seconds from a request's first byte (a new connection: from its opening) until its
    whole header block must be in (``--header-timeout``)."""
    keep_alive_timeout: float = 5.0
    """Seconds an idle connection is kept open between requests (``--keep-alive-timeout``)."""
    max_header_bytes: int = 16 << 10
    """The largest request line plus headers (``--max-header-size``): 16 KiB, h11's default."""
    write_timeout: float = 60.0
    """Seconds a response may stay blocked on a client that does not read it (the server's
    send buffers full) before the connection is closed (``--write-timeout``): a client that
    stops reading a stream cannot hold its slot for good."""
    max_connections: int = 1024
    """Connections (and requests in progress) served at once; one more is answered 503 and
    closed (``--max-connections``, uvicorn's ``limit_concurrency``)."""

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_header_bytes", "max_connections"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        for name in ("body_timeout", "header_timeout", "keep_alive_timeout", "write_timeout"):
            value = getattr(self, name)
            if not value > 0 or value == float("inf"):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


DEFAULT_LIMITS = ServeLimits()


def _protocol(path: str) -> str:
    return "openai" if path == "/v1" or path.startswith("/v1/") else "ollama"


def error_message(
    scope: dict[str, Any], status: int, message: str, code: str
) -> tuple[dict[str, Any], bytes]:
    """The ``http.response.start`` message and body of an error that closes the connection."""
    problem = Problem(status, message, "invalid_request_error", None, code)
    protocol = _protocol(str(scope.get("path", "")))
    body = openai_error_body(problem) if protocol == "openai" else ollama_error_body(problem)
    data = json.dumps(body, separators=(",", ":")).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, data


class RequestLimits:
    """ASGI middleware: the body is read whole, within ``max_body_bytes`` and ``body_timeout``.

    The app is called with a ``receive`` that gives the whole body in its first
    message and then passes the server's messages through (a disconnect, later).
    """

    def __init__(self, app: Any, limits: ServeLimits = DEFAULT_LIMITS) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        import anyio

        limit = self.limits.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, send, 413, _too_large(limit), "request_too_large")
            return
        chunks: list[bytes] = []
        size = 0
        with anyio.move_on_after(self.limits.body_timeout) as deadline:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left before its body was in: nobody to answer
                chunk = message.get("body", b"")
                if size + len(chunk) > limit:
                    await self._refuse(scope, send, 413, _too_large(limit), "request_too_large")
                    return
                size += len(chunk)
                if chunk:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        if deadline.cancelled_caught:
            await self._refuse(
                scope,
                send,
                408,
                f"the request body did not arrive within the body timeout of "
                f"{self.limits.body_timeout:g} seconds (llmkit serve --body-timeout)",
                "request_timeout",
            )
            return
        body = b"".join(chunks)
        del chunks
        delivered = False

        async def replay() -> Any:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Any, send: Any, status: int, message: str, code: str) -> None:
        start, data = error_message(scope, status, message, code)
        await send(start)
        await send({"type": "http.response.body", "body": data, "more_body": False})


def _too_large(limit: int) -> str:
    return (
        f"the request body is larger than the limit of {limit} bytes (llmkit serve --max-body-size)"
    )


def _content_length(scope: Any) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses a malformed length itself
    return None


def limit_options(command: F) -> F:
    """Click options for each limit; the command gets them as one ``limits: ServeLimits``."""
    import click

    def size(value: str | int) -> int:
        try:
            return parse_size(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc

    default = DEFAULT_LIMITS
    seconds = click.FloatRange(min=0, min_open=True, max=86400)
    options = [
        click.option(
            "--max-body-size",
            default="16M",
            show_default=True,
            metavar="SIZE",
            callback=lambda _ctx, _param, value: size(value),
            help="Largest request body (bytes, or with K, M, G); larger is refused with 413.",
        ),
        click.option(
            "--body-timeout",
            default=default.body_timeout,
            show_default=True,
            type=seconds,
            metavar="SECONDS",
            help="Time a request's body may take to arrive, after its headers (then 408).",
        ),
        click.option(
            "--header-timeout",
            default=default.header_timeout,
            show_default=True,
            type=seconds,
            metavar="SECONDS",
            help="Time a request's headers may take to arrive (a new connection: from its "
            "opening); then the connection is closed.",
        ),
        click.option(
            "--keep-alive-timeout",
            default=default.keep_alive_timeout,
            show_default=True,
            type=seconds,
            metavar="SECONDS",
            help="Time an idle connection stays open between requests.",
        ),
        click.option(
            "--max-header-size",
            default="16K",
            show_default=True,
            metavar="SIZE",
            callback=lambda _ctx, _param, value: size(value),
            help="Largest request line plus headers (bytes, or with K, M).",
        ),
        click.option(
            "--write-timeout",
            default=default.write_timeout,
            show_default=True,
            type=seconds,
            metavar="SECONDS",
            help="Time a response may wait for a client that does not read it; then the "
            "connection is closed (and its generation stopped).",
        ),
        click.option(
            "--max-connections",
            default=default.max_connections,
            show_default=True,
            type=click.IntRange(min=1),
            help="Connections served at once; one more is answered 503.",
        ),
    ]

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        max_body_size: int,
        body_timeout: float,
        header_timeout: float,
        keep_alive_timeout: float,
        max_header_size: int,
        write_timeout: float,
        max_connections: int,
        **kwargs: Any,
    ) -> Any:
        limits = ServeLimits(
            max_body_bytes=max_body_size,
            body_timeout=body_timeout,
            header_timeout=header_timeout,
            keep_alive_timeout=keep_alive_timeout,
            max_header_bytes=max_header_size,
            write_timeout=write_timeout,
            max_connections=max_connections,
        )
        return command(*args, limits=limits, **kwargs)

    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]
