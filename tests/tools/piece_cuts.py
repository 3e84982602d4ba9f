"""How the parser and scanner tests cut an output into pieces (hypothesis strategies).

Empty pieces belong in every chunking: a backend may hand the parser an empty piece (a
token that decodes to nothing, a UTF-8 character not yet whole), and an empty piece must
change nothing. The place where one is most likely to matter is right after a
backslash, where a scanner holds a pending escape, so a cutting may also cut after every
backslash and put an empty piece there.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hypothesis import strategies as st

__all__ = ["after_backslashes", "empty_after_escapes", "pieces_of"]


def after_backslashes(text: str) -> list[int]:
    """The offsets just after each backslash of ``text``."""
    return [i + 1 for i, char in enumerate(text) if char == "\\"]


def empty_after_escapes(pieces: Sequence[str]) -> list[str]:
    """``pieces`` with an empty piece after each piece that ends with a backslash."""
    out: list[str] = []
    for piece in pieces:
        out.append(piece)
        if piece.endswith("\\"):
            out.append("")
    return out


@st.composite
def pieces_of(draw: st.DrawFn, text: str, *, max_cuts: int = 12) -> list[str]:
    """``text`` cut at random offsets, with empty pieces: a few anywhere (first and last
    included), and, in about half the examples, a cut and an empty piece just after
    every backslash."""
    cuts = draw(st.lists(st.integers(0, max(len(text), 1)), max_size=max_cuts))
    at_escapes = draw(st.booleans())
    if at_escapes:
        cuts += after_backslashes(text)
    points = sorted({0, len(text), *(c for c in cuts if 0 < c < len(text))})
    pieces = [text[a:b] for a, b in itertools.pairwise(points)]
    if at_escapes:
        pieces = empty_after_escapes(pieces)
    for at in sorted(draw(st.lists(st.integers(0, len(pieces)), max_size=3)), reverse=True):
        pieces.insert(at, "")
    return pieces
