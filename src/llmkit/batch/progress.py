"""How a batch shows its progress: a rich bar in a terminal, log lines, or nothing.

Every reporter has the same three calls: :meth:`~Progress.start` with the line
count, :meth:`~Progress.advance` per result, :meth:`~Progress.finish` with the
summary.  :func:`progress_for` picks one: a bar (rich, from the ``cli`` extra)
when standard error is a terminal, plain log lines otherwise, nothing when quiet.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from typing import Any, Literal, Protocol, TextIO

from llmkit.batch.summary import BatchResult, BatchSummary

__all__ = ["LogProgress", "NoProgress", "Progress", "RichProgress", "progress_for"]


class Progress(Protocol):
    """Receives a batch's progress."""

    def start(self, total: int, skipped: int) -> None:
        """The batch has ``total`` lines, ``skipped`` of them already done."""

    def advance(self, result: BatchResult) -> None:
        """One more line has its result."""

    def finish(self, summary: BatchSummary) -> None:
        """The batch is over (done, or stopped)."""


class NoProgress:
    """Shows nothing."""

    def start(self, total: int, skipped: int) -> None:
        pass

    def advance(self, result: BatchResult) -> None:
        pass

    def finish(self, summary: BatchSummary) -> None:
        pass


class LogProgress:
    """A plain line every ``interval`` seconds (done, failed, rate, ETA), then the summary.

    For logs and pipes; ``interval=None`` prints only the summary (quiet mode).
    """

    def __init__(self, stream: TextIO | None = None, interval: float | None = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._total = self._done = self._failed = 0
        self._started = self._last = 0.0

    def start(self, total: int, skipped: int) -> None:
        self._total = total - skipped
        self._started = self._last = time.monotonic()
        if skipped and self.interval is not None:
            self._print(f"batch: {skipped} of {total} lines already done; {self._total} to go")

    def advance(self, result: BatchResult) -> None:
        self._done += 1
        self._failed += 0 if result.ok else 1
        now = time.monotonic()
        if self.interval is not None and now - self._last >= self.interval:
            self._last = now
            elapsed = now - self._started
            rate = self._done / elapsed if elapsed > 0 else 0.0
            left = (self._total - self._done) / rate if rate > 0 else float("inf")
            self._print(
                f"batch: {self._done}/{self._total} lines, {self._failed} failed, "
                f"{rate:.1f} lines/s, ETA {left:.0f} s"
            )

    def finish(self, summary: BatchSummary) -> None:
        self._print(f"batch: {summary}")

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


class RichProgress:
    """A rich progress bar on standard error (or ``console``): lines done, failures, rate
    and ETA."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TaskID,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self.console = console if console is not None else Console(stderr=True)
        self._bar = Bar(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]:.1f} lines/s"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._task: TaskID | None = None
        self._failed = 0
        self._done = 0
        self._started = 0.0

    def start(self, total: int, skipped: int) -> None:
        self._bar.start()
        self._started = time.monotonic()
        self._task = self._bar.add_task("batch", total=total, completed=skipped, rate=0.0, failed=0)

    def advance(self, result: BatchResult) -> None:
        self._done += 1
        self._failed += 0 if result.ok else 1
        elapsed = time.monotonic() - self._started
        rate = self._done / elapsed if elapsed > 0 else 0.0
        if self._task is not None:
            self._bar.update(self._task, advance=1, rate=rate, failed=self._failed)

    def finish(self, summary: BatchSummary) -> None:
        self._bar.stop()
        self.console.print(f"batch: {summary}")


def progress_for(mode: Literal["auto", "bar", "log", "quiet", "none"] = "auto") -> Progress:
    """A reporter: ``bar`` (rich), ``log`` (lines every 10 s), ``quiet`` (the summary only),
    ``none``, or ``auto`` (a bar in a terminal when rich is installed, else log lines)."""
    if mode == "none":
        return NoProgress()
    if mode == "quiet":
        return LogProgress(interval=None)
    if mode == "log":
        return LogProgress()
    if mode == "bar":
        return RichProgress()
    if importlib.util.find_spec("rich") is None:
        return LogProgress()
    return RichProgress() if sys.stderr.isatty() else LogProgress()
