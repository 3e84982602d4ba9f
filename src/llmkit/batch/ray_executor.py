"""The Ray executor: a batch's lines answered by workers on a Ray cluster.

Each worker is a Ray actor that builds its own llmkit backend from a backend
string (an HTTP server, or an in-process model loaded in the worker) and answers
one line per call, ``capacity`` calls at a time (its async event loop runs them
together).  Given several backend strings, workers take them in turn, so several
upstream servers share one batch.

The driver, in this process, keeps every worker busy and writes each result as it
comes back, through the same :class:`~llmkit.batch.runner.BatchRun` as the local
executor: the same input and output files, and the same resume rules (a result
is in the file once it is written; a line in flight when the driver dies is
simply run again).  Needs the ``ray`` extra.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.to_thread

from llmkit.backends import resolve_async_backend
from llmkit.backends.base import AsyncBackend
from llmkit.backends.http.retry import RetryPolicy
from llmkit.batch.format import BatchItem
from llmkit.batch.runner import Emit, default_concurrency, execute_item
from llmkit.errors import BackendNotInstalledError

__all__ = ["BatchWorker", "RayExecutor"]


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BackendNotInstalledError("ray", "llmkit[ray]") from exc
    return ray


class BatchWorker:
    """One Ray worker: a backend built on first use, answering a line per call."""

    def __init__(
        self, spec: str | None, backend_kwargs: dict[str, Any], retry: RetryPolicy
    ) -> None:
        self.spec = spec
        self.backend_kwargs = backend_kwargs
        self.retry = retry
        self._backend: AsyncBackend | None = None

    def _get(self) -> AsyncBackend:
        if self._backend is None:
            self._backend = resolve_async_backend(self.spec, **self.backend_kwargs)
        return self._backend

    async def capacity(self) -> int:
        """How many lines this worker answers at once by default (its backend says)."""
        return default_concurrency(self._get())

    async def answer(self, item: BatchItem) -> dict[str, Any]:
        """One line's record (success or failure)."""
        record, _ = await execute_item(self._get(), item, self.retry)
        return record

    async def close(self) -> None:
        """Free the backend."""
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None


class RayExecutor:
    """Runs lines on Ray workers (see the module docstring).

    ``address`` is the cluster to join (``None``: the one this process already
    joined, else a new local one, shut down afterwards); ``workers`` the number
    of actors (default: one per backend string, at least two); ``concurrency``
    the lines in flight over all workers (default: what each worker's backend
    says it can take, summed).
    """

    def __init__(
        self,
        specs: Sequence[str | None],
        *,
        backend_kwargs: dict[str, Any] | None = None,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        address: str | None = None,
        workers: int | None = None,
    ) -> None:
        self.specs = list(specs) or [None]
        self.backend_kwargs = dict(backend_kwargs or {})
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.address = address
        self.workers = workers or max(2, len(self.specs))
        self._actors: list[Any] = []
        self._started_ray = False

    def _start(self) -> list[int]:
        ray = _ray()
        if not ray.is_initialized():
            ray.init(
                address=self.address,
                include_dashboard=False,
                ignore_reinit_error=True,
                log_to_driver=False,
            )
            self._started_ray = True
        remote = ray.remote(BatchWorker)
        for index in range(self.workers):
            spec = self.specs[index % len(self.specs)]
            actor = remote.options(max_concurrency=1000).remote(
                spec, self.backend_kwargs, self.retry
            )
            self._actors.append(actor)
        if self.concurrency is not None:
            share = max(1, math.ceil(self.concurrency / self.workers))
            return [share] * self.workers
        return [int(n) for n in ray.get([actor.capacity.remote() for actor in self._actors])]

    async def run(self, items: Sequence[BatchItem], emit: Emit) -> None:
        if not items:
            return
        ray = _ray()
        capacity = await anyio.to_thread.run_sync(self._start)
        waiting = deque(items)
        load = [0] * len(self._actors)
        in_flight: dict[Any, tuple[int, BatchItem]] = {}

        def submit() -> None:
            for index, actor in enumerate(self._actors):
                while waiting and load[index] < capacity[index]:
                    item = waiting.popleft()
                    in_flight[actor.answer.remote(item)] = (index, item)
                    load[index] += 1

        def wait_some() -> list[tuple[BatchItem, dict[str, Any]]]:
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            ready, _ = ray.wait(list(in_flight), num_returns=len(in_flight), timeout=0)
            out = []
            for ref, record in zip(ready, ray.get(ready), strict=True):
                index, item = in_flight.pop(ref)
                load[index] -= 1
                out.append((item, record))
            return out

        submit()
        while in_flight:
            for item, record in await anyio.to_thread.run_sync(wait_some):
                await emit(item, record, None)
            submit()

    async def aclose(self) -> None:
        """Stop the workers (and the local Ray instance, if this executor started it)."""
        if not self._actors and not self._started_ray:
            return
        ray = _ray()

        def stop() -> None:
            with contextlib.suppress(Exception):  # a worker that died has nothing left to free
                ray.get([actor.close.remote() for actor in self._actors], timeout=30)
            for actor in self._actors:
                ray.kill(actor)
            self._actors.clear()
            if self._started_ray:
                ray.shutdown()
                self._started_ray = False

        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(stop)
