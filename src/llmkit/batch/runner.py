"""The batch runner: input lines through a backend, results appended as they finish.

:class:`BatchRunner` plans a run (reads the input, reads back the output file,
decides what is done: :func:`~llmkit.batch.results.plan_resume`), then hands the
lines still to do to an executor: :class:`LocalExecutor` here (anyio tasks, at
most ``concurrency`` requests in flight), or the Ray executor
(:mod:`llmkit.batch.ray_executor`).  One writer task appends each result to the
file as it arrives, flushed and fsync-ed, and passes it on to whoever iterates.

Files are handled by :mod:`llmkit.batch.files`: both must be regular files, the
output is locked for the whole run, reads are bounded, and a write error stops the
batch with an error naming the file and the line.  Each line's result is written
once per run: a second record for a key already written (an executor that ran a
line twice, such as Ray after a worker died) is dropped.

A request that fails with an error worth retrying (what the HTTP
:class:`~llmkit.backends.http.RetryPolicy` retries, or a stream cut off) is tried
again, with the policy's backoff, up to ``max_attempts``; a backend's own retries
happen inside each attempt.  A failure is recorded in the output and the batch
goes on.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol, Self

import anyio
import anyio.to_thread
import orjson
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from llmkit._async.observe import aobserved
from llmkit._observe import observer, observing
from llmkit.backends.base import AsyncBackend
from llmkit.backends.http.retry import RetryPolicy
from llmkit.batch.files import (
    MAX_LINE_BYTES,
    BatchFileError,
    check_input,
    check_output,
    open_input,
    read_lines,
)
from llmkit.batch.format import BadLine, BatchItem, LineParser
from llmkit.batch.progress import NoProgress, Progress
from llmkit.batch.records import (
    AnyResponse,
    bad_line_record,
    dumps_record,
    failure_record,
    success_record,
)
from llmkit.batch.results import ResultFile, plan_resume
from llmkit.batch.summary import BatchResult, BatchSummary
from llmkit.errors import InvalidRequestError, RemoteGenerationError, StreamInterruptedError
from llmkit.stream import AsyncStream
from llmkit.streaming.accumulator import ChatAccumulator, GenerateAccumulator
from llmkit.types.requests import ChatRequest, EmbedRequest
from llmkit.types.responses import ChatResponse, GenerateResponse

__all__ = [
    "DEFAULT_HTTP_CONCURRENCY",
    "BatchRun",
    "Executor",
    "LocalExecutor",
    "Order",
    "Source",
    "default_concurrency",
    "execute_item",
    "read_items",
]

logger = logging.getLogger("llmkit.batch")

Order = Literal["completion", "input"]
Source = str | os.PathLike[str] | Iterable[dict[str, Any] | str | bytes]
Emit = Callable[[BatchItem, dict[str, Any], AnyResponse | None], Awaitable[None]]

#: Requests in flight to one HTTP server when neither the user nor the backend says.
DEFAULT_HTTP_CONCURRENCY = 8


def default_concurrency(backend: AsyncBackend) -> int:
    """How many requests to keep in flight on ``backend`` when the user gives no number.

    The backend's own ``max_concurrency`` (an in-process engine that decodes
    several sequences together says how many), else the sum over a router's
    upstreams, else :data:`DEFAULT_HTTP_CONCURRENCY` for a remote backend and 1
    for an in-process one, which answers one request at a time.
    """
    for candidate in (backend, getattr(backend, "backend", None)):
        value = getattr(candidate, "max_concurrency", None)
        if isinstance(value, int) and value > 0:
            return value
    upstreams = getattr(backend, "upstreams", None)
    if upstreams:
        return sum(default_concurrency(upstream.backend) for upstream in upstreams)
    return DEFAULT_HTTP_CONCURRENCY if hasattr(backend, "session") else 1


def read_items(source: Source, parser: LineParser) -> list[BatchItem | BadLine]:
    """The input's non-blank lines, parsed, with their 1-based numbers.

    A path is read as JSONL, a line at a time: it must be a regular file, and a
    line longer than :data:`~llmkit.batch.files.MAX_LINE_BYTES` becomes a bad line.
    An iterable gives one line per element (a dict is encoded as JSON, a string or
    bytes taken as the line's text); an element that cannot be is a bad line.
    """
    out: list[BatchItem | BadLine] = []
    if isinstance(source, str | os.PathLike):
        with open_input(source) as handle:
            try:
                for number, raw, whole in read_lines(handle):
                    if not whole:
                        message = f"longer than {MAX_LINE_BYTES} bytes"
                        out.append(parser.refuse(number, raw, "line_too_long", message))
                    elif raw.strip():
                        out.append(parser.parse(number, raw.removesuffix(b"\n")))
            except OSError as exc:
                raise InvalidRequestError(f"cannot read the batch input {source}: {exc}") from exc
        return out
    for number, element in enumerate(source, start=1):
        try:
            if isinstance(element, dict):
                raw = orjson.dumps(element)
            elif isinstance(element, str):
                raw = element.encode()
            elif isinstance(element, bytes | bytearray | memoryview):
                raw = bytes(element)
            else:
                raise TypeError(f"expected a dict, str or bytes, got {type(element).__name__}")
        except (TypeError, ValueError) as exc:  # orjson's errors are TypeErrors; UnicodeError
            message = f"cannot be read as a JSON line: {str(exc)[:200]}"
            stand_in = f"unreadable element {number}".encode()
            out.append(parser.refuse(number, stand_in, "invalid_line", message))
            continue
        if len(raw) > MAX_LINE_BYTES:
            message = f"longer than {MAX_LINE_BYTES} bytes"
            out.append(parser.refuse(number, raw[:MAX_LINE_BYTES], "line_too_long", message))
        else:
            out.append(parser.parse(number, raw))
    return out


def _worth_retrying(policy: RetryPolicy, error: Exception) -> bool:
    return policy.should_retry(error) or isinstance(
        error, StreamInterruptedError | RemoteGenerationError
    )


async def _answer(backend: AsyncBackend, item: BatchItem) -> AnyResponse:
    request = item.request
    watch = observer()
    if isinstance(request, EmbedRequest):
        if watch is None:
            return await backend.embed(request)
        with observing(watch.operation("embeddings", request, backend.name)) as seen:
            response = await backend.embed(request)
            seen.result(response)
            return response
    if isinstance(request, ChatRequest):
        events = backend.chat(request)
        if watch is not None:
            events = aobserved(events, watch.operation("chat", request, backend.name))
        chat = AsyncStream[ChatResponse](events, ChatAccumulator(request.model))
        async with chat:
            return await chat.final_response()
    events = backend.generate(request)
    if watch is not None:
        events = aobserved(events, watch.operation("text_completion", request, backend.name))
    generate = AsyncStream[GenerateResponse](
        events,
        GenerateAccumulator(request.model),
    )
    async with generate:
        return await generate.final_response()


async def execute_item(
    backend: AsyncBackend, item: BatchItem, retry: RetryPolicy
) -> tuple[dict[str, Any], AnyResponse | None]:
    """Run one line, with retries; its record (success or failure) and the typed answer."""
    watch = observer()
    if watch is None:
        return await _execute(backend, item, retry)
    with observing(watch.batch_line(item.line, item.custom_id)) as seen:
        record, response = await _execute(backend, item, retry)
        if response is None:
            seen.fail(RuntimeError(str(record.get("error") or "the line failed")))
        return record, response


async def _execute(
    backend: AsyncBackend, item: BatchItem, retry: RetryPolicy
) -> tuple[dict[str, Any], AnyResponse | None]:
    attempt = 1
    while True:
        try:
            response = await _answer(backend, item)
        except Exception as exc:  # every failure becomes this line's record
            if attempt < retry.max_attempts and _worth_retrying(retry, exc):
                await anyio.sleep(retry.delay(attempt, exc))
                attempt += 1
                continue
            return failure_record(item, exc, attempts=attempt), None
        return success_record(item, response, attempts=attempt), response


class Executor(Protocol):
    """Runs lines and hands each record to ``emit`` as it is ready."""

    async def run(self, items: Sequence[BatchItem], emit: Emit) -> None: ...


@dataclass
class LocalExecutor:
    """Runs lines in this process: ``concurrency`` anyio tasks share one backend."""

    backend: AsyncBackend
    concurrency: int
    retry: RetryPolicy

    async def run(self, items: Sequence[BatchItem], emit: Emit) -> None:
        queue = iter(items)

        async def worker() -> None:
            for item in queue:  # one iterator, shared by every task
                record, response = await execute_item(self.backend, item, self.retry)
                await emit(item, record, response)

        async with anyio.create_task_group() as group:
            for _ in range(max(1, min(self.concurrency, len(items)))):
                group.start_soon(worker)


_Outcome = tuple[int, BatchResult]


class BatchRun:
    """One run of a batch: an async context manager, and an iterator of its results.

    Entering it plans the run and starts the work; iterating gives each line's
    :class:`BatchResult` (earlier runs' results first, in ``completion`` order;
    or every line in ``input`` order); ``summary`` is filled in as results
    arrive.  Leaving the block early stops the work: what was written stays, and a
    rerun finishes the rest.
    """

    def __init__(
        self,
        source: Source,
        output: str | os.PathLike[str] | None,
        executor: Executor,
        *,
        model: str | None = None,
        order: Order = "completion",
        retry_failed: bool = False,
        fsync: bool = True,
        progress: Progress | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.source = source
        self.output = ResultFile(output, fsync=fsync) if output is not None else None
        self.executor = executor
        self.model = model
        self.order = order
        self.retry_failed = retry_failed
        self.progress: Progress = progress or NoProgress()
        self.summary = BatchSummary()
        self._on_close = on_close
        self._group: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[_Outcome] | None = None
        self._started = 0.0
        self._finished = False
        self._written: set[str] = set()
        self._failure: Exception | None = None

    async def __aenter__(self) -> Self:
        self._started = time.monotonic()
        try:
            lines, resumed = await anyio.to_thread.run_sync(self._plan)
        except BaseException:
            with anyio.CancelScope(shield=True):
                if self.output is not None:
                    self.output.close()
                if self._on_close is not None:
                    await self._on_close()
            raise
        send, self._receive = anyio.create_memory_object_stream[_Outcome](math.inf)
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._work, lines, resumed, send)
        return self

    def _plan(self) -> tuple[list[BatchItem | BadLine], list[_Outcome]]:
        # Both files are checked before either is read, and the output is held from here on.
        if isinstance(self.source, str | os.PathLike):
            check_input(self.source)
        if self.output is not None:
            check_output(self.output.path)
            self.output.lock()
        lines = read_items(self.source, LineParser(self.model))
        resumed: list[_Outcome] = []
        if self.output is not None:
            records, torn = self.output.load()
            plan = plan_resume(lines, records, retry_failed=self.retry_failed)
            if torn or plan.dropped or len(plan.keep) != len(records):
                self.output.rewrite(plan.keep)
            self.summary.dropped = plan.dropped
            for index, line in enumerate(lines):
                stored = plan.done.get(line.key)
                if stored is not None:
                    result = BatchResult(
                        line.line, line.key, line.custom_id, stored.record, resumed=True
                    )
                    resumed.append((index, result))
                    self._written.add(line.key)
                    if not result.ok:
                        error = result.error or {}
                        self.summary.skipped_failed += 1
                        self.summary.failures.append((line.line, str(error.get("message", ""))))
        self.summary.total = len(lines)
        self.summary.skipped = len(resumed)
        return lines, resumed

    async def _work(
        self,
        lines: list[BatchItem | BadLine],
        resumed: list[_Outcome],
        send: MemoryObjectSendStream[_Outcome],
    ) -> None:
        async with send:
            self.progress.start(len(lines), len(resumed))
            for outcome in resumed:
                await send.send(outcome)
            done = {index for index, _ in resumed}
            index_of = {line.key: index for index, line in enumerate(lines)}
            todo: list[BatchItem] = []
            for index, line in enumerate(lines):
                if index in done:
                    continue
                if isinstance(line, BadLine):
                    await self._record(index, line, bad_line_record(line), None, send)
                else:
                    todo.append(line)

            async def emit(
                item: BatchItem, record: dict[str, Any], response: AnyResponse | None
            ) -> None:
                await self._record(index_of[item.key], item, record, response, send)

            try:
                await self.executor.run(todo, emit)
            except Exception as exc:  # the executor could not go on (e.g. no Ray worker left)
                while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
                    exc = exc.exceptions[0]
                self._stop(exc)

    def _stop(self, error: Exception) -> None:
        """Stop the run; ``error`` is raised when it is left (the first one counts)."""
        if self._failure is None:
            self._failure = error
        assert self._group is not None
        self._group.cancel_scope.cancel()

    async def _record(
        self,
        index: int,
        line: BatchItem | BadLine,
        record: dict[str, Any],
        response: AnyResponse | None,
        send: MemoryObjectSendStream[_Outcome],
    ) -> None:
        if self._failure is not None:
            return
        if line.key in self._written:  # answered twice (a retried task): the first one counts
            logger.info("line %d has its result already; a second one is dropped", line.line)
            return
        self._written.add(line.key)
        try:
            data = dumps_record(record)
        except (TypeError, ValueError) as exc:  # a value orjson cannot encode
            error = ValueError(f"the result cannot be written as JSON: {str(exc)[:200]}")
            if isinstance(line, BatchItem):
                record, response = failure_record(line, error, attempts=0), None
            else:
                record = bad_line_record(line)
            data = dumps_record(record)
        if self.output is not None:
            output = self.output
            try:
                await anyio.to_thread.run_sync(lambda: output.append(data, line_number=line.line))
            except BatchFileError as exc:
                self._stop(exc)  # raised when the run is left; stop everything else now
                return
        result = BatchResult(line.line, line.key, line.custom_id, record, response=response)
        self.summary.add(result)
        self.progress.advance(result)
        await send.send((index, result))

    async def __aiter__(self) -> AsyncIterator[BatchResult]:
        if self._receive is None:
            raise RuntimeError("enter the batch run (async with) before iterating it")
        pending: dict[int, BatchResult] = {}
        next_index = 0
        async for index, result in self._receive:
            if self.order == "completion":
                yield result
                continue
            pending[index] = result
            while next_index in pending:
                yield pending.pop(next_index)
                next_index += 1
        self._finish()

    def _finish(self) -> None:
        if not self._finished:
            self._finished = True
            self.summary.wall_seconds = time.monotonic() - self._started
            self.progress.finish(self.summary)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None
        self._group.cancel_scope.cancel()  # a no-op once the work is done; else stop it
        try:
            suppress = await self._group.__aexit__(exc_type, exc, tb)
        finally:
            with anyio.CancelScope(shield=True):
                if self._receive is not None:
                    self._receive.close()
                if self.output is not None:
                    self.output.close()
                if self._on_close is not None:
                    await self._on_close()
            self._finish()
        if self._failure is not None:
            raise self._failure
        return suppress
