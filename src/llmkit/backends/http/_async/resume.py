"""The stream-resume loop of the HTTP backends (its decisions: ``http/resume.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from llmkit.backends.http.deadline import Deadline
from llmkit.backends.http.resume import Continuation, PartialOutput
from llmkit.errors import ConnectionFailedError, RemoteTimeoutError
from llmkit.types.events import StreamEvent

__all__ = ["resuming"]


async def resuming(
    stream: Callable[[dict[str, Any], Deadline | None], AsyncIterator[StreamEvent]],
    body: dict[str, Any],
    *,
    limit: int,
    deadline: Callable[[], Deadline | None],
    continuation: Continuation,
) -> AsyncIterator[StreamEvent]:
    """``stream(body, deadline)``'s events, resumed up to ``limit`` times when cut off.

    ``deadline`` makes the one deadline for the answer, however often it is resumed
    (when iteration starts); ``continuation`` builds each resumed body.
    """
    partial = PartialOutput()
    until = deadline()
    while True:
        try:
            async for event in stream(body, until):
                partial.observe(event)
                yield event
            return
        except (ConnectionFailedError, RemoteTimeoutError) as exc:
            resumed = partial.next_body(exc, body, limit, continuation)
            if resumed is None:
                raise
            body = resumed
