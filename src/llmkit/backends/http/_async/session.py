"""``AsyncHTTPSession``: the one thin I/O layer of the HTTP backends.

It sends JSON, retries what :class:`~llmkit.backends.http.retry.RetryPolicy`
allows (a stream only until its first byte), enforces the timeouts and the
deadline, reads no more than :class:`~llmkit.backends.http.limits.ResponseLimits`
allows (counting decompressed bytes as they arrive), and turns every httpx
failure and error status into an llmkit error.  Everything it decides comes
from pure modules; this file only moves bytes.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx
from tenacity import AsyncRetrying, stop_after_attempt

from llmkit.backends.http import body as body_reader
from llmkit.backends.http.connection import Timeouts, user_agent
from llmkit.backends.http.deadline import Deadline
from llmkit.backends.http.limits import (
    ACCEPT_ENCODING,
    MAX_ERROR_BODY,
    ResponseLimits,
    check_content_encoding,
    stream_check,
    too_large,
)
from llmkit.backends.http.retry import RetryPolicy
from llmkit.backends.http.transport_errors import status_error, transport_error
from llmkit.errors import RemoteError

__all__ = ["AsyncHTTPSession"]


def _http2_available() -> bool:
    from importlib.util import find_spec

    return find_spec("h2") is not None


def _tls_context(verify: ssl.SSLContext | str | bool) -> ssl.SSLContext | bool:
    """``verify`` as httpx takes it: a CA bundle's path (or a folder of them) becomes a context."""
    if not isinstance(verify, str):
        return verify
    if Path(verify).is_dir():
        return ssl.create_default_context(capath=verify)
    return ssl.create_default_context(cafile=verify)


class AsyncHTTPSession:
    """JSON requests and byte streams to one server, with retries, timeouts and size limits.

    ``http_client`` shares a connection pool between backends (the caller
    then owns it and closes it); otherwise the session makes its own, with
    HTTP/2 when the ``h2`` package is installed and the server offers it, and
    ``verify`` (as httpx takes it: ``False``, a CA bundle's path or an
    :class:`ssl.SSLContext`) for servers whose certificate the system does not trust.
    ``limits`` bounds what is read (:class:`ResponseLimits`); ``deadline`` (seconds)
    bounds each call as a whole and replaces ``timeout``'s ``total``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: Timeouts | float | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        verify: ssl.SSLContext | str | bool = True,
        limits: ResponseLimits | None = None,
        deadline: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = Timeouts.of(timeout)
        if deadline is not None:
            if not deadline > 0:
                raise ValueError("deadline must be a positive number of seconds (or None)")
            self.timeouts = replace(self.timeouts, total=float(deadline))
        self.limits = ResponseLimits.of(limits)
        self.retry = retry if retry is not None else RetryPolicy()
        given = dict(headers or {})
        defaults = {"User-Agent": user_agent()}
        if not any(name.lower() == "accept-encoding" for name in given):
            defaults["Accept-Encoding"] = ACCEPT_ENCODING  # nothing that inflates unboundedly
        self.headers = {**defaults, **given}
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(
            http2=_http2_available(),
            verify=_tls_context(verify),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    def deadline(self) -> Deadline | None:
        """A new deadline for one call (``None`` without ``Timeouts.total``)."""
        total = self.timeouts.total
        return None if total is None else Deadline(total)

    def _timeout(self, deadline: Deadline | None, *, management: bool = False) -> httpx.Timeout:
        t = self.timeouts
        read = t.read
        if management and t.management is not None:
            read = t.management if read is None else min(read, t.management)
        if deadline is None:
            return httpx.Timeout(connect=t.connect, read=read, write=t.write, pool=t.connect)
        left = max(0.001, deadline.left())

        def cap(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(connect=cap(t.connect), read=cap(read), write=cap(t.write), pool=left)

    @staticmethod
    def _transport_error(exc: httpx.HTTPError, url: str, deadline: Deadline | None) -> RemoteError:
        # A wait cut short by the deadline is the deadline's timeout, not the read's.
        timed_out = isinstance(exc, httpx.TimeoutException)
        if timed_out and deadline is not None and time.monotonic() > deadline.at - 0.05:
            return deadline.error(url)
        return transport_error(exc, url)

    def _retrying(self, deadline: Deadline | None) -> AsyncRetrying:
        policy = self.retry

        def wait(state: Any) -> float:
            pause = policy.tenacity_wait(state)
            if deadline is not None:
                pause = min(pause, max(0.0, deadline.left()))
            return pause

        return AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts),
            retry=policy.tenacity_retry,
            wait=wait,
            sleep=anyio.sleep,
            reraise=True,
        )

    async def _next(
        self, pieces: AsyncIterator[bytes], deadline: Deadline | None, url: str
    ) -> bytes | None:
        """The next piece of a body (``None`` at its end), within the deadline."""
        try:
            if deadline is None:
                return await anext(pieces, None)
            deadline.check(url)
            async with deadline.scope(url):
                return await anext(pieces, None)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, url, deadline) from exc

    async def _send(
        self,
        method: str,
        url: str,
        body: Any,
        deadline: Deadline | None,
        *,
        management: bool = False,
    ) -> httpx.Response:
        """Send and return a response whose status is a success; its body is not read yet."""
        if deadline is not None:
            deadline.check(url)
        request = self._client.build_request(
            method,
            url,
            json=body,
            headers=self.headers,
            timeout=self._timeout(deadline, management=management),
        )
        try:
            if deadline is None:
                response = await self._client.send(request, stream=True)
            else:
                async with deadline.scope(url):
                    response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, url, deadline) from exc
        if response.status_code >= 400:
            try:
                text = await self._error_text(response, url, deadline)
            finally:
                await response.aclose()
            raise status_error(response.status_code, text, response.headers.get("retry-after"), url)
        try:
            check_content_encoding(response.headers.get("content-encoding"), url)
        except RemoteError:
            await response.aclose()
            raise
        return response

    async def _error_text(
        self, response: httpx.Response, url: str, deadline: Deadline | None
    ) -> str:
        """The start of an error status's body (its message is all that is used)."""
        try:
            check_content_encoding(response.headers.get("content-encoding"), url)
            pieces = body_reader.aiter_raw(response, deadline)
            data = b""
            while len(data) < MAX_ERROR_BODY:
                piece = await self._next(pieces, deadline, url)
                if piece is None:
                    break
                data += piece[: MAX_ERROR_BODY - len(data)]
        except RemoteError:
            return ""
        return data.decode("utf-8", "replace")

    async def _read_body(
        self, response: httpx.Response, url: str, deadline: Deadline | None
    ) -> bytearray:
        """The whole body, up to ``max_body_bytes`` (decompressed, counted as it arrives)."""
        limit = self.limits.max_body_bytes
        if limit is not None and "content-encoding" not in response.headers:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_large("the response body", url, limit, "max_body_bytes")
        pieces = body_reader.aiter_raw(response, deadline)
        data = bytearray()
        while True:
            piece = await self._next(pieces, deadline, url)
            if piece is None:
                return data
            data += piece
            if limit is not None and len(data) > limit:
                raise too_large("the response body", url, limit, "max_body_bytes")

    async def request(
        self, method: str, path: str, body: Any = None, *, management: bool = False
    ) -> Any:
        """Send a request and return its JSON answer (retried as the policy allows).

        ``management``: a call that never waits on a model (``Timeouts.management``).
        """
        url = self.base_url + path
        deadline = self.deadline()
        async for attempt in self._retrying(deadline):
            with attempt:
                response = await self._send(method, url, body, deadline, management=management)
                try:
                    data = await self._read_body(response, url, deadline)
                finally:
                    await response.aclose()
        try:
            return json.loads(data) if data.strip() else None
        except (ValueError, RecursionError) as exc:
            raise RemoteError(
                f"{url} answered with something that is not JSON: {bytes(data[:200])!r}", url=url
            ) from exc

    async def stream(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        framing: str | None = None,
        counted: bool = False,
        deadline: Deadline | None = None,
    ) -> AsyncIterator[bytes]:
        """The response body in the pieces the network delivers (decompressed).

        Retried (as the policy allows) until the first byte has arrived; after
        that a failure raises.  Closing the iterator closes the connection.
        ``framing`` (``"ndjson"`` or ``"sse"``) applies ``max_line_bytes`` to each line or
        event; ``counted`` applies ``max_stream_bytes`` to the whole body.  ``deadline``
        (from :meth:`deadline`) is shared by calls that continue one answer; by default
        the call has its own.
        """
        url = self.base_url + path
        if deadline is None:
            deadline = self.deadline()
        admit = stream_check(self.limits, url, framing=framing, counted=counted)
        response: httpx.Response | None = None
        first: bytes | None = None
        async for attempt in self._retrying(deadline):
            with attempt:
                response = await self._send(method, url, body, deadline)
                # Straight from h11 on a plain HTTP/1.1 connection, else httpx's own stream.
                pieces = body_reader.aiter_raw(response, deadline)
                try:
                    first = await self._next(pieces, deadline, url)
                except RemoteError:
                    await response.aclose()
                    raise
        assert response is not None
        try:
            if first is None:
                return
            if admit is not None:
                admit(first)
            if first:
                yield first
            if deadline is None:  # the hot path: one token per piece
                try:
                    async for piece in pieces:
                        if admit is not None:
                            admit(piece)
                        yield piece
                except httpx.HTTPError as exc:
                    raise transport_error(exc, url) from exc
                return
            while (more := await self._next(pieces, deadline, url)) is not None:
                if admit is not None:
                    admit(more)
                yield more
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless the caller gave it and owns it)."""
        if self._owns_client:
            await self._client.aclose()
