"""Text-level helpers for in-process runtimes (pure, no I/O).

``StopScanner`` finds stop sequences in streamed text without ever showing
any part of a stop sequence, and holds back only as much text as could still
turn out to start one; ``Utf8Pieces`` turns token bytes into text without
splitting a character across two deltas.  Both do work proportional to the
text fed, never re-scanning what came before.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

__all__ = ["StopScanner", "Utf8Pieces"]


class StopScanner:
    """Cuts streamed text at the first stop sequence.

    ``feed(text)`` returns the text that is safe to show now and whether a
    stop sequence was found (then the text before it is the last piece).
    ``flush()`` returns what was held back, once the stream ended without a stop.
    """

    def __init__(self, stops: Sequence[str] | None) -> None:
        self.stops = tuple(stop for stop in stops or () if stop)
        self._hold = max((len(stop) for stop in self.stops), default=1) - 1
        self._pending = ""
        self.stopped = False

    def feed(self, text: str) -> tuple[str, bool]:
        if self.stopped:
            return "", True
        if not self.stops:
            return text, False
        window = self._pending + text
        cut = min((index for stop in self.stops if (index := window.find(stop)) >= 0), default=-1)
        if cut >= 0:
            self._pending = ""
            self.stopped = True
            return window[:cut], True
        keep = self._held_suffix(window)
        self._pending = window[len(window) - keep :] if keep else ""
        return window[: len(window) - keep], False

    def _held_suffix(self, window: str) -> int:
        """The length of the longest tail of ``window`` that begins some stop sequence."""
        for size in range(min(self._hold, len(window)), 0, -1):
            tail = window[-size:]
            if any(stop.startswith(tail) for stop in self.stops):
                return size
        return 0

    def flush(self) -> str:
        pending, self._pending = self._pending, ""
        return pending


class Utf8Pieces:
    """Decodes token bytes to text; a character split across tokens waits for its rest."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def flush(self) -> str:
        return self._decoder.decode(b"", final=True)
