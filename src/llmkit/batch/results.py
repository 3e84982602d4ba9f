"""The result file: appended line by line, read back on a rerun, never losing a finished line.

Each result is written as one line with one ``write``, flushed and (by default)
``fsync``-ed before the next is taken, so a crash, Ctrl-C or ``kill -9`` loses at
most the line being written: a torn last line, with no newline, which
:meth:`ResultFile.load` cuts off.  A rerun then decides what is done
(:func:`plan_resume`, pure) and, when something must go (a torn tail, a result of
a request that has since changed, a failure to retry), rewrites the file through
a temporary file and an atomic rename, keeping every other line byte for byte.

The file itself is handled by :mod:`llmkit.batch.files`: it must be a regular
file, it is read back a bounded line at a time, and it is locked for the whole
run, so two batches never write the same file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from llmkit.batch.files import MAX_LINE_BYTES, OutputLock, read_lines, read_output
from llmkit.batch.format import BadLine, BatchItem
from llmkit.errors import InvalidRequestError

__all__ = [
    "ResultFile",
    "ResumePlan",
    "StoredRecord",
    "parse_records",
    "plan_resume",
    "read_records",
]


@dataclass(frozen=True)
class StoredRecord:
    """A result line already in the file: its bytes (newline included) and what resuming needs."""

    raw: bytes
    record: dict[str, Any]
    key: str
    hash: str
    custom_id: str | None
    ok: bool
    retryable: bool


def _stored(raw: bytes, number: int, path: str) -> StoredRecord:
    def refuse(what: str) -> InvalidRequestError:
        return InvalidRequestError(
            f"{path} line {number}: {what}; is this the output of llmkit batch? "
            "(write to a new file, or remove this one to start again)"
        )

    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise refuse(f"not JSON ({exc})") from exc
    meta = record.get("llmkit") if isinstance(record, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("key"), str):
        raise refuse("not a batch result (no llmkit.key)")
    custom_id = record.get("custom_id")
    return StoredRecord(
        raw=raw,
        record=record,
        key=meta["key"],
        hash=str(meta.get("hash", "")),
        custom_id=custom_id if isinstance(custom_id, str) else None,
        ok=record.get("error") is None,
        retryable=bool(meta.get("retryable", False)),
    )


def parse_records(data: bytes, path: str = "the result file") -> tuple[list[StoredRecord], int]:
    """The complete lines of a result file, and how many bytes of torn tail follow them.

    Only the last line may be torn (it has no newline); anything else that is not
    a result line is an error naming its line.
    """
    records: list[StoredRecord] = []
    end = data.rfind(b"\n") + 1
    for number, raw in enumerate(data[:end].splitlines(keepends=True), start=1):
        if raw.strip():
            records.append(_stored(raw, number, path))
    return records, len(data) - end


@dataclass
class ResumePlan:
    """What a rerun keeps: results done (by key), lines to keep in the file, and whether to rewrite.

    ``dropped`` counts results let go: of requests changed since, failures to
    retry, and repeats of a key already kept.
    """

    done: dict[str, StoredRecord] = field(default_factory=dict)
    keep: list[StoredRecord] = field(default_factory=list)
    dropped: int = 0


def plan_resume(
    lines: Sequence[BatchItem | BadLine],
    records: Iterable[StoredRecord],
    *,
    retry_failed: bool = False,
) -> ResumePlan:
    """Decide which stored results answer which input lines (pure).

    A stored result is *done* when its key and request hash match a line's, and it
    is a success, or a failure that is not ``retryable`` (all failures are retried
    with ``retry_failed``).  A result whose key belongs to a line but does not
    match, or whose ``custom_id`` now belongs to another key, is dropped.  Results
    of lines no longer in the input are kept as they are.
    """
    wanted = {line.key: line.hash for line in lines}
    custom_ids = {line.custom_id for line in lines if line.custom_id is not None}
    plan = ResumePlan()
    for stored in records:
        if stored.key in wanted:
            reusable = stored.ok or not (retry_failed or stored.retryable)
            if stored.hash == wanted[stored.key] and reusable and stored.key not in plan.done:
                plan.done[stored.key] = stored
                plan.keep.append(stored)
            else:
                plan.dropped += 1
        elif stored.custom_id is not None and stored.custom_id in custom_ids:
            plan.dropped += 1
        else:
            plan.keep.append(stored)
    return plan


class ResultFile:
    """The output file of a batch: read back, compacted, appended to (see the module docstring).

    It must be a regular file (or not exist yet); :meth:`lock` opens it for the
    run and holds it exclusively (:class:`~llmkit.batch.files.OutputLock`): a
    second batch on the same file fails at once.  :meth:`rewrite` and
    :meth:`append` take the lock if it is not held yet; :meth:`close` lets it go.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock: OutputLock | None = None

    def lock(self) -> None:
        """Open the file (made, with its folder, if missing) and hold its lock until :meth:`close`.

        Raises :class:`~llmkit.errors.InvalidRequestError` for a path that is not a
        regular file, :class:`~llmkit.batch.files.BatchFileError` when another
        batch holds the file.
        """
        if self._lock is None:
            self._lock = OutputLock(self.path)

    def load(self) -> tuple[list[StoredRecord], int]:
        """The results in the file (none if it does not exist), and the torn tail's length.

        Read a line at a time; a line longer than
        :data:`~llmkit.batch.files.MAX_LINE_BYTES` is an error.
        """
        try:
            if self._lock is not None:
                with self._lock.reader() as reader:
                    return read_records(reader, str(self.path))
            handle = read_output(self.path)
            if handle is None:
                return [], 0
            with handle:
                return read_records(handle, str(self.path))
        except OSError as exc:
            raise InvalidRequestError(f"cannot read the result file {self.path}: {exc}") from exc

    def rewrite(self, keep: Iterable[StoredRecord]) -> None:
        """Replace the file by exactly these lines, atomically (a temporary file, then rename)."""
        self.lock()
        assert self._lock is not None
        self._lock.replace(stored.raw for stored in keep)

    def open(self) -> None:
        """Open for appending (the parent folder is made if needed): :meth:`lock`."""
        self.lock()

    def append(self, line: bytes, *, line_number: int | None = None) -> None:
        """Write one whole line and fsync it (unless ``fsync=False``).

        A failure (a full disk, an I/O error) raises
        :class:`~llmkit.batch.files.BatchFileError` naming the file and
        ``line_number``, the input line the result belongs to.
        """
        self.lock()
        assert self._lock is not None
        self._lock.append(line, fsync=self.fsync, line=line_number)

    def close(self) -> None:
        """Close the file and let go of its lock (idempotent)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def read_records(
    handle: IO[bytes], path: str = "the result file"
) -> tuple[list[StoredRecord], int]:
    """:func:`parse_records` for an open file, read a line at a time (lines are bounded)."""
    records: list[StoredRecord] = []
    for number, raw, whole in read_lines(handle):
        if not whole:
            raise InvalidRequestError(
                f"{path} line {number}: longer than {MAX_LINE_BYTES} bytes; is this the output "
                "of llmkit batch? (write to a new file, or remove this one to start again)"
            )
        if not raw.endswith(b"\n"):
            return records, len(raw)  # the last line, torn
        if raw.strip():
            records.append(_stored(raw, number, path))
    return records, 0
