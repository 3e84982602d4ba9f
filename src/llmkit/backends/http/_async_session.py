"""``AsyncHTTPSession``: the one thin I/O layer of the HTTP backends.

``_sync_session.py`` (``HTTPSession``) is generated from this file by
``python .ci/unasync.py``; a test fails when the two drift.  Edit this
file, then regenerate.

It sends JSON, retries what :class:`~llmkit.backends.http.retry.RetryPolicy`
allows (a stream only until its first byte), enforces the timeouts, and turns
every httpx failure and error status into an llmkit error.  Everything it
decides comes from pure modules; this file only moves bytes.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx
from tenacity import AsyncRetrying, stop_after_attempt

from llmkit.backends.http import body as body_reader
from llmkit.backends.http.connection import Timeouts, user_agent
from llmkit.backends.http.retry import RetryPolicy
from llmkit.backends.http.transport_errors import status_error, transport_error
from llmkit.errors import RemoteError, RemoteTimeoutError

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
    """JSON requests and byte streams to one server, with retries and timeouts.

    ``http_client`` shares a connection pool between backends (the caller
    then owns it and closes it); otherwise the session makes its own, with
    HTTP/2 when the ``h2`` package is installed and the server offers it, and
    ``verify`` (as httpx takes it: ``False``, a CA bundle's path or an
    :class:`ssl.SSLContext`) for servers whose certificate the system does not trust.
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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeouts = Timeouts.of(timeout)
        self.retry = retry if retry is not None else RetryPolicy()
        self.headers = {"User-Agent": user_agent(), **(headers or {})}
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(
            http2=_http2_available(),
            verify=_tls_context(verify),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )

    def _timeout(self, deadline: float | None) -> httpx.Timeout:
        t = self.timeouts
        if deadline is None:
            return httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.connect)
        left = max(0.001, deadline - time.monotonic())

        def cap(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=cap(t.connect), read=cap(t.read), write=cap(t.write), pool=left
        )

    def _deadline(self) -> float | None:
        total = self.timeouts.total
        return None if total is None else time.monotonic() + total

    def _check_deadline(self, deadline: float | None, url: str) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise RemoteTimeoutError(
                f"whole-request timeout ({self.timeouts.total} s) passed for {url}",
                url=url,
                phase="total",
            )

    def _retrying(self, deadline: float | None) -> AsyncRetrying:
        policy = self.retry

        def wait(state: Any) -> float:
            pause = policy.tenacity_wait(state)
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - time.monotonic()))
            return pause

        return AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts),
            retry=policy.tenacity_retry,
            wait=wait,
            sleep=anyio.sleep,
            reraise=True,
        )

    async def _send(
        self, method: str, url: str, body: Any, deadline: float | None
    ) -> httpx.Response:
        """Send and return a response whose status is a success; its body is not read yet."""
        self._check_deadline(deadline, url)
        request = self._client.build_request(
            method, url, json=body, headers=self.headers, timeout=self._timeout(deadline)
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise transport_error(exc, url) from exc
        if response.status_code >= 400:
            try:
                text = (await response.aread()).decode("utf-8", "replace")
            except httpx.HTTPError:
                text = ""
            finally:
                await response.aclose()
            raise status_error(response.status_code, text, response.headers.get("retry-after"), url)
        return response

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send a request and return its JSON answer (retried as the policy allows)."""
        url = self.base_url + path
        deadline = self._deadline()
        async for attempt in self._retrying(deadline):
            with attempt:
                response = await self._send(method, url, body, deadline)
                try:
                    data = await response.aread()
                except httpx.HTTPError as exc:
                    raise transport_error(exc, url) from exc
                finally:
                    await response.aclose()
        try:
            return json.loads(data) if data.strip() else None
        except ValueError as exc:
            raise RemoteError(
                f"{url} answered with something that is not JSON: {data[:200]!r}", url=url
            ) from exc

    async def stream(self, method: str, path: str, body: Any = None) -> AsyncIterator[bytes]:
        """The response body in the pieces the network delivers.

        Retried (as the policy allows) until the first byte has arrived; after
        that a failure raises.  Closing the iterator closes the connection.
        """
        url = self.base_url + path
        deadline = self._deadline()
        response: httpx.Response | None = None
        first: bytes | None = None
        async for attempt in self._retrying(deadline):
            with attempt:
                response = await self._send(method, url, body, deadline)
                # Straight from h11 on a plain HTTP/1.1 connection, else httpx's own stream.
                pieces = body_reader.aiter_raw(response)
                try:
                    first = await anext(pieces, None)
                except httpx.HTTPError as exc:
                    await response.aclose()
                    raise transport_error(exc, url) from exc
        assert response is not None
        try:
            if first:
                yield first
            try:
                async for piece in pieces:
                    if deadline is not None and time.monotonic() > deadline:
                        self._check_deadline(deadline, url)
                    yield piece
            except httpx.HTTPError as exc:
                raise transport_error(exc, url) from exc
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless the caller gave it and owns it)."""
        if self._owns_client:
            await self._client.aclose()
