"""Batches: a JSONL file of requests through any backend, one result line per request.

>>> import llmkit
>>> lines = [{"custom_id": "a", "prompt": "hello"}, {"custom_id": "b", "prompt": "bye"}]
>>> [result.text for result in llmkit.batch.BatchRunner("mock").results(lines)]
['hello', 'bye']

Input lines are OpenAI Batch API lines or llmkit's own requests
(:mod:`llmkit.batch.format`); results are OpenAI Batch API output lines
(:mod:`llmkit.batch.records`).  With an output file a run is resumable: rerun
the same command after a crash and it finishes what is left
(:mod:`llmkit.batch.results`).  See the Batch page of the docs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, cast

import anyio
from anyio.from_thread import start_blocking_portal

from llmkit.backends import resolve_async_backend
from llmkit.backends.base import AsyncBackend, Backend
from llmkit.backends.http.retry import RetryPolicy
from llmkit.batch.files import BatchFileError
from llmkit.batch.format import BadLine, BatchItem, LineParser
from llmkit.batch.progress import Progress, progress_for
from llmkit.batch.results import ResultFile
from llmkit.batch.runner import (
    BatchRun,
    Executor,
    LocalExecutor,
    Order,
    Source,
    default_concurrency,
)
from llmkit.batch.summary import BatchResult, BatchSummary
from llmkit.errors import InvalidRequestError

__all__ = [
    "BadLine",
    "BatchFileError",
    "BatchItem",
    "BatchResult",
    "BatchRun",
    "BatchRunner",
    "BatchSummary",
    "LineParser",
    "ResultFile",
    "arun",
    "progress_for",
    "run",
]

BackendArg = Backend | AsyncBackend | str | Sequence[str] | None
ExecutorName = Literal["local", "ray"]


def _specs(backend: BackendArg) -> list[str | None] | None:
    """The backend strings to build from, or ``None`` for an instance the caller owns."""
    if backend is None or isinstance(backend, str):
        return [backend]
    if isinstance(backend, Sequence):
        if not backend:
            raise InvalidRequestError("give at least one backend", fields=["backend"])
        return list(backend)
    return None


class BatchRunner:
    """Runs batches through a backend; sync and async.

    ``backend`` is a backend instance (its owner closes it), a backend string, or
    several backend strings (each run spreads the lines over them, least busy
    first); ``None`` is the default local model.  ``model`` replaces the model of
    every line.  ``concurrency`` is how many requests are in flight (default:
    what the backend says it can take; 8 per HTTP server; 1 for an in-process model
    that answers one at a time).  ``retry`` is the per-request policy (default:
    3 attempts).  ``retry_failed`` reruns every failed line of an earlier run, not
    only those that failed for a passing reason.  ``executor="ray"`` runs the
    lines on a Ray cluster (``ray_address``; ``ray_workers`` workers, each with its
    own backend built from the backend strings).  Other keyword arguments go to
    the backend.
    """

    def __init__(
        self,
        backend: BackendArg = None,
        *,
        model: str | None = None,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        retry_failed: bool = False,
        fsync: bool = True,
        executor: ExecutorName = "local",
        ray_address: str | None = None,
        ray_workers: int | None = None,
        **backend_kwargs: Any,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise InvalidRequestError(
                f"concurrency must be at least 1, got {concurrency}", fields=["concurrency"]
            )
        if executor not in ("local", "ray"):
            raise InvalidRequestError(
                f"executor must be 'local' or 'ray', got {executor!r}", fields=["executor"]
            )
        self.backend = backend
        self.model = model
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.retry_failed = retry_failed
        self.fsync = fsync
        self.executor = executor
        self.ray_address = ray_address
        self.ray_workers = ray_workers
        self.backend_kwargs = backend_kwargs

    def _local(self) -> tuple[Executor, AsyncBackend | None]:
        specs = _specs(self.backend)
        if specs is None:
            # _specs found no backend strings: self.backend is an instance.
            instance = cast(Backend | AsyncBackend, self.backend)
            backend = resolve_async_backend(instance, **self.backend_kwargs)
            owned = None
        elif len(specs) == 1:
            backend = owned = resolve_async_backend(specs[0], **self.backend_kwargs)
        else:
            from llmkit.backends.router import Router

            upstreams = [resolve_async_backend(spec, **self.backend_kwargs) for spec in specs]
            backend = owned = Router(upstreams)
        concurrency = self.concurrency or default_concurrency(backend)
        return LocalExecutor(backend, concurrency, self.retry), owned

    def _ray(self) -> Executor:
        specs = _specs(self.backend)
        if specs is None:
            raise InvalidRequestError(
                "the Ray executor builds a backend in each worker: give backend strings, "
                "not an instance",
                fields=["backend"],
            )
        from llmkit.batch.ray_executor import RayExecutor

        return RayExecutor(
            specs,
            backend_kwargs=self.backend_kwargs,
            concurrency=self.concurrency,
            retry=self.retry,
            address=self.ray_address,
            workers=self.ray_workers,
        )

    def open(
        self,
        source: Source,
        output: str | os.PathLike[str] | None = None,
        *,
        order: Order = "completion",
        progress: Progress | None = None,
    ) -> BatchRun:
        """A run, to enter with ``async with`` and iterate for results (see :class:`BatchRun`).

        ``source`` is a JSONL path or an iterable of lines (dicts or JSON text);
        ``output`` the JSONL result file (resumed if it exists), or ``None`` to
        keep results only in memory.
        """
        if order not in ("completion", "input"):
            raise InvalidRequestError(
                f"order must be 'completion' or 'input', got {order!r}", fields=["order"]
            )
        owned: AsyncBackend | None = None
        if self.executor == "ray":
            executor = self._ray()
        else:
            executor, owned = self._local()

        async def close() -> None:
            if owned is not None:
                await owned.aclose()
            finish = getattr(executor, "aclose", None)
            if finish is not None:
                await finish()

        return BatchRun(
            source,
            output,
            executor,
            model=self.model,
            order=order,
            retry_failed=self.retry_failed,
            fsync=self.fsync,
            progress=progress,
            on_close=close,
        )

    async def arun(
        self,
        source: Source,
        output: str | os.PathLike[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> BatchSummary:
        """Run the batch to its end; the summary."""
        async with self.open(source, output, progress=progress) as batch:
            async for _ in batch:
                pass
        return batch.summary

    def run(
        self,
        source: Source,
        output: str | os.PathLike[str] | None = None,
        *,
        progress: Progress | None = None,
    ) -> BatchSummary:
        """:meth:`arun` from synchronous code."""

        async def main() -> BatchSummary:
            return await self.arun(source, output, progress=progress)

        return anyio.run(main)

    @asynccontextmanager
    async def _results_context(
        self,
        source: Source,
        output: str | os.PathLike[str] | None,
        order: Order,
        progress: Progress | None,
    ) -> AsyncIterator[AsyncIterator[BatchResult]]:
        async with self.open(source, output, order=order, progress=progress) as batch:
            yield batch.__aiter__()

    def results(
        self,
        source: Source,
        output: str | os.PathLike[str] | None = None,
        *,
        order: Order = "input",
        progress: Progress | None = None,
    ) -> Iterator[BatchResult]:
        """The results from synchronous code, in ``input`` (default) or ``completion`` order.

        The batch runs on an event loop in a worker thread; leaving the loop early
        stops it (what was written stays).
        """
        with start_blocking_portal() as portal:
            context = self._results_context(source, output, order, progress)
            with portal.wrap_async_context_manager(context) as results:
                while True:
                    try:
                        yield portal.call(results.__anext__)
                    except StopAsyncIteration:
                        return


def run(
    source: Source,
    output: str | os.PathLike[str] | None = None,
    *,
    backend: BackendArg = None,
    progress: Progress | None = None,
    **options: Any,
) -> BatchSummary:
    """Run a batch file to its end: ``BatchRunner(backend, **options).run(source, output)``."""
    return BatchRunner(backend, **options).run(source, output, progress=progress)


async def arun(
    source: Source,
    output: str | os.PathLike[str] | None = None,
    *,
    backend: BackendArg = None,
    progress: Progress | None = None,
    **options: Any,
) -> BatchSummary:
    """:func:`run` for async code."""
    return await BatchRunner(backend, **options).arun(source, output, progress=progress)
