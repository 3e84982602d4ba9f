"""HTTP/1.1 chunked transfer coding, decoded (pure: bytes in, data out).

The direct body reader (:mod:`llmkit.backends.http.body`) hands a streamed
body to :class:`ChunkedDecoder` once h11 has parsed the response head and
stands between two chunks, and gives h11 back the body's raw last chunk and
trailer section (:attr:`ChunkedDecoder.tail`) so that h11 itself sees the
message end and the connection goes back to the pool.

It accepts exactly what h11 accepts (RFC 9112 section 7.1): a chunk size of
1 to 20 hex digits, then optional extensions (ignored) and trailing spaces
or tabs, ``CRLF``; the chunk's data and ``CRLF``; a last chunk of size 0,
trailer lines, and a blank line (``CRLF`` or a bare ``LF``).  Anything else
raises :class:`ChunkedDecodeError`.  A test holds it against h11 on random
bodies cut at random places.  Hand-written because, with one token per
network read, h11's general event machinery was the largest part of the
client's CPU left (see ``bench/README.md``).
"""

from __future__ import annotations

import re

__all__ = ["ChunkedDecodeError", "ChunkedDecoder"]

_HEADER = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_MAX_HEADER = 64 * 1024  # a chunk header or trailer section longer than this is refused


class ChunkedDecodeError(ValueError):
    """The bytes are not a valid chunked body."""


class ChunkedDecoder:
    """``feed(bytes) -> [data, ...]`` for a chunked body, in whatever pieces it arrives.

    :attr:`done` turns true at the end of the body; :attr:`tail` is then the
    raw last chunk and trailer section, and :attr:`rest` whatever came after.
    """

    __slots__ = ("_crlf", "_end", "_left", "_pending", "_trailer_at", "done", "rest", "tail")

    def __init__(self) -> None:
        self._pending = b""  # the start of a chunk header, not yet ended by CRLF
        self._left = 0  # data bytes still to come in the current chunk
        self._crlf = b""  # what is still to come of the CRLF after a chunk's data
        self._end: bytes | None = None  # raw bytes from the last chunk's header on
        self._trailer_at = 0  # where the trailer section starts in _end
        self.done = False
        self.tail = b""
        self.rest = b""

    @property
    def between_chunks(self) -> bool:
        """Whether everything fed so far ended exactly after a chunk (and its CRLF)."""
        return self.chunk_rest == 0

    @property
    def chunk_rest(self) -> int | None:
        """How many bytes of the current chunk (data, then CRLF) are still to come.

        ``None`` while inside a chunk header, the last chunk or the trailers,
        or after the end: then the position is not inside or between chunks.
        """
        if self._pending or self._end is not None or self.done:
            return None
        return self._left + 2 if self._left else len(self._crlf)

    def feed(self, data: bytes) -> list[bytes]:
        """The chunk data that ``data`` carries (the body's content, framing removed)."""
        if self.done:
            self.rest += data
            return []
        if self._end is not None:
            self._end += data
            self._find_end()
            return []
        if self._pending:
            data = self._pending + data
            self._pending = b""
        out: list[bytes] = []
        position = 0
        size = len(data)
        while position < size:
            if self._left:
                end = min(size, position + self._left)
                out.append(data[position:end])
                self._left -= end - position
                position = end
                if not self._left:
                    self._crlf = b"\r\n"
                continue
            if self._crlf:
                got = data[position : position + len(self._crlf)]
                if not self._crlf.startswith(got):
                    raise ChunkedDecodeError(f"malformed chunk footer: {got!r} (expected CRLF)")
                self._crlf = self._crlf[len(got) :]
                position += len(got)
                continue
            line_end = data.find(b"\r\n", position)
            if line_end < 0:
                self._pending = data[position:]
                if len(self._pending) > _MAX_HEADER:
                    raise ChunkedDecodeError("chunk header too long")
                break
            header = _HEADER.fullmatch(data, position, line_end)
            if header is None:
                raise ChunkedDecodeError(f"illegal chunk header: {data[position:line_end]!r}")
            self._left = int(header[1], 16)
            if not self._left:  # the last chunk: trailers, then a blank line
                self._end = data[position:]
                self._trailer_at = line_end + 2 - position
                self._find_end()
                break
            position = line_end + 2
        return out

    def _find_end(self) -> None:
        end = self._end
        assert end is not None
        start = self._trailer_at
        if end[start : start + 1] == b"\n":
            stop = start + 1
        elif end[start : start + 2] == b"\r\n":
            stop = start + 2
        else:
            match = _BLANK_LINE.search(end, start)
            if match is None:
                if len(end) - start > _MAX_HEADER:
                    raise ChunkedDecodeError("trailer section too long")
                return
            stop = match.end()
        self.done = True
        self.tail = end[:stop]
        self.rest = end[stop:]
        self._end = None
