"""Streamed response bodies, read from under httpx: the streaming hot path.

``iter_raw(response)`` and ``aiter_raw(response)`` yield a streamed httpx
response's body in the pieces the network delivers.  For a plain HTTP/1.1
response on httpx's own transport (what a model server answers), they read
the connection's socket (sync) or anyio stream (asyncio) themselves, without
the iterator layers, exception-mapping context managers, per-read socket
timeout calls and anyio cancel scopes that httpx and httpcore spend on every
network read.  When a server paces its output, each read carries one token,
and those layers were most of the client's CPU (``bench/client_overhead.py``).

A chunked body (what streaming servers send) is handed from h11 to
:class:`~llmkit.backends.http.chunked.ChunkedDecoder` at the first read h11
has wholly taken in, and back to h11 for its last chunk and trailers (see
:class:`_Handover`); a sized body is parsed by h11 throughout.

What stays as through httpx: the read timeout is the request's own
(``response.request.extensions["timeout"]["read"]``), and with a ``deadline``
(:class:`~llmkit.backends.http.deadline.Deadline`) no read waits past it; failures raise httpx's
exceptions (``ReadTimeout``, ``ReadError``, ``RemoteProtocolError``); and the
response is closed through httpx, which returns a fully read connection to
the pool (h11 itself has read the message end) and closes one abandoned
mid-body.

Anything else takes the ordinary path (``response.stream``, or the decoded
``iter_bytes()`` for a compressed body): HTTP/2, a custom or mock transport,
a proxy tunnel, trio, a response whose body httpx has started reading, and
httpx or httpcore versions whose insides do not look exactly as expected.
The body must not have been read by anything else before.  Hand-written
because a benchmark showed these layers were the bottleneck (see
``bench/README.md``).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import Any, cast

import anyio
import h11
import httpx

from llmkit.backends.http.chunked import ChunkedDecodeError, ChunkedDecoder
from llmkit.backends.http.deadline import Deadline

__all__ = ["aiter_raw", "iter_raw"]

READ_SIZE = 64 * 1024  # as httpcore's HTTP11Connection.READ_NUM_BYTES

_NEED_DATA = h11.NEED_DATA
_Data = h11.Data


def _layers(response: httpx.Response, *, sync: bool) -> tuple[Any, Any] | None:
    """The h11 connection and httpcore network stream under ``response``, or ``None``.

    Every layer's type is checked exactly; a mismatch means "take the ordinary path".
    """
    try:
        from httpcore._async.connection_pool import PoolByteStream as AsyncPoolByteStream
        from httpcore._async.http11 import HTTP11ConnectionByteStream as AsyncHTTP11ByteStream
        from httpcore._backends.anyio import AnyIOStream
        from httpcore._backends.sync import SyncStream
        from httpcore._sync.connection_pool import PoolByteStream
        from httpcore._sync.http11 import HTTP11ConnectionByteStream
        from httpx._client import BoundAsyncStream, BoundSyncStream
        from httpx._transports.default import AsyncResponseStream, ResponseStream
    except ImportError:  # another httpx or httpcore layout
        return None
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return None
    if response.is_stream_consumed or response.is_closed:
        return None
    bound = response.stream
    if sync:
        kinds: tuple[type, ...] = (
            BoundSyncStream,
            ResponseStream,
            PoolByteStream,
            HTTP11ConnectionByteStream,
            SyncStream,
        )
    else:
        kinds = (
            BoundAsyncStream,
            AsyncResponseStream,
            AsyncPoolByteStream,
            AsyncHTTP11ByteStream,
            AnyIOStream,
        )
    bound_kind, transport_kind, pool_kind, http11_kind, network_kind = kinds
    if type(bound) is not bound_kind:
        return None
    transport_stream = getattr(bound, "_stream", None)
    if type(transport_stream) is not transport_kind:
        return None
    pool_stream = getattr(transport_stream, "_httpcore_stream", None)
    if type(pool_stream) is not pool_kind:
        return None
    http11_stream = getattr(pool_stream, "_stream", None)
    if type(http11_stream) is not http11_kind or getattr(http11_stream, "_closed", True):
        return None
    connection = getattr(http11_stream, "_connection", None)
    state = getattr(connection, "_h11_state", None)
    network = getattr(connection, "_network_stream", None)
    if type(state) is not h11.Connection or type(network) is not network_kind:
        return None
    if state.our_state is not h11.DONE or state.their_state is not h11.SEND_BODY:
        return None
    inner = getattr(network, "_sock" if sync else "_stream", None)
    if inner is None or (sync and not isinstance(inner, socket.socket)):
        return None
    return state, inner


def _read_timeout(response: httpx.Response) -> float | None:
    timeouts = response.request.extensions.get("timeout") or {}
    value = timeouts.get("read")
    return float(value) if value is not None else None


def iter_raw(response: httpx.Response, deadline: Deadline | None = None) -> Iterator[bytes]:
    """The body of a streamed ``response`` as it arrives (not decompressed unless it must be).

    A compressed body comes decompressed, piece by piece (httpx's ``iter_bytes()``).  With a
    ``deadline``, each read of the direct path waits at most until it (then ``ReadTimeout``).
    """
    layers = _layers(response, sync=True)
    if layers is None:
        return _ordinary(response)
    state, sock = layers
    return _h11_pieces(response, state, sock, deadline)


def aiter_raw(response: httpx.Response, deadline: Deadline | None = None) -> AsyncIterator[bytes]:
    """The body of a streamed ``response`` as it arrives (the async twin of :func:`iter_raw`)."""
    layers = _layers(response, sync=False) if _on_asyncio() else None
    if layers is None:
        return _aordinary(response)
    state, stream = layers
    return _ah11_pieces(response, state, stream, deadline)


def _on_asyncio() -> bool:
    # httpcore reads trio through its own stream type, or through anyio's when told to;
    # the direct path times its reads with asyncio's own timeout, so it runs on asyncio only.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _ordinary(response: httpx.Response) -> Iterator[bytes]:
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return response.iter_bytes()
    return iter(cast(Iterable[bytes], response.stream))


def _aordinary(response: httpx.Response) -> AsyncIterator[bytes]:
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return response.aiter_bytes()
    return aiter(cast(AsyncIterable[bytes], response.stream))


class _Handover:
    """When h11 hands a chunked body over to :class:`ChunkedDecoder`, and back (pure).

    The decoder shadows every byte h11 is given, so it always knows where h11
    stands.  At the first read that h11 has wholly taken in (nothing left in
    its buffer: it stands inside a chunk's data or between chunks), the
    decoder takes over.  h11 is owed the rest of that chunk (kept here as it
    arrives) and, at the end, the body's raw last chunk and trailers, so that
    h11 itself reads the message end and its connection state is exact.
    """

    __slots__ = ("decoder", "kept", "owed", "request")

    def __init__(self, response: httpx.Response, state: h11.Connection) -> None:
        self.request = response.request
        self.decoder: ChunkedDecoder | None = None
        self.owed = 0
        self.kept = b""
        if response.headers.get("transfer-encoding", "").lower() == "chunked":
            self.decoder = ChunkedDecoder()
            self.shadow(state.trailing_data[0])

    def shadow(self, data: bytes) -> None:
        """Follow bytes given to h11."""
        if self.decoder is not None:
            self.decode(data)

    def takes_over(self, state: h11.Connection) -> bool:
        """Whether the decoder reads on from here (asked when h11 needs data)."""
        decoder = self.decoder
        if decoder is None or state.trailing_data[0]:
            return False
        rest = decoder.chunk_rest
        if rest is None:  # h11 is inside a header line or the trailers: let it go on
            return False
        self.owed = rest
        return True

    def decode(self, data: bytes) -> list[bytes]:
        """The chunk data in ``data`` (after the takeover)."""
        assert self.decoder is not None
        if len(self.kept) < self.owed:
            self.kept += data[: self.owed - len(self.kept)]
        try:
            return self.decoder.feed(data)
        except ChunkedDecodeError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=self.request) from exc

    def give_back(self, state: h11.Connection) -> None:
        """Let h11 read the body's end, as if it had read the whole body."""
        decoder = self.decoder
        assert decoder is not None and decoder.done
        state.receive_data(self.kept + decoder.tail + decoder.rest)
        while True:
            event = _next_event(state, self.request)
            if type(event) is h11.EndOfMessage:
                return
            if event is _NEED_DATA or type(event) is not _Data:
                raise httpx.RemoteProtocolError(
                    f"h11 did not see the end of the chunked body ({event!r})",
                    request=self.request,
                )

    def incomplete(self) -> httpx.RemoteProtocolError:
        """The error for a connection closed before the body's end."""
        return httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body "
            "(incomplete chunked read)",
            request=self.request,
        )


def _next_event(state: h11.Connection, request: httpx.Request) -> Any:
    try:
        return state.next_event()
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc


def _h11_pieces(
    response: httpx.Response,
    state: h11.Connection,
    sock: socket.socket,
    deadline: Deadline | None = None,
) -> Iterator[bytes]:
    request = response.request
    recv = sock.recv
    timeout = _read_timeout(response)

    def read() -> bytes:
        try:
            return recv(READ_SIZE)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc

    def read_by(at: float) -> bytes:
        # With a deadline, a timeout per read: the time left, if shorter than the read timeout.
        left = at - time.monotonic()
        if left <= 0:
            raise httpx.ReadTimeout("the deadline passed", request=request)
        try:
            sock.settimeout(left if timeout is None else min(timeout, left))
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        return read()

    if deadline is not None:
        at = deadline.at
        return _pieces(response, state, lambda: read_by(at))
    try:
        sock.settimeout(timeout)  # once, not before every read
    except OSError as exc:
        raise httpx.ReadError(str(exc), request=request) from exc
    return _pieces(response, state, read)


def _pieces(
    response: httpx.Response, state: h11.Connection, read: Callable[[], bytes]
) -> Iterator[bytes]:
    """The body's data, reading with ``read()`` (the sync reader's logic, apart from its socket)."""
    request = response.request
    handover = _Handover(response, state)
    # h11 reads until the chunk decoder can take over (at once, as a rule).
    while True:
        event = _next_event(state, request)
        if event is _NEED_DATA:
            if handover.takes_over(state):
                break
            data = read()
            state.receive_data(data)
            handover.shadow(data)
        elif type(event) is _Data:
            yield bytes(event.data)
        else:  # EndOfMessage (or PAUSED, which a response to a plain request never is)
            return
    decoder, decode = handover.decoder, handover.decode
    assert decoder is not None
    while True:
        data = read()
        if not data:
            raise handover.incomplete()
        yield from decode(data)
        if decoder.done:
            handover.give_back(state)
            return


async def _ah11_pieces(
    response: httpx.Response,
    state: h11.Connection,
    stream: Any,
    deadline: Deadline | None = None,
) -> AsyncIterator[bytes]:
    request = response.request
    receive: Callable[[int], Awaitable[bytes]] = stream.receive
    read_timeout = _read_timeout(response)
    at = None if deadline is None else deadline.at

    async def read() -> bytes:
        # A timeout per read, as httpcore has (no timeout may span a yield): asyncio's
        # own, about half the CPU of an anyio cancel scope.  It leaves an outer
        # cancellation alone (asyncio.timeout counts the task's cancel requests).
        timeout = read_timeout
        if at is not None:
            left = max(0.0, at - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        try:
            async with asyncio.timeout(timeout):
                return await receive(READ_SIZE)
        except anyio.EndOfStream:
            return b""
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out", request=request) from exc
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc

    handover = _Handover(response, state)
    while True:
        event = _next_event(state, request)
        if event is _NEED_DATA:
            if handover.takes_over(state):
                break
            data = await read()
            state.receive_data(data)
            handover.shadow(data)
        elif type(event) is _Data:
            yield bytes(event.data)
        else:
            return
    decoder, decode = handover.decoder, handover.decode
    assert decoder is not None
    while True:
        data = await read()
        if not data:
            raise handover.incomplete()
        for piece in decode(data):
            yield piece
        if decoder.done:
            handover.give_back(state)
            return
