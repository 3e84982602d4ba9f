# Generated from src/llmkit/_async/observe.py by .ci/unasync.py; do not edit.
"""A stream's events shown to an :class:`~llmkit._observe.Observation` (tracing)."""

from __future__ import annotations

from collections.abc import Iterator

from llmkit._observe import Observation
from llmkit.types.events import StreamEvent

__all__ = ["observed"]


def observed(
    events: Iterator[StreamEvent], observation: Observation
) -> Iterator[StreamEvent]:
    """``events``, each shown to ``observation``, which ends with the stream."""
    try:
        for event in events:
            observation.event(event)
            yield event
    except GeneratorExit:  # the caller stopped reading: not a failure
        raise
    except BaseException as exc:
        observation.fail(exc)
        raise
    finally:
        observation.end()
        close = getattr(events, "close", None)
        if close is not None:
            close()
