"""Finding tags in streamed text (pure).

A tag may be cut anywhere by the chunking, so a finder reports not only where a tag
occurs but also where a possible start of one sits at the end of the text, to be held
back until more text decides. Multi-piece openers (``Action:`` then ````json`` then
``[``) match piece by piece with any whitespace between pieces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MAX_GAP", "NEED_MORE", "TagFinder", "match_literal", "match_pieces"]

MAX_GAP = 64
"""The most whitespace allowed between two pieces of one opener; more means no match
(it also bounds how much text a half-matched opener can hold back)."""

NEED_MORE = -1
"""Returned when the text ends before a match can be decided."""

_WS = re.compile(r"[ \t\n\r]*")


class TagFinder:
    """Finds the earliest occurrence of any of several literal tags (the longest wins a
    tie) and tells how much of the end of a text could still grow into one."""

    __slots__ = ("_firsts", "_longest", "_partial", "_regex", "_tags")

    def __init__(self, tags: Iterable[str]) -> None:
        self._tags = sorted({tag for tag in tags if tag}, key=len, reverse=True)
        self._regex = (
            re.compile("|".join(re.escape(tag) for tag in self._tags)) if self._tags else None
        )
        self._firsts = frozenset(tag[0] for tag in self._tags)
        self._longest = max((len(tag) for tag in self._tags), default=0)
        # A proper prefix of a tag at the very end of a text; the longest is tried first,
        # so the match starts as early as possible.
        prefixes = sorted({tag[:k] for tag in self._tags for k in range(1, len(tag))}, key=len)
        self._partial = (
            re.compile("(?:" + "|".join(re.escape(p) for p in reversed(prefixes)) + r")\Z")
            if prefixes
            else None
        )

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._tags)

    def find(self, text: str, pos: int) -> tuple[int, str] | None:
        """``(index, tag)`` of the first tag in ``text[pos:]``, or ``None``."""
        if self._regex is None:
            return None
        match = self._regex.search(text, pos)
        return (match.start(), match.group()) if match else None

    def holdback(self, text: str, pos: int) -> int:
        """The index from which ``text`` ends with a proper prefix of a tag (``len(text)``
        when it does not): the text from there must wait for more."""
        n = len(text)
        if self._partial is None:
            return n
        match = self._partial.search(text, max(pos, n - self._longest + 1))
        return match.start() if match is not None else n


def match_literal(text: str, pos: int, literal: str) -> int:
    """1 if ``text`` has ``literal`` at ``pos``, 0 if not, ``NEED_MORE`` if the text ends
    with a proper prefix of it there."""
    end = pos + len(literal)
    if end <= len(text):
        return 1 if text.startswith(literal, pos) else 0
    return NEED_MORE if literal.startswith(text[pos:]) else 0


def match_pieces(text: str, pos: int, pieces: tuple[str, ...], *, final: bool) -> int:
    """Match ``pieces`` at ``text[pos:]``, any whitespace (up to :data:`MAX_GAP`) between
    them. Returns the index just after the last piece, 0 when they do not match (no
    match ever ends at 0 because a piece is never empty), or ``NEED_MORE`` when the
    text ends before it is decided (never when ``final``)."""
    i = pos
    for number, piece in enumerate(pieces):
        if number:
            gap = _WS.match(text, i)
            j = gap.end() if gap else i
            if j - i > MAX_GAP:
                return 0
            if j == len(text):
                return 0 if final else NEED_MORE
            i = j
        found = match_literal(text, i, piece)
        if found == NEED_MORE:
            return 0 if final else NEED_MORE
        if found == 0:
            return 0
        i += len(piece)
    return i
