import itertools

from hypothesis import given
from hypothesis import strategies as st

from llmkit.streaming.text import StopScanner, Utf8Pieces


def run(chunks, stops):
    scanner = StopScanner(stops)
    out = []
    for chunk in chunks:
        text, stopped = scanner.feed(chunk)
        out.append(text)
        if stopped:
            return "".join(out), True
    out.append(scanner.flush())
    return "".join(out), False


def reference(text, stops):
    hits = [text.find(s) for s in stops if s and s in text]
    return (text[: min(hits)], True) if hits else (text, False)


def test_stop_is_cut_and_not_shown():
    assert run(["Hello wor", "ld. user:", " more"], ["user:"]) == ("Hello world. ", True)


def test_text_that_only_looked_like_a_stop_is_released():
    scanner = StopScanner(["user:"])
    assert scanner.feed("a us") == ("a ", False)
    assert scanner.feed("e") == ("", False)
    assert scanner.feed("d") == ("used", False)


def test_earliest_stop_wins():
    assert run(["xx BB yy AA"], ["AA", "BB"]) == ("xx ", True)


@given(
    text=st.text(alphabet="ab\n:u", max_size=40),
    stops=st.lists(st.text(alphabet="ab\n:u", min_size=1, max_size=4), max_size=3),
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=8),
)
def test_any_chunking_gives_the_same_result(text, stops, cuts):
    points = sorted({c for c in cuts if c <= len(text)} | {0, len(text)})
    chunks = [text[a:b] for a, b in itertools.pairwise(points)]
    assert run(chunks, stops) == reference(text, stops)


def test_utf8_split_across_tokens_waits_for_the_rest():
    data = "né😀".encode()
    pieces = Utf8Pieces()
    out = [pieces.feed(data[i : i + 1]) for i in range(len(data))]
    assert "".join(out) + pieces.flush() == "né😀"
    assert all(piece in ("", "n", "é", "😀") for piece in out)
