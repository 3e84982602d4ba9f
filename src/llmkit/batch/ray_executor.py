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

Workers and nodes may die mid-batch.  A line whose worker died (or whose result
was lost with its node) is sent again to a live worker, up to
:data:`MAX_LINE_LOSSES` times, after which it is recorded as failed (retryable:
a rerun tries it again); a dead worker is replaced by a new actor, which Ray
places on a live node, and takes lines once it has started.  Ray's own task
retries are off (``max_task_retries=0``), so only the driver sends a line again,
and it writes a line's result once: the batch answers every line exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from llmkit.backends import resolve_async_backend
from llmkit.backends.base import AsyncBackend
from llmkit.backends.http.retry import RetryPolicy
from llmkit.batch.format import BatchItem
from llmkit.batch.records import failure_record
from llmkit.batch.runner import Emit, default_concurrency, execute_item
from llmkit.errors import BackendError, BackendNotInstalledError, WorkerLostError

__all__ = ["MAX_LINE_LOSSES", "BatchWorker", "RayExecutor", "WorkerLostError"]

logger = logging.getLogger("llmkit.batch")

#: How many times a line may lose its worker (dead actor, dead node, lost result) and be
#: sent again; one more loss records it as failed.
MAX_LINE_LOSSES = 3


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

    def _connect(self) -> None:
        ray = _ray()
        if not ray.is_initialized():
            ray.init(
                address=self.address,
                include_dashboard=False,
                ignore_reinit_error=True,
                log_to_driver=False,
            )
            self._started_ray = True

    def _create(self, index: int) -> Any:
        """A new worker actor for slot ``index`` (Ray places it on a live node)."""
        remote = _ray().remote(BatchWorker)
        spec = self.specs[index % len(self.specs)]
        actor = remote.options(max_concurrency=1000, max_restarts=0, max_task_retries=0).remote(
            spec, self.backend_kwargs, self.retry
        )
        self._actors.append(actor)
        return actor

    async def run(self, items: Sequence[BatchItem], emit: Emit) -> None:
        if not items:
            return
        await anyio.to_thread.run_sync(self._connect)
        share = None
        if self.concurrency is not None:
            share = max(1, math.ceil(self.concurrency / self.workers))
        pool = _Pool(self, items, share)
        await anyio.to_thread.run_sync(pool.start)
        while not pool.done:
            for item, record in await anyio.to_thread.run_sync(pool.step):
                await emit(item, record, None)

    async def aclose(self) -> None:
        """Stop the workers (and the local Ray instance, if this executor started it)."""
        if not self._actors and not self._started_ray:
            return
        ray = _ray()

        def stop() -> None:
            with contextlib.suppress(Exception):  # a worker that died has nothing left to free
                closing = [actor.close.remote() for actor in self._actors]
                ray.wait(closing, num_returns=len(closing), timeout=30)
            for actor in self._actors:
                with contextlib.suppress(Exception):
                    ray.kill(actor)
            self._actors.clear()
            if self._started_ray:
                ray.shutdown()
                self._started_ray = False

        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(stop)


@dataclass
class _Slot:
    """One worker's place in the pool: its actor, how many lines it takes, how many it has."""

    actor: Any
    capacity: int = 0  # 0 until the actor has started
    load: int = 0


class _Pool:
    """The driver's bookkeeping for one run (see the module docstring); used from one thread
    at a time."""

    def __init__(
        self, executor: RayExecutor, items: Sequence[BatchItem], share: int | None
    ) -> None:
        self.ray = _ray()
        self.executor = executor
        self.share = share
        self.waiting: deque[BatchItem] = deque(items)
        self.slots: list[_Slot] = []
        self.starting: dict[Any, tuple[int, Any]] = {}  # capacity() ref -> slot, actor
        self.in_flight: dict[Any, tuple[int, Any, BatchItem]] = {}  # answer() ref -> ...
        self.losses: Counter[str] = Counter()
        self.replacements = 3 * executor.workers

    @property
    def done(self) -> bool:
        return not self.waiting and not self.in_flight

    def start(self) -> None:
        for index in range(self.executor.workers):
            self.slots.append(_Slot(actor=None))
            self._launch(index)

    def _launch(self, index: int) -> None:
        actor = self.executor._create(index)
        self.slots[index] = _Slot(actor=actor)
        self.starting[actor.capacity.remote()] = (index, actor)

    def _submit(self) -> None:
        for index, slot in enumerate(self.slots):
            while self.waiting and slot.load < slot.capacity:
                item = self.waiting.popleft()
                self.in_flight[slot.actor.answer.remote(item)] = (index, slot.actor, item)
                slot.load += 1

    def step(self) -> list[tuple[BatchItem, dict[str, Any]]]:
        """Keep every started worker busy, wait for something to finish, and return the records."""
        self._submit()
        refs = [*self.in_flight, *self.starting]
        if not refs:
            raise BackendError(
                f"every Ray worker died and none could be replaced: {len(self.waiting)} lines "
                "were not run (run the same command again to finish them)"
            )
        self.ray.wait(refs, num_returns=1)
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        out: list[tuple[BatchItem, dict[str, Any]]] = []
        for ref in ready:
            if ref in self.starting:
                self._started(ref)
            else:
                out.extend(self._finished(ref))
        return out

    def _started(self, ref: Any) -> None:
        index, actor = self.starting.pop(ref)
        exceptions = self.ray.exceptions
        try:
            capacity = int(self.ray.get(ref))
        except exceptions.RayTaskError as exc:  # the backend could not be built: a real error
            cause = exc.cause
            raise (cause if isinstance(cause, Exception) else exc) from None
        except exceptions.RayError as exc:
            self._lost(index, actor, exc)
            return
        slot = self.slots[index]
        if slot.actor is actor:
            slot.capacity = self.share or max(1, capacity)

    def _finished(self, ref: Any) -> list[tuple[BatchItem, dict[str, Any]]]:
        index, actor, item = self.in_flight.pop(ref)
        slot = self.slots[index]
        if slot.actor is actor:
            slot.load -= 1
        exceptions = self.ray.exceptions
        try:
            record: dict[str, Any] = self.ray.get(ref)
        except exceptions.RayTaskError as exc:  # the call itself failed (not the line's request)
            cause = exc.cause if isinstance(exc.cause, Exception) else exc
            return [(item, failure_record(item, cause, attempts=1))]
        except exceptions.RayError as exc:  # the worker, its node, or the result was lost
            self._lost(index, actor, exc)
            self.losses[item.key] += 1
            if self.losses[item.key] > MAX_LINE_LOSSES:
                error = WorkerLostError(
                    f"its Ray worker was lost {self.losses[item.key]} times "
                    f"(last: {type(exc).__name__})"
                )
                return [(item, failure_record(item, error, attempts=self.losses[item.key]))]
            logger.warning(
                "line %d lost its Ray worker (%s); sending it again", item.line, type(exc).__name__
            )
            self.waiting.appendleft(item)  # sent again, to a live worker
            return []
        return [(item, record)]

    def _lost(self, index: int, actor: Any, error: Exception) -> None:
        """A call to ``actor`` failed for want of a worker: replace the actor if it is gone."""
        slot = self.slots[index]
        if slot.actor is not actor or not isinstance(
            error, self.ray.exceptions.RayActorError | self.ray.exceptions.NodeDiedError
        ):
            return  # already replaced, or only a result was lost (the actor may be fine)
        with contextlib.suppress(Exception):
            self.ray.kill(actor, no_restart=True)
        if self.replacements > 0:
            self.replacements -= 1
            logger.warning(
                "Ray worker %d died (%s); starting a new one", index, type(error).__name__
            )
            self._launch(index)
        else:
            logger.warning(
                "Ray worker %d died (%s); no more replacements", index, type(error).__name__
            )
            slot.capacity = 0  # this slot takes no more lines
