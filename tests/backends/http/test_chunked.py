"""The chunked-body decoder agrees with h11 on every body, cut anywhere, valid or not."""

from __future__ import annotations

from itertools import pairwise

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmkit.backends.http.chunked import ChunkedDecodeError, ChunkedDecoder

HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def by_h11(body: bytes, cuts: list[int]) -> tuple[bytes, bool]:
    """h11's reading of a chunked body: (data, whether the message ended); raises on bad input."""
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(HEAD)
    assert type(connection.next_event()) is h11.Response
    data = b""
    for piece in pieces(body, cuts):
        connection.receive_data(piece)
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                break
            if type(event) is h11.EndOfMessage:
                return data, True
            data += bytes(event.data)
    return data, False


def by_decoder(body: bytes, cuts: list[int]) -> tuple[bytes, bool, ChunkedDecoder]:
    decoder = ChunkedDecoder()
    data = b""
    for piece in pieces(body, cuts):
        data += b"".join(decoder.feed(piece))
    return data, decoder.done, decoder


def pieces(body: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *sorted({c for c in cuts if 0 < c < len(body)}), len(body)]
    return [body[a:b] for a, b in pairwise(edges)]


chunk_data = st.binary(min_size=1, max_size=40)
extension = st.sampled_from([b"", b";name=value", b"; x", b";"])
spaces = st.sampled_from([b"", b" ", b"\t "])
hex_case = st.sampled_from([str.lower, str.upper])
trailers = st.sampled_from([b"\r\n", b"\n", b"Expires: never\r\n\r\n", b"A: 1\r\nB: 2\r\n\r\n"])


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    out = b""
    for data in draw(st.lists(chunk_data, max_size=6)):
        size = draw(hex_case)(f"{len(data):x}").encode()
        out += size + draw(extension) + draw(spaces) + b"\r\n" + data + b"\r\n"
    return out + b"0" * draw(st.integers(1, 3)) + draw(extension) + b"\r\n" + draw(trailers)


@settings(max_examples=300)
@given(chunked_bodies(), st.lists(st.integers(0, 400), max_size=8), st.binary(max_size=5))
def test_valid_bodies_match_h11(body: bytes, cuts: list[int], after: bytes) -> None:
    expected, ended = by_h11(body, cuts)
    data, done, decoder = by_decoder(body + after, cuts)
    assert ended and done
    assert data == expected
    assert decoder.tail + decoder.rest == body[len(body) - len(decoder.tail) :] + after
    assert decoder.tail.lstrip(b"0").startswith((b";", b"\r\n", b" ", b"\t"))


@settings(max_examples=300)
@given(chunked_bodies(), st.integers(0, 400), st.binary(min_size=1, max_size=3))
def test_damaged_bodies_fail_or_succeed_as_in_h11(body: bytes, where: int, junk: bytes) -> None:
    where %= len(body) + 1
    damaged = body[:where] + junk + body[where:]
    try:
        expected = by_h11(damaged, [])
    except h11.RemoteProtocolError:
        expected = None
    try:
        data, done, _ = by_decoder(damaged, [])
        got = (data, done)
    except ChunkedDecodeError:
        got = None
    if expected is None:
        # h11 refused it: so does the decoder, unless h11 only refused the trailer
        # section, which the decoder hands to h11 unread.
        assert got is None or got[1]
    else:
        assert got == expected


def test_boundaries_are_reported() -> None:
    decoder = ChunkedDecoder()
    assert decoder.between_chunks
    assert decoder.feed(b"5\r\nhel") == [b"hel"]
    assert not decoder.between_chunks
    assert decoder.feed(b"lo\r") == [b"lo"]
    assert not decoder.between_chunks
    assert decoder.feed(b"\n") == []
    assert decoder.between_chunks
    assert decoder.feed(b"0\r\n") == []
    assert not decoder.between_chunks and not decoder.done
    assert decoder.feed(b"\r\nnext") == []
    assert decoder.done and decoder.tail == b"0\r\n\r\n" and decoder.rest == b"next"


@pytest.mark.parametrize(
    "body",
    [b"x\r\n", b"-1\r\n", b"0x5\r\n", b"5\r\nhelloXY", b" 5\r\nhello\r\n", b"1" * 21 + b"\r\n"],
)
def test_bad_framing_is_refused(body: bytes) -> None:
    with pytest.raises(ChunkedDecodeError):
        ChunkedDecoder().feed(body)
    with pytest.raises(h11.RemoteProtocolError):
        by_h11(body, [])


# -- the handover between h11 and the decoder (llmkit.backends.http.body) -----


def handover_read(
    head_and_body: bytes, cuts: list[int], after: bytes
) -> tuple[bytes, h11.Connection]:
    """Read a response as the direct body reader does, from reads cut at ``cuts``."""
    import httpx

    from llmkit.backends.http import body

    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    connection.send(h11.EndOfMessage())
    reads = iter(pieces(head_and_body + after, cuts))
    while True:  # the response head, as httpcore reads it (what comes with it stays buffered)
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(next(reads, b""))
            continue
        assert type(event) is h11.Response
        break
    response = httpx.Response(
        200,
        headers=[(k.decode(), v.decode()) for k, v in event.headers],
        request=httpx.Request("GET", "http://x/"),
    )
    data = b"".join(body._pieces(response, connection, lambda: next(reads, b"")))
    return data, connection


@settings(max_examples=300)
@given(chunked_bodies(), st.lists(st.integers(0, 500), max_size=10), st.binary(max_size=4))
def test_handover_gives_h11_an_exact_end(body: bytes, cuts: list[int], after: bytes) -> None:
    expected, _ = by_h11(body, [])
    data, connection = handover_read(HEAD + body, cuts, after)
    assert data == expected
    assert connection.their_state is h11.DONE
    # What followed the body is still h11's, as if it had read everything itself.
    assert after.startswith(connection.trailing_data[0])


def test_handover_mid_chunk_and_mid_crlf() -> None:
    body = b"5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"
    for cut in range(len(HEAD), len(HEAD) + len(body)):
        data, connection = handover_read(HEAD + body, [cut], b"")
        assert data == b"helloabc", cut
        assert connection.their_state is h11.DONE


def test_sized_body_stays_with_h11() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    data, connection = handover_read(head + b"hello", [len(head) + 2], b"")
    assert data == b"hello"
    assert connection.their_state is h11.DONE
