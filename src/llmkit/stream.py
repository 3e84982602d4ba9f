"""``Stream`` and ``AsyncStream``: iterators of events that are also context managers.

Iterating yields :mod:`llmkit.types.events`; leaving the ``with`` block,
calling ``close()``, breaking out of an ``async for`` inside ``async with``,
or cancelling the task closes the backend's iterator, which stops generation.
``final_response()`` reads what is left and returns the accumulated response.
A stream that fails after its first event raises
:class:`~llmkit.errors.StreamInterruptedError` with the partial response.

``AsyncStream`` is written in ``_async/stream.py`` and ``Stream``'s body generated
from it (``_sync/stream.py``, by ``.ci/unasync.py``); the pure parts both share are
in :mod:`llmkit._stream_state`.  Only what a sync stream does besides is here.
"""

from __future__ import annotations

from llmkit._async.stream import AsyncStream
from llmkit._stream_state import R
from llmkit._sync import stream as _sync

__all__ = ["AsyncStream", "Stream"]


class Stream(_sync.Stream[R]):
    """A synchronous stream of events; see the module docstring.

    Besides its generated body, it closes as soon as its caller breaks out of the
    loop (a sync generator gets ``GeneratorExit`` then), and when garbage-collected.
    """

    def _left_loop(self) -> None:
        # The caller broke out of its loop: stop generation now.
        self.close()

    def __del__(self) -> None:
        self.close()
