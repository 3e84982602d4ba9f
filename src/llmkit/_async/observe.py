"""A stream's events shown to an :class:`~llmkit._observe.Observation` (tracing)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from llmkit._observe import Observation
from llmkit.types.events import StreamEvent

__all__ = ["aobserved"]


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
