"""Where the clients, the agent loop, ``llmkit serve`` and batches report what they do.

Nothing is reported unless :func:`llmkit.tracing.instrument` installed an observer:
:func:`observer` is then ``None`` and each call site skips its reporting with one check.
This module imports nothing of OpenTelemetry; :mod:`llmkit.tracing` does, when used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from llmkit.types.events import StreamEvent

__all__ = ["Observation", "Observer", "observer", "observing", "set_observer"]


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


@contextmanager
def observing(observation: Observation) -> Iterator[Observation]:
    """Ends ``observation`` when the block ends, marking it failed if the block raised."""
    try:
        yield observation
    except BaseException as exc:
        observation.fail(exc)
        raise
    finally:
        observation.end()
