"""The whole-call deadline (``Timeouts.total``, the backends' ``deadline=``), kept by every wait.

:class:`Deadline` is one absolute point on the monotonic clock.  The session checks it between
pieces and caps each request's timeouts at the time left; around each wait it puts
``async with deadline.scope(url)`` (``with`` in the generated sync session):

* async (asyncio and trio): an anyio cancel scope that ends the wait at the deadline, whatever
  it waits for (the response head, a read on any path, a retry's pause);
* sync: nothing (the generated code has no event loop): the direct body reader sets each
  socket read's timeout to the time left, and the response head, a compressed or HTTP/2 body
  wait at most ``min(read, time left when the request was sent)`` per read.

Either way the caller gets :class:`~llmkit.errors.RemoteTimeoutError` with ``phase="total"``.
"""

from __future__ import annotations

import time
from types import TracebackType

import anyio

from llmkit.errors import RemoteTimeoutError

__all__ = ["Deadline"]


class Deadline:
    """A point on :func:`time.monotonic`'s clock, ``seconds`` from when it was made."""

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds until the deadline (negative once past)."""
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def error(self, url: str) -> RemoteTimeoutError:
        return RemoteTimeoutError(
            f"whole-request timeout ({self.seconds:g} s) passed for {url}", url=url, phase="total"
        )

    def check(self, url: str) -> None:
        """Raise the ``total`` timeout if the deadline has passed."""
        if time.monotonic() >= self.at:
            raise self.error(url)

    def scope(self, url: str) -> _Scope:
        """``async with``: a wait ended at the deadline; ``with``: no bound (see the module)."""
        return _Scope(self, url)


class _Scope:
    __slots__ = ("_cancel", "deadline", "url")

    def __init__(self, deadline: Deadline, url: str) -> None:
        self.deadline = deadline
        self.url = url
        self._cancel: anyio.CancelScope | None = None

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    async def __aenter__(self) -> None:
        left = self.deadline.left()
        self._cancel = anyio.CancelScope(deadline=anyio.current_time() + max(0.0, left))
        self._cancel.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        cancel = self._cancel
        assert cancel is not None
        self._cancel = None
        cancel.__exit__(kind, value, traceback)  # swallows only its own cancellation: then
        if cancel.cancelled_caught:
            raise self.deadline.error(self.url) from None
