"""Stream decoders: bytes in, records out (pure, no I/O).

* :class:`NDJSONDecoder` — Ollama's streams: one JSON value per line.
* :class:`SSEDecoder` — OpenAI-compatible streams: server-sent events, whose
  ``data`` fields carry JSON (and a final ``[DONE]``).

Both take the body in whatever pieces the network delivers (a line, or a
UTF-8 character, may be split anywhere) and return what became complete.
Each byte is looked at a bounded number of times: a partial line is kept as
a list of pieces and joined once, when its end arrives.  A line that is not
valid raises :class:`~llmkit.errors.StreamDecodeError` naming the line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llmkit.errors import StreamDecodeError

__all__ = ["NDJSONDecoder", "SSEDecoder", "SSEEvent"]

_loads = json.loads


class _LineSplitter:
    """Splits bytes into lines (``\\n``, with a trailing ``\\r`` stripped)."""

    __slots__ = ("_pending", "lines_seen")

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self.lines_seen = 0

    def feed(self, data: bytes) -> list[bytes]:
        if b"\n" not in data:
            if data:
                self._pending.append(data)
            return []
        lines = data.split(b"\n")
        if self._pending:
            self._pending.append(lines[0])
            lines[0] = b"".join(self._pending)
            self._pending = []
        tail = lines.pop()
        if tail:
            self._pending.append(tail)
        self.lines_seen += len(lines)
        return lines

    def finish(self) -> list[bytes]:
        if not self._pending:
            return []
        line = b"".join(self._pending)
        self._pending = []
        self.lines_seen += 1
        return [line]


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")


class NDJSONDecoder:
    """Newline-delimited JSON: ``feed(bytes) -> [value, ...]``; blank lines are skipped."""

    __slots__ = ("_lines",)

    def __init__(self) -> None:
        self._lines = _LineSplitter()

    def feed(self, data: bytes) -> list[Any]:
        """The JSON values of the lines that ``data`` completed."""
        lines = self._lines.feed(data)
        if not lines:
            return []
        try:
            return [_loads(line) for line in lines if line.strip()]
        except ValueError:
            return self._locate(lines, self._lines.lines_seen - len(lines))

    def finish(self) -> list[Any]:
        """The value of a last line that had no newline; call once, at the end of the body."""
        lines = self._lines.finish()
        try:
            return [_loads(line) for line in lines if line.strip()]
        except ValueError:
            return self._locate(lines, self._lines.lines_seen - len(lines))

    @staticmethod
    def _locate(lines: list[bytes], first: int) -> list[Any]:
        values = []
        for number, line in enumerate(lines, first + 1):
            if not line.strip():
                continue
            try:
                values.append(_loads(line))
            except ValueError as exc:
                raise StreamDecodeError(
                    f"not a JSON line: {exc}", line=number, data=_text(line)
                ) from None
        return values


@dataclass(slots=True)
class SSEEvent:
    """One server-sent event: its ``event`` type, joined ``data`` lines and ``id``."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """``data`` parsed as JSON."""
        return _loads(self.data)


class SSEDecoder:
    """Server-sent events (the WHATWG ``text/event-stream`` rules).

    Fields are ``data``, ``event``, ``id`` and ``retry``; lines starting with
    ``:`` are comments; a blank line dispatches the event.  ``CRLF`` and ``LF``
    line ends are accepted (a lone ``CR`` is not used by any LLM server and is
    kept as data).  ``feed(bytes)`` returns the events that became complete.
    """

    __slots__ = ("_data", "_event", "_id", "_lines", "_retry")

    def __init__(self) -> None:
        self._lines = _LineSplitter()
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    @property
    def lines_seen(self) -> int:
        """How many complete lines have been read (for locating errors)."""
        return self._lines.lines_seen

    def feed(self, data: bytes) -> list[SSEEvent]:
        """The events that ``data`` completed."""
        lines = self._lines.feed(data)
        return self._take(lines) if lines else []

    def finish(self) -> list[SSEEvent]:
        """Events left at the end of the body (a last event without its blank line)."""
        events = self._take(self._lines.finish())
        if self._data:
            events.append(self._dispatch())
        return events

    def _dispatch(self) -> SSEEvent:
        event = SSEEvent("\n".join(self._data), self._event or "message", self._id, self._retry)
        self._data = []
        self._event = ""
        self._retry = None
        return event

    def _take(self, lines: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for raw in lines:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:
                if self._data:
                    events.append(self._dispatch())
                else:
                    self._event = ""
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                self._data.append(_text(value[1:] if value.startswith(b" ") else value))
                continue
            if line.startswith(b":"):
                continue
            name, _, value = line.partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if name == b"event":
                self._event = _text(value)
            elif name == b"id":
                self._id = _text(value) if b"\0" not in value else self._id
            elif name == b"retry" and value.isdigit():
                self._retry = int(value)
            elif name == b"data":  # "data" with no colon: an empty data line
                self._data.append("")
            # Other field names are ignored, as the standard says.
        return events
