"""How much of a server's answer an HTTP backend will hold (pure: settings and counting, no I/O).

* :class:`ResponseLimits` — the byte limits on a response: a whole (non-streamed) body, one
  line or event of a stream, and a whole stream; every count is of *decompressed* bytes.
* :class:`FrameGuard` — follows a stream piece by piece and raises as soon as one NDJSON line
  or SSE event outgrows its limit (before the decoder would hold it).
* :func:`check_content_encoding` — the only compressions accepted: ``gzip`` or ``deflate``,
  one layer.

A server that breaks a limit gets :class:`~llmkit.errors.ResponseTooLargeError`, which names
the limit and the :class:`ResponseLimits` field that sets it.  Reading stops there and the
connection is closed: nothing beyond the limit is read into memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from llmkit.errors import RemoteError, ResponseTooLargeError

__all__ = [
    "ACCEPT_ENCODING",
    "MAX_ERROR_BODY",
    "FrameGuard",
    "ResponseLimits",
    "check_content_encoding",
    "stream_check",
    "too_large",
]

MiB = 1024 * 1024

#: What llmkit asks servers for: the encodings whose expansion per network read is bounded
#: (zlib: at most about 1032 to 1, so a 64 KiB read inflates to at most about 66 MiB).
ACCEPT_ENCODING = "gzip, deflate"
_ACCEPTED = frozenset({"gzip", "deflate"})

#: The most of an error status's body that is read (its message is cut to 500 characters).
MAX_ERROR_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class ResponseLimits:
    """Byte limits on what a server sends (``None``: no limit); all count decompressed bytes.

    ``max_body_bytes`` (64 MiB) bounds a whole response read at once: a JSON answer
    (embeddings, model lists, a non-streamed OpenAI completion).  64 MiB holds about 800
    embeddings of 4096 dimensions in one answer; raise it for larger batches.

    ``max_line_bytes`` (16 MiB) bounds one line of an NDJSON stream (Ollama) or one event of
    a server-sent-event stream (OpenAI-compatible); a real one is a token's chunk, at most a
    final chunk with a ``context`` of every token (about 1 MiB for 128k tokens).

    ``max_stream_bytes`` (256 MiB) bounds a generation stream as a whole (chat, generate):
    about a million tokens of Ollama or OpenAI chunks.  Streams that report progress (pull,
    push, create) hold nothing and are not counted.  Raise it when asking for per-token
    log-probabilities on very long answers (they make each chunk kilobytes long).
    """

    max_body_bytes: int | None = 64 * MiB
    max_line_bytes: int | None = 16 * MiB
    max_stream_bytes: int | None = 256 * MiB

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_line_bytes", "max_stream_bytes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be a positive number of bytes or None")

    @classmethod
    def of(cls, value: ResponseLimits | None) -> ResponseLimits:
        """``value``, or the defaults for ``None``."""
        return cls() if value is None else value


def too_large(what: str, url: str, limit: int, option: str) -> ResponseTooLargeError:
    """The error for ``what`` (``"the response body"``, ...) passing ``limit`` bytes."""
    return ResponseTooLargeError(
        f"{what} from {url} is larger than {_size(limit)} (ResponseLimits.{option}={limit})",
        url=url,
        limit=limit,
        option=option,
    )


def _size(count: int) -> str:
    if count >= MiB and count % MiB == 0:
        return f"{count // MiB} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


_SSE_END = re.compile(rb"\n\r?\n")
_LINE_END = re.compile(rb"\n")


class FrameGuard:
    """Raises when one record of a stream passes ``limit`` bytes, fed the pieces as they come.

    ``framing`` is ``"ndjson"`` (a record ends at ``\\n``) or ``"sse"`` (an event ends at a
    blank line, ``\\n\\n`` or ``\\n\\r\\n``).  Only the size of the record still open is kept, so
    the cost per piece is one ``rfind``; a piece that could pass the limit is looked at whole.
    """

    __slots__ = ("_end", "_run", "_tail", "limit", "sse", "url")

    def __init__(self, framing: str, limit: int, url: str) -> None:
        if framing not in ("ndjson", "sse"):
            raise ValueError(f"unknown framing {framing!r}")
        self.sse = framing == "sse"
        self._end = _SSE_END if self.sse else _LINE_END
        self.limit = limit
        self.url = url
        self._run = 0  # bytes of the record still open
        self._tail = b""  # the last bytes seen (SSE: a blank line may span two pieces)

    def feed(self, piece: bytes) -> None:
        """Follow ``piece``; raises :class:`~llmkit.errors.ResponseTooLargeError` past the limit."""
        size = len(piece)
        if self._run + size <= self.limit:  # no record can pass the limit in this piece
            if not self.sse:
                end = piece.rfind(b"\n")
                self._run = self._run + size if end < 0 else size - end - 1
                return
            window = self._tail + piece
            end = max(_after(window, b"\n\n"), _after(window, b"\n\r\n"))
            self._run = self._run + size if end < 0 else len(window) - end
            self._tail = window[-2:]
            return
        self._slow(piece)

    def _slow(self, piece: bytes) -> None:
        window = self._tail + piece
        start = len(self._tail)
        run, counted = self._run, start  # ``run`` counts window[:counted] of the open record
        for match in self._end.finditer(window):
            if match.end() <= start:
                continue  # a blank line wholly in the old tail: already counted
            if run + max(0, match.start() - counted) > self.limit:
                raise self._error()
            run, counted = 0, match.end()
        run += len(window) - counted
        if run > self.limit:
            raise self._error()
        self._run = run
        if self.sse:
            self._tail = window[-2:]

    def _error(self) -> ResponseTooLargeError:
        what = "a server-sent event" if self.sse else "a stream line"
        return too_large(what, self.url, self.limit, "max_line_bytes")


def stream_check(
    limits: ResponseLimits, url: str, *, framing: str | None, counted: bool
) -> Callable[[bytes], None] | None:
    """What checks each piece of a stream against ``limits`` (``None``: nothing to check).

    ``framing`` (``"ndjson"``, ``"sse"`` or ``None``) applies ``max_line_bytes``;
    ``counted`` applies ``max_stream_bytes`` to the stream as a whole.
    """
    feed = None
    if framing is not None and limits.max_line_bytes is not None:
        feed = FrameGuard(framing, limits.max_line_bytes, url).feed
    total = limits.max_stream_bytes if counted else None
    if total is None:
        return feed
    received = 0

    def check(piece: bytes) -> None:
        nonlocal received
        received += len(piece)
        if received > total:
            raise too_large("the stream", url, total, "max_stream_bytes")
        if feed is not None:
            feed(piece)

    return check


def _after(window: bytes, end: bytes) -> int:
    found = window.rfind(end)
    return found if found < 0 else found + len(end)


def check_content_encoding(value: str | None, url: str) -> None:
    """Refuse a ``Content-Encoding`` other than none, ``gzip`` or ``deflate`` (one layer).

    llmkit asks for those two only (:data:`ACCEPT_ENCODING`).  Brotli and zstd can expand a
    single network read to gigabytes before a byte could be counted, and stacked layers
    (``gzip, gzip``) multiply the ratio; a server that sends them was not asked to.
    """
    if not value:
        return
    layers = [part.strip().lower() for part in value.split(",")]
    layers = [part for part in layers if part and part != "identity"]
    if not layers or (len(layers) == 1 and layers[0] in _ACCEPTED):
        return
    raise RemoteError(
        f"{url} answered with Content-Encoding {value!r}; llmkit accepts one layer of "
        f"{ACCEPT_ENCODING} (it asked for no other)",
        url=url,
    )
