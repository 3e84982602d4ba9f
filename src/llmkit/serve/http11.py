"""The HTTP/1.1 protocol ``llmkit serve`` runs: uvicorn's h11 protocol with a header timeout.

uvicorn times out an idle keep-alive connection, but not a connection that never
finishes its headers: a new connection that sends nothing, or one that sends a
request's headers a byte every few seconds (Slowloris), stays open for good.
:func:`protocol_class` gives uvicorn a protocol that closes such a connection:
from a new connection's opening, or from the first byte of a request on a
kept-alive one, the whole header block must be in within ``header_timeout``
seconds, however the bytes trickle in.  A connection that sent part of a
request is answered 408 (JSON, Ollama's shape: the path is not known yet) before
it is closed.

A response blocked on a client that does not read it (the socket's and the transport's
send buffers full, so uvicorn pauses writing) for ``write_timeout`` seconds closes the
connection: the app sees a disconnect, which stops a stream's generation and frees its slot.

The header block is at most ``max_header_bytes`` (h11's limit on an incomplete
event); a longer one, and any request h11 cannot parse, is answered 431 or 400
with a JSON error.  The body's limits are :class:`~llmkit.serve.limits.RequestLimits`'.
h11 is used even where httptools is installed, so that these limits always hold.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from llmkit.serve.limits import ServeLimits

__all__ = ["LimitedH11Protocol", "protocol_class"]

_HEADERS_END = re.compile(rb"\r?\n\r?\n")


def _raw_response(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message}, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with a header timeout; see the module docstring."""

    header_timeout: float = ServeLimits.header_timeout
    keep_alive_timeout: float = ServeLimits.keep_alive_timeout
    max_header_bytes: int = ServeLimits.max_header_bytes
    write_timeout: float = ServeLimits.write_timeout

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.keep_alive_timeout  # type: ignore[assignment]
        self._header_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.write_timeout, self._write_timed_out)

    def resume_writing(self) -> None:
        self._cancel_write_timer()
        super().resume_writing()

    def _cancel_write_timer(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_timed_out(self) -> None:
        self._write_timer = None
        if self.transport.is_closing():
            return
        self.logger.info(
            "closed a connection: the client read nothing of its response for %g seconds "
            "(llmkit serve --write-timeout)",
            self.write_timeout,
        )
        self.transport.abort()  # close() would wait to send what the client does not read

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._sync_header_timer()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._headers_too_large(data):
            self.send_400_response("headers too large")
            return
        super().data_received(data)
        self._sync_header_timer()

    def _headers_too_large(self, data: bytes) -> bool:
        # h11 only limits a header block it receives in pieces; this one all at once too.
        pending = self.conn.trailing_data[0] + data
        end = _HEADERS_END.search(pending)
        return (len(pending) if end is None else end.end()) > self.max_header_bytes

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._sync_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self._cancel_write_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        if msg == "headers too large" or len(self.conn.trailing_data[0]) > self.max_header_bytes:
            status, reason = 431, "Request Header Fields Too Large"
            message = (
                f"the request's headers are larger than the limit of {self.max_header_bytes} "
                "bytes (llmkit serve --max-header-size)"
            )
        else:
            status, reason, message = 400, "Bad Request", "invalid HTTP request"
        self.logger.info("refused a request: %s", message)
        self._cancel_header_timer()
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:  # else it would cut into one
            self.transport.write(_raw_response(status, reason, message))
        self.transport.close()

    def _waiting_for_headers(self) -> bool:
        return (
            self.conn.their_state is h11.IDLE
            and self.timeout_keep_alive_task is None
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def _sync_header_timer(self) -> None:
        if not self._waiting_for_headers():
            self._cancel_header_timer()
        elif self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:
            message = (
                f"the request's headers did not arrive within the header timeout of "
                f"{self.header_timeout:g} seconds (llmkit serve --header-timeout)"
            )
            self.logger.info("closed a connection: %s", message)
            self.transport.write(_raw_response(408, "Request Timeout", message))
        self.transport.close()


def protocol_class(limits: ServeLimits) -> type[LimitedH11Protocol]:
    """:class:`LimitedH11Protocol` with these limits, for ``uvicorn.Config(http=...)``."""
    return type(
        "LimitedH11Protocol",
        (LimitedH11Protocol,),
        {
            "header_timeout": limits.header_timeout,
            "keep_alive_timeout": limits.keep_alive_timeout,
            "max_header_bytes": limits.max_header_bytes,
            "write_timeout": limits.write_timeout,
        },
    )
