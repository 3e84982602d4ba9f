"""The result file: appended line by line, read back on a rerun, never losing a finished line.

Each result is written as one line with one ``write``, flushed and (by default)
``fsync``-ed before the next is taken, so a crash, Ctrl-C or ``kill -9`` loses at
most the line being written: a torn last line, with no newline, which
:meth:`ResultFile.load` cuts off.  A rerun then decides what is done
(:func:`plan_resume`, pure) and, when something must go (a torn tail, a result of
a request that has since changed, a failure to retry), rewrites the file through
a temporary file and an atomic rename, keeping every other line byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from llmkit.batch.format import BadLine, BatchItem
from llmkit.errors import InvalidRequestError

__all__ = ["ResultFile", "ResumePlan", "StoredRecord", "parse_records", "plan_resume"]


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
    """The output file of a batch: read back, compacted, appended to (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._handle: IO[bytes] | None = None

    def load(self) -> tuple[list[StoredRecord], int]:
        """The results in the file (none if it does not exist), and the torn tail's length."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return [], 0
        except OSError as exc:
            raise InvalidRequestError(f"cannot read the result file {self.path}: {exc}") from exc
        return parse_records(data, str(self.path))

    def rewrite(self, keep: Iterable[StoredRecord]) -> None:
        """Replace the file by exactly these lines, atomically (a temporary file, then rename)."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("wb") as handle:
            for stored in keep:
                handle.write(stored.raw)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)

    def open(self) -> None:
        """Open for appending (the parent folder is made if needed)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("ab")
        except OSError as exc:
            raise InvalidRequestError(f"cannot write the result file {self.path}: {exc}") from exc

    def append(self, line: bytes) -> None:
        """Write one whole line, flush it, and fsync it (unless ``fsync=False``)."""
        if self._handle is None:
            self.open()
        assert self._handle is not None
        self._handle.write(line)
        self._handle.flush()
        if self.fsync:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
