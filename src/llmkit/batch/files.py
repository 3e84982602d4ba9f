"""The batch's files on disk: only regular files, read line by line with a bound, one writer.

- **Regular files only.** The input and the output must be regular files (the
  output may not exist yet); a device (``/dev/full``, ``/dev/null``), a named pipe,
  a socket or a folder is refused before anything is read or written, with an
  error naming the path.  Files are opened without blocking and checked again once
  open, so a pipe swapped in meanwhile cannot hang the batch.
- **Bounded reads.** Files are read a line at a time; no line may be longer than
  :data:`MAX_LINE_BYTES`.
- **One writer.** :class:`OutputLock` holds an exclusive ``flock`` on the output
  file for the whole run, so a second batch on the same file fails at once
  (:class:`BatchFileError`).  When the file is rewritten (a temporary file renamed
  over it), the new file is locked before the rename and the old lock let go
  after, and a process that locked a file no longer at the path tries again, so
  the lock is never lost on the way.
- **Write errors** (a full disk, an I/O error) become a :class:`BatchFileError`
  naming the file and the input line whose result could not be written; the bytes
  of that partial line are cut off again where possible.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from llmkit.errors import BatchFileError, InvalidRequestError

__all__ = [
    "MAX_LINE_BYTES",
    "BatchFileError",
    "OutputLock",
    "check_input",
    "check_output",
    "open_input",
    "read_lines",
    "read_output",
]

#: The longest line read from a batch's input or output file (64 MiB).
MAX_LINE_BYTES = 64 * 1024 * 1024
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_WRITE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_LOCK_TRIES = 20


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _not_regular(what: str, path: str | os.PathLike[str], mode: int) -> InvalidRequestError:
    return InvalidRequestError(
        f"the batch {what} {os.fspath(path)} is {_kind(mode)}: it must be a regular file"
    )


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_input(path: str | os.PathLike[str]) -> None:
    """Refuse an input that is missing, unreadable or not a regular file (reads nothing)."""
    try:
        mode = Path(path).stat().st_mode
    except OSError as exc:
        raise InvalidRequestError(
            f"cannot read the batch input {os.fspath(path)}: {_reason(exc)}"
        ) from exc
    if not stat.S_ISREG(mode):
        raise _not_regular("input", path, mode)


def check_output(path: str | os.PathLike[str]) -> None:
    """Refuse an output that exists and is not a regular file (writes nothing)."""
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InvalidRequestError(
            f"cannot use the batch output {os.fspath(path)}: {_reason(exc)}"
        ) from exc
    if not stat.S_ISREG(mode):
        raise _not_regular("output", path, mode)


def open_input(path: str | os.PathLike[str]) -> IO[bytes]:
    """The input, open for reading: checked to be a regular file before and after opening."""
    check_input(path)
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        raise InvalidRequestError(
            f"cannot read the batch input {os.fspath(path)}: {_reason(exc)}"
        ) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_regular("input", path, mode)
    return os.fdopen(fd, "rb")


def read_output(path: str | os.PathLike[str]) -> IO[bytes] | None:
    """An existing output, open for reading (checked like the input); ``None`` if missing."""
    check_output(path)
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidRequestError(
            f"cannot read the batch output {os.fspath(path)}: {_reason(exc)}"
        ) from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_regular("output", path, mode)
    return os.fdopen(fd, "rb")


def read_lines(
    handle: IO[bytes], *, limit: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes, bool]]:
    """``(number, bytes, whole)`` for each line of ``handle``, 1-based, newline included.

    A line longer than ``limit`` is given as its first ``limit`` bytes with
    ``whole`` false (the rest is skipped, never held in memory); the last line may
    lack its newline.
    """
    number = 0
    while True:
        raw = handle.readline(limit + 1)
        if not raw:
            return
        number += 1
        if raw.endswith(b"\n") or len(raw) <= limit:  # shorter without a newline: the end
            yield number, raw, True
            continue
        rest = raw
        while rest and not rest.endswith(b"\n"):
            rest = handle.readline(1 << 20)
        yield number, raw[:limit], False


class OutputLock:
    """The output file, open for appending and held exclusively (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.real = Path(os.path.realpath(path))  # a rewrite replaces the file, not a link to it
        self.fd = self._acquire()
        self._writing = threading.Lock()  # whole lines, one at a time, from any thread

    def _acquire(self) -> int:
        check_output(self.path)
        with contextlib.suppress(OSError):  # a failure shows when the file is opened
            self.real.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(_LOCK_TRIES):
            try:
                fd = os.open(self.real, _WRITE_FLAGS, 0o666)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # a FIFO with no reader: never wait for one
                    raise _not_regular("output", self.path, stat.S_IFIFO) from exc
                raise InvalidRequestError(
                    f"cannot write the batch output {self.path}: {_reason(exc)}"
                ) from exc
            try:
                opened = os.fstat(fd)
                if not stat.S_ISREG(opened.st_mode):
                    raise _not_regular("output", self.path, opened.st_mode)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise BatchFileError(
                        f"the batch output {self.path} is in use: another llmkit batch is "
                        "writing it (it holds the file's lock); wait for it to finish, or "
                        "write to another file",
                        path=str(self.path),
                    ) from None
                except OSError as exc:
                    raise BatchFileError(
                        f"cannot lock the batch output {self.path}: {_reason(exc)}",
                        path=str(self.path),
                    ) from exc
                try:
                    now = self.real.stat()
                except FileNotFoundError:
                    now = None
            except BaseException:
                os.close(fd)
                raise
            if now is not None and (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino):
                flags = fcntl.fcntl(fd, fcntl.F_GETFL)
                fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
                return fd
            os.close(fd)  # another batch renamed a new file over it meanwhile: that one counts
        raise BatchFileError(
            f"cannot lock the batch output {self.path}: it keeps being replaced",
            path=str(self.path),
        )

    def reader(self) -> IO[bytes]:
        """The file from its start, for reading (the lock stays with this object)."""
        os.lseek(self.fd, 0, os.SEEK_SET)
        return io.BufferedReader(io.FileIO(self.fd, "r", closefd=False))

    def replace(self, lines: Iterable[bytes]) -> None:
        """Make the file exactly ``lines``: a locked temporary file, fsync-ed, renamed over it."""
        fd, temporary = tempfile.mkstemp(
            dir=self.real.parent, prefix=f".{self.real.name}.", suffix=".tmp"
        )
        try:
            with contextlib.suppress(OSError):
                os.fchmod(fd, stat.S_IMODE(os.fstat(self.fd).st_mode))
            for line in lines:
                _write_all(fd, line)
            os.fsync(fd)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody else has it
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
            Path(temporary).replace(self.real)
        except OSError as exc:
            os.close(fd)
            Path(temporary).unlink(missing_ok=True)
            raise BatchFileError(
                f"cannot rewrite the batch output {self.path}: {_reason(exc)} "
                "(the file is unchanged)",
                path=str(self.path),
            ) from exc
        old, self.fd = self.fd, fd
        os.close(old)  # lets go of the old file's lock, now that the new one holds it

    def append(self, data: bytes, *, fsync: bool, line: int | None = None) -> None:
        """Write ``data`` whole at the end (then fsync); a failure cuts the partial bytes off."""
        try:
            with self._writing:
                start = os.fstat(self.fd).st_size
                try:
                    _write_all(self.fd, data)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(self.fd, start)
                    raise
            if fsync:  # outside the lock: several threads' fsyncs can share one disk flush
                os.fsync(self.fd)
        except OSError as exc:
            what = f"the result of line {line}" if line is not None else "a result"
            raise BatchFileError(
                f"cannot write {what} to the batch output {self.path}: {_reason(exc)}; "
                "the batch stopped (the results written so far are kept: fix the problem "
                "and run the same command again to finish it)",
                path=str(self.path),
                line=line,
            ) from exc

    def close(self) -> None:
        """Close the file, letting go of the lock (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
