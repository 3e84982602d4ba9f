"""Moving backend events to the client and stopping when the client leaves (the I/O shell).

- :class:`StreamedEvents` is the response of a streamed request.  It opens the
  backend's stream itself, in the task that serves the request, and awaits the
  first event before it sends the status line, so a request the backend refuses
  (a bad option, an unknown model) still gets its proper status code.  The
  events go out as the protocol's pieces (NDJSON lines or SSE events); an error
  after the first byte ends the body with one last error piece, as Ollama and
  OpenAI servers do.  A child task watches for the client's disconnect and
  cancels the stream; either way the backend's iterator is closed, which stops
  generation.  (Opening, reading and closing a stream in one task matters:
  :class:`~llmkit.backends.base.ThreadedAsyncBackend` holds a task-owned lock
  for the whole stream, and Starlette's ``StreamingResponse`` would read the
  body in another task.)
- :func:`collect` reads a stream into a whole response; :func:`until_disconnected`
  runs such work in the request's task, cancelled if the client goes away.
- :class:`EventStreamResponse` streams plain bytes from a generator and always
  closes it (``/api/pull``'s progress lines).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from llmkit.errors import StreamInterruptedError
from llmkit.streaming.accumulator import ChatAccumulator, GenerateAccumulator
from llmkit.types.events import Done, StreamEvent
from llmkit.types.responses import ChatResponse, GenerateResponse

__all__ = [
    "EventStreamResponse",
    "StreamedEvents",
    "collect",
    "until_disconnected",
]

logger = logging.getLogger("llmkit.serve")

T = TypeVar("T")


async def _aclose(events: AsyncIterator[StreamEvent]) -> None:
    close = getattr(events, "aclose", None)
    if close is not None:
        with anyio.CancelScope(shield=True):
            await close()


def _ended_early() -> StreamInterruptedError:
    return StreamInterruptedError(
        "the backend's stream ended without its final event", partial=None
    )


async def collect(
    events: AsyncIterator[StreamEvent], accumulator: ChatAccumulator | GenerateAccumulator
) -> ChatResponse | GenerateResponse:
    """Read a stream to its end into a whole response (the stream is closed either way)."""
    try:
        async for event in events:
            accumulator.add(event)
    finally:
        await _aclose(events)
    if accumulator.done is None:
        raise _ended_early()
    return accumulator.response()


class StreamedEvents(Response):
    """A streamed answer made from a backend's events; see the module docstring."""

    def __init__(
        self,
        start: Callable[[], AsyncIterator[StreamEvent]],
        *,
        encode: Callable[[StreamEvent], list[bytes]],
        error_piece: Callable[[Exception], bytes],
        error_response: Callable[[Exception], Response],
        media_type: str,
        head: bytes = b"",
        tail: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)
        self._start = start
        self._encode = encode
        self._error_piece = error_piece
        self._error_response = error_response
        self._head = head
        self._tail = tail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch)
            try:
                await self._respond(scope, receive, send)
            except OSError as exc:  # the connection broke while sending
                logger.info("client went away: %s", exc)
            finally:
                group.cancel_scope.cancel()

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        events = self._start()
        try:
            try:
                first: StreamEvent | None = await events.__anext__()
            except StopAsyncIteration:
                first = None
            except Exception as exc:
                await self._error_response(exc)(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            if self._head:
                await self._body(send, self._head)
            try:
                await self._send_events(send, first, events)
            except Exception as exc:
                logger.warning("stream failed after it started: %s", exc)
                await self._body(send, self._error_piece(exc))
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await _aclose(events)

    async def _send_events(
        self, send: Send, first: StreamEvent | None, events: AsyncIterator[StreamEvent]
    ) -> None:
        if first is None:
            raise _ended_early()
        finished = False
        event = first
        while True:
            for piece in self._encode(event):
                await self._body(send, piece)
            finished = finished or isinstance(event, Done)
            try:
                event = await events.__anext__()
            except StopAsyncIteration:
                break
        if not finished:
            raise _ended_early()
        if self._tail:
            await self._body(send, self._tail)

    @staticmethod
    async def _body(send: Send, piece: bytes) -> None:
        await send({"type": "http.response.body", "body": piece, "more_body": True})


class EventStreamResponse(StreamingResponse):
    """A streamed response that always closes its body, even when the client left."""

    def __init__(
        self,
        content: AsyncGenerator[bytes, None],
        *,
        media_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._source = content

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._source.aclose()


async def until_disconnected(
    request: Request, work: Callable[[], Awaitable[T]]
) -> tuple[bool, T | None]:
    """Run ``work`` unless the client disconnects first: ``(finished, result)``.

    The request body must have been read already; its end is where the
    disconnect message arrives.
    """
    outcome: list[T] = []
    failure: list[Exception] = []
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    group.cancel_scope.cancel()
                    return

        group.start_soon(watch)
        try:
            outcome.append(await work())
        except Exception as exc:  # re-raised below, outside the task group
            failure.append(exc)
        group.cancel_scope.cancel()
    if failure:
        raise failure[0]
    if outcome:
        return True, outcome[0]
    return False, None
