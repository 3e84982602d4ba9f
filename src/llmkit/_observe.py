"""Where the clients, the agent loop, ``llmkit serve`` and batches report what they do.

Nothing is reported unless :func:`llmkit.tracing.instrument` installed an observer:
:func:`observer` is then ``None`` and each call site skips its reporting with one check.
This module imports nothing of OpenTelemetry; :mod:`llmkit.tracing` does, when used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from llmkit.types.events import StreamEvent

__all__ = ["Observation", "Observer", "aobserved", "observed", "observer", "set_observer"]


class Observation(Protocol):
    """One operation being observed (a span, and the metrics recorded when it ends)."""

    def event(self, event: StreamEvent) -> None:
        """A stream's event (the first one gives the time to first chunk; ``Done`` the
        usage and finish reason)."""

    def result(self, value: Any) -> None:
        """The operation's result (an embedding response, a tool's output)."""

    def fail(self, error: BaseException) -> None:
        """The operation failed with ``error``."""

    def end(self) -> None:
        """The operation is over (idempotent)."""


class Observer(Protocol):
    """What :func:`llmkit.tracing.instrument` installs."""

    def operation(self, name: str, request: Any, provider: str) -> Observation:
        """Start observing ``chat``, ``text_completion`` or ``embeddings`` of ``request``."""

    def tool(self, name: str, call_id: str | None, arguments: Any) -> Observation:
        """Start observing one tool's execution in the agent loop."""

    def batch_line(self, line: int, custom_id: str | None) -> Observation:
        """Start observing one line of a batch."""

    def server(self, method: str, path: str) -> Observation:
        """Start observing one HTTP request to ``llmkit serve`` (its result: the status)."""


_current: Observer | None = None


def observer() -> Observer | None:
    """The installed observer, or ``None`` (nothing is reported)."""
    return _current


def set_observer(value: Observer | None) -> None:
    """Install ``value`` (``None``: stop reporting)."""
    global _current
    _current = value


async def aobserved(
    events: AsyncIterator[StreamEvent], observation: Observation
) -> AsyncIterator[StreamEvent]:
    """``events``, each shown to ``observation``, which ends with the stream."""
    try:
        async for event in events:
            observation.event(event)
            yield event
    except GeneratorExit:  # the caller stopped reading: not a failure
        raise
    except BaseException as exc:
        observation.fail(exc)
        raise
    finally:
        observation.end()
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


def observed(events: Iterator[StreamEvent], observation: Observation) -> Iterator[StreamEvent]:
    """:func:`aobserved` for a synchronous stream."""
    try:
        for event in events:
            observation.event(event)
            yield event
    except GeneratorExit:
        raise
    except BaseException as exc:
        observation.fail(exc)
        raise
    finally:
        observation.end()
        close = getattr(events, "close", None)
        if close is not None:
            close()
