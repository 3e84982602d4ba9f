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

from dataclasses import dataclass
from operator import methodcaller
from typing import Any

import orjson

from llmkit.errors import StreamDecodeError

__all__ = ["NDJSONDecoder", "SSEDecoder", "SSEEvent"]

_loads = orjson.loads
_is_data_line = methodcaller("startswith", b"data: ")


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
            # Blank lines are rare: they fail here and are skipped in _locate.
            return [_loads(line) for line in lines]
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

    The body is cut into event blocks at blank lines; a block that is a single
    ``data:`` line (what LLM servers send) takes a fast path.
    """

    __slots__ = ("_data", "_event", "_id", "_pending", "_retry", "lines_seen")

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self.lines_seen = 0

    def feed(self, data: bytes) -> list[SSEEvent]:
        """The events that ``data`` completed."""
        items = self.feed_payloads(data)
        ident = self._id  # plain events carry no id line: the last one seen is theirs
        return [
            SSEEvent(item.decode("utf-8", "replace"), "message", ident)
            if isinstance(item, bytes)
            else item
            for item in items
        ]

    def feed_payloads(self, data: bytes) -> list[bytes | SSEEvent]:
        """Like :meth:`feed`, but a plain event comes as the raw bytes of its ``data``.

        A plain event is one ``data:`` line of the default ``message`` type (what
        LLM servers send); its payload is handed over undecoded (JSON parsers take
        bytes), sparing an :class:`SSEEvent` per chunk.  Any other event comes
        as an :class:`SSEEvent`.  ``id`` stays readable as :attr:`last_id`.
        """
        if self._pending:
            self._pending.append(data)
            if b"\n" not in data:
                return []
            data = b"".join(self._pending)
            self._pending = []
        carry = b""
        if b"\r" in data:
            if data.endswith(b"\r"):  # its "\n" may be in the next piece
                carry = b"\r"
                data = data[:-1]
            data = data.replace(b"\r\n", b"\n")
        end = data.rfind(b"\n\n")
        if end < 0:
            rest = data + carry
            if rest:
                self._pending.append(rest)
            return []
        rest = data[end + 2 :] + carry
        if rest:
            self._pending.append(rest)
        body = data[:end]
        blocks = body.split(b"\n\n")
        if (
            not self._data
            and body.count(b"\n") == 2 * (len(blocks) - 1)
            and all(map(_is_data_line, blocks))
        ):
            # Every block is one "data: ..." line: what LLM servers send.
            self.lines_seen += 2 * len(blocks)
            self._event = ""
            self._retry = None
            return [block[6:] for block in blocks]
        return list(self._blocks(blocks))

    @property
    def last_id(self) -> str | None:
        """The last event ``id`` seen (the SSE "last event ID")."""
        return self._id

    def finish(self) -> list[SSEEvent]:
        """Events left at the end of the body (a last event without its blank line)."""
        rest = b"".join(self._pending).replace(b"\r\n", b"\n")
        self._pending = []
        events = self._blocks([rest]) if rest.strip(b"\n") else []
        if rest.strip(b"\n"):
            self.lines_seen -= 1  # that last block had no blank line after it
        if self._data:
            events.append(self._dispatch())
        return events

    def _blocks(self, blocks: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for block in blocks:
            self.lines_seen += block.count(b"\n") + 2
            if block.startswith(b"data: ") and b"\n" not in block and not self._data:
                events.append(SSEEvent(block[6:].decode("utf-8", "replace"), "message", self._id))
                self._event = ""
                self._retry = None
                continue
            for line in block.split(b"\n"):
                self._line(line)
            if self._data:
                events.append(self._dispatch())
            else:
                self._event = ""
        return events

    def _dispatch(self) -> SSEEvent:
        event = SSEEvent("\n".join(self._data), self._event or "message", self._id, self._retry)
        self._data = []
        self._event = ""
        self._retry = None
        return event

    def _line(self, line: bytes) -> None:
        if not line or line.startswith(b":"):
            return
        name, colon, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(_text(value) if colon else "")
        elif name == b"event":
            self._event = _text(value)
        elif name == b"id":
            if b"\0" not in value:
                self._id = _text(value)
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)
        # Other field names are ignored, as the standard says.
