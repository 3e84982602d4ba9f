"""httpx's exceptions and error statuses as llmkit errors (no I/O of its own).

Shared by the async session and its generated sync twin, so both raise the
same typed errors; nothing from httpx escapes an HTTP backend.
"""

from __future__ import annotations

import json

import httpx

from llmkit.backends.http.retry import parse_retry_after
from llmkit.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionFailedError,
    HTTPStatusError,
    RateLimitError,
    RemoteError,
    RemoteModelNotFoundError,
    RemoteTimeoutError,
)

__all__ = ["error_message", "status_error", "transport_error"]

_TIMEOUT_PHASES: tuple[tuple[type[httpx.TimeoutException], str], ...] = (
    (httpx.ConnectTimeout, "connect"),
    (httpx.ReadTimeout, "read"),
    (httpx.WriteTimeout, "write"),
    (httpx.PoolTimeout, "pool"),
)


def transport_error(exc: httpx.HTTPError, url: str) -> RemoteError:
    """The llmkit error for an httpx transport failure (not an error status)."""
    if isinstance(exc, httpx.TimeoutException):
        phase = next((name for kind, name in _TIMEOUT_PHASES if isinstance(exc, kind)), "read")
        return RemoteTimeoutError(f"{phase} timeout talking to {url}", url=url, phase=phase)
    if isinstance(exc, httpx.ConnectError):
        return ConnectionFailedError(f"could not connect to {url}: {exc}", url=url)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return ConnectionFailedError(f"the connection to {url} broke: {exc}", url=url)
    return RemoteError(f"request to {url} failed: {exc}", url=url)


def error_message(body: str) -> str:
    """The server's own message from an error body (Ollama's or OpenAI's shape, or the text)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500]
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if isinstance(error, str):
            return error
        if error is not None:
            return json.dumps(error)[:500]
    return body.strip()[:500]


def status_error(status: int, body: str, retry_after: str | None, url: str) -> HTTPStatusError:
    """The llmkit error for an error status, with the server's message."""
    message = error_message(body)
    text = f"{url} answered {status}: {message}" if message else f"{url} answered {status}"
    after = parse_retry_after(retry_after)
    kind: type[HTTPStatusError] = HTTPStatusError
    if status in (400, 422):
        kind = BadRequestError
    elif status in (401, 403):
        kind = AuthenticationError
    elif status == 404 and "model" in message.lower():
        kind = RemoteModelNotFoundError
    elif status == 429:
        kind = RateLimitError
    return kind(text, url=url, status_code=status, body=message, retry_after=after)
