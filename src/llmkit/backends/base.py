"""The backend protocol (sync and async) and the bridge between them.

A backend takes a validated request and yields :mod:`llmkit.types.events`.
Synchronous backends (in-process runtimes) implement :class:`Backend`;
asynchronous ones (HTTP) implement :class:`AsyncBackend`.  An async client
drives a synchronous backend through :class:`ThreadedAsyncBackend`, which runs
every native call in a worker thread under a capacity limiter, so the event
loop is never blocked.

Generation must stop when the returned iterator is closed: a generator-based
backend gets this for free (``close()`` raises ``GeneratorExit`` at its
``yield``), and releases its resources in ``finally``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread

from llmkit.errors import BackendBusyError, BackendError, RequestCancelledError
from llmkit.types.events import StreamEvent
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import EmbedResponse

__all__ = [
    "AsyncBackend",
    "Backend",
    "ExclusiveModelLock",
    "ThreadedAsyncBackend",
    "caller_cancelled",
    "raise_if_caller_cancelled",
]

T = TypeVar("T")


@runtime_checkable
class Backend(Protocol):
    """A synchronous backend.

    ``chat`` and ``generate`` return an iterator of stream events that ends with
    exactly one :class:`~llmkit.types.events.Done`; closing the iterator (a
    generator's ``close()``) stops generation and frees what it holds.
    """

    @property
    def name(self) -> str:
        """The backend's name, as in backend strings (``llamacpp``)."""
        ...

    def chat(self, request: ChatRequest) -> Iterator[StreamEvent]: ...

    def generate(self, request: GenerateRequest) -> Iterator[StreamEvent]: ...

    def embed(self, request: EmbedRequest) -> EmbedResponse: ...

    def close(self) -> None: ...


@runtime_checkable
class AsyncBackend(Protocol):
    """An asynchronous backend: the same contract as :class:`Backend`, awaited."""

    @property
    def name(self) -> str:
        """The backend's name, as in backend strings (``ollama``)."""
        ...

    def chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    def generate(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]: ...

    async def embed(self, request: EmbedRequest) -> EmbedResponse: ...

    async def aclose(self) -> None: ...


_END = object()


def _next_or_end(iterator: Iterator[T]) -> T | object:
    return next(iterator, _END)


def caller_cancelled() -> bool:
    """Whether the async task this worker thread runs for has been cancelled.

    True only in a worker thread of :class:`ThreadedAsyncBackend` (any
    ``anyio.to_thread.run_sync`` call) whose awaiting task was cancelled: a client of
    ``llmkit serve`` disconnected, a timeout ran out.  False in any other thread, so a
    backend can pass it as the ``cancel`` of its template limits, or poll it while it
    waits, and stop work nobody will read.  Cheap: a few attribute reads.
    """
    try:
        anyio.from_thread.check_cancelled()
    except RuntimeError:  # not an anyio worker thread (NoEventLoopError)
        return False
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # the event loop's cancellation exception, raised here
        return True
    return False


def raise_if_caller_cancelled() -> None:
    """Raise :class:`~llmkit.errors.RequestCancelledError` when :func:`caller_cancelled`."""
    if caller_cancelled():
        raise RequestCancelledError("the caller cancelled the request")


def _close_iterator(iterator: Iterator[Any]) -> None:
    close: Callable[[], None] | None = getattr(iterator, "close", None)
    if close is not None:
        close()


async def _in_worker(function: Callable[..., T], *args: Any, limiter: anyio.CapacityLimiter) -> T:
    """``function(*args)`` in a worker thread; cancelled, the task sees its cancellation.

    The thread is waited for (it may poll :func:`caller_cancelled` to end early); an
    error it raised because the caller was cancelled gives way to that cancellation.
    """
    try:
        return await anyio.to_thread.run_sync(function, *args, limiter=limiter)
    except Exception:
        await anyio.lowlevel.checkpoint_if_cancelled()
        raise


class ThreadedAsyncBackend:
    """Offers a synchronous backend to async code without blocking the loop.

    Each native call runs in a worker thread under ``limiter``, and streams on one
    backend take turns through an async semaphore rather than by parking threads.
    Both are sized to the backend's ``max_concurrency`` (1 when it has none, as an
    in-process model is not re-entrant; a batching backend such as llama.cpp with
    ``parallel=N`` serves N streams at once), which this wrapper reports too.
    A backend's ``max_queue`` bounds the streams waiting for a turn: one more raises
    :class:`~llmkit.errors.BackendBusyError` at once (none: they all wait).
    Cancelling the awaiting task stops generation after the token in flight:
    the iterator is then closed in a shielded worker call.  Work in the worker thread
    that polls :func:`caller_cancelled` (template renders, context fitting, the wait
    for a free slot in the llama.cpp engine) stops at its next check; the awaiting
    task then sees its own cancellation rather than the error that stopped the work.
    """

    def __init__(self, backend: Backend, limiter: anyio.CapacityLimiter | None = None) -> None:
        self.backend = backend
        self.name = backend.name
        concurrency = getattr(backend, "max_concurrency", 1)
        self.max_concurrency: int = concurrency if isinstance(concurrency, int) else 1
        queue = getattr(backend, "max_queue", None)
        self.max_queue: int | None = queue if isinstance(queue, int) else None
        self._limiter = limiter
        self._turn: anyio.Semaphore | None = None
        self._queued = 0

    async def _take_turn(self) -> None:
        """Wait for a turn, or refuse at once when ``max_queue`` streams already wait."""
        turn = self._lock()
        try:
            turn.acquire_nowait()
            return
        except anyio.WouldBlock:
            pass
        if self.max_queue is not None and self._queued >= self.max_queue:
            raise BackendBusyError(
                f"all {self.max_concurrency} slots are busy and {self._queued} requests wait "
                f"(max_queue={self.max_queue}); try again later",
                retry_after=1.0,
            )
        self._queued += 1
        try:
            await turn.acquire()
        finally:
            self._queued -= 1

    def _lock(self) -> anyio.Semaphore:
        # A semaphore, not a Lock: a stream may be opened in one task and read or closed
        # in another (a web server's response task), and a Lock belongs to its acquirer.
        # Created lazily: it belongs to the event loop that first uses it.
        if self._turn is None:
            self._turn = anyio.Semaphore(self.max_concurrency)
        return self._turn

    def _limiter_now(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max_concurrency)
        return self._limiter

    async def _drive(
        self, start: Callable[[], Iterator[StreamEvent]]
    ) -> AsyncGenerator[StreamEvent, None]:
        limiter = self._limiter_now()
        await self._take_turn()
        try:
            iterator = await _in_worker(start, limiter=limiter)
            try:
                while True:
                    event = await _in_worker(_next_or_end, iterator, limiter=limiter)
                    if event is _END:
                        return
                    yield cast(StreamEvent, event)
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(_close_iterator, iterator, limiter=limiter)
        finally:
            self._lock().release()

    def chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self._drive(lambda: self.backend.chat(request))

    def generate(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        return self._drive(lambda: self.backend.generate(request))

    async def embed(self, request: EmbedRequest) -> EmbedResponse:
        await self._take_turn()
        try:
            return await anyio.to_thread.run_sync(
                self.backend.embed, request, limiter=self._limiter_now()
            )
        finally:
            self._lock().release()

    async def aclose(self) -> None:
        turn, held = self._lock(), 0
        try:
            for _ in range(self.max_concurrency):  # after every stream in progress, if any
                await turn.acquire()
                held += 1
            await anyio.to_thread.run_sync(self.backend.close, limiter=self._limiter_now())
        finally:
            for _ in range(held):
                turn.release()


class ExclusiveModelLock:
    """Gives one stream at a time the use of an in-process model.

    Another thread waits its turn; the thread that already holds the model
    (a second stream opened before the first was closed) gets a clear error
    instead of a deadlock.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._lock = threading.Lock()
        self._owner: int | None = None

    def acquire(self) -> None:
        me = threading.get_ident()
        if self._owner == me:
            raise BackendError(
                f"{self._what} is busy with another stream opened in this thread; "
                "close that stream (or read it to the end) before starting another"
            )
        self._lock.acquire()
        self._owner = me

    def release(self) -> None:
        self._owner = None
        self._lock.release()
