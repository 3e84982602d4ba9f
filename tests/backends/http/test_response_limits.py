"""Response limits and the deadline: the pure pieces, then the session against a scripted server.

The hostile-server matrix (bombs, endless bodies, drips, silences) is tests/faults/
test_http_client_faults.py; here each limit's edge is pinned down.
"""

from __future__ import annotations

import gzip
import random
import re
import time

import anyio
import pytest
from faultserver import Reply, ndjson

from llmkit import Client
from llmkit.backends.http import ResponseLimits, RetryPolicy, Timeouts
from llmkit.backends.http.limits import (
    ACCEPT_ENCODING,
    FrameGuard,
    check_content_encoding,
    stream_check,
)
from llmkit.backends.http.ollama import OllamaBackend
from llmkit.backends.http.openai import OpenAIBackend
from llmkit.errors import (
    HTTPStatusError,
    RemoteError,
    RemoteTimeoutError,
    ResponseTooLargeError,
    StreamInterruptedError,
)

FAST = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.02)
URL = "http://127.0.0.1:1/api/chat"

# -- FrameGuard ---------------------------------------------------------------------------


def longest_record(data: bytes, framing: str) -> int:
    """The reference: the longest record of the whole body, before its end mark.

    An SSE event ends at the last of overlapping blank lines (``\n\n\r\n`` holds two), as the
    decoder sees it after turning ``CRLF`` into ``LF``.
    """
    if framing == "ndjson":
        return max(len(line) for line in data.split(b"\n"))
    longest, previous_end = 0, 0
    for mark in re.finditer(rb"(?=(\n\r?\n))", data):
        longest = max(longest, mark.start() - previous_end)
        previous_end = max(previous_end, mark.start() + len(mark[1]))
    return max(longest, len(data) - previous_end)


def cut(data: bytes, rng: random.Random) -> list[bytes]:
    pieces, position = [], 0
    while position < len(data):
        size = rng.choice([1, 2, 3, rng.randint(1, 40), rng.randint(1, 400)])
        pieces.append(data[position : position + size])
        position += size
    return pieces


def guard_raises(framing: str, limit: int, pieces: list[bytes]) -> bool:
    guard = FrameGuard(framing, limit, URL)
    try:
        for piece in pieces:
            guard.feed(piece)
    except ResponseTooLargeError:
        return True
    return False


@pytest.mark.parametrize("framing", ["ndjson", "sse"])
def test_the_guard_agrees_with_the_whole_body_on_random_cuts(framing):
    rng = random.Random(7)
    alphabet = [b"a", b"b", b"\n", b"\r\n", b"\n\n", b"\r\n\r\n", b"data: x"]
    for _ in range(400):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        longest = longest_record(data, framing)
        pieces = cut(data, rng)
        for limit in {1, max(1, longest - 1), max(1, longest), longest + 1, 50}:
            # A record of the limit's size passes; one byte more does not.  The SSE guard may
            # count one or two bytes of overlapping blank lines into the next event.
            raised = guard_raises(framing, limit, pieces)
            if framing == "ndjson" or abs(longest - limit) > 2:
                assert raised == (longest > limit), (data, pieces, limit, longest)


def test_a_line_of_exactly_the_limit_passes_and_one_byte_more_does_not():
    guard = FrameGuard("ndjson", 10, URL)
    guard.feed(b"0123456789\n" * 3)  # one piece, three lines at the limit
    guard.feed(b"01234")
    guard.feed(b"56789\n0123456789")
    with pytest.raises(ResponseTooLargeError) as info:
        guard.feed(b"X")
    assert info.value.limit == 10 and info.value.option == "max_line_bytes"
    assert "max_line_bytes=10" in str(info.value) and info.value.url == URL


def test_one_big_piece_with_a_long_line_in_the_middle_is_caught():
    guard = FrameGuard("ndjson", 100, URL)
    with pytest.raises(ResponseTooLargeError):
        guard.feed(b"short\n" + b"x" * 101 + b"\nshort\n")


def test_sse_events_are_measured_between_blank_lines():
    guard = FrameGuard("sse", 20, URL)
    guard.feed(b"data: 0123456789\r\n\r\n" * 5)  # CRLF events, each under the limit
    guard.feed(b": ping\n: ping\n")  # comments without a blank line grow one event
    with pytest.raises(ResponseTooLargeError, match="server-sent event"):
        guard.feed(b": ping\n")


def test_stream_check_counts_the_whole_stream():
    check = stream_check(
        ResponseLimits(max_line_bytes=None, max_stream_bytes=100), URL, framing=None, counted=True
    )
    assert check is not None
    check(b"x" * 60)
    with pytest.raises(ResponseTooLargeError) as info:
        check(b"x" * 41)
    assert info.value.option == "max_stream_bytes"
    nothing = ResponseLimits(max_line_bytes=None, max_stream_bytes=None)
    assert stream_check(nothing, URL, framing="ndjson", counted=True) is None
    assert stream_check(ResponseLimits(), URL, framing=None, counted=False) is None


# -- encodings, limits and timeouts as values ---------------------------------------------


ACCEPTED = [None, "", "identity", "gzip", "GZIP", "deflate", "identity, gzip"]


@pytest.mark.parametrize("value", ACCEPTED)
def test_accepted_encodings(value):
    check_content_encoding(value, URL)


@pytest.mark.parametrize("value", ["br", "zstd", "gzip, gzip", "gzip, deflate", "x-gzip", "foo"])
def test_refused_encodings(value):
    with pytest.raises(RemoteError, match="Content-Encoding"):
        check_content_encoding(value, URL)


def test_limits_are_validated():
    assert ResponseLimits.of(None) == ResponseLimits()
    assert ResponseLimits().max_body_bytes == 64 << 20
    assert ResponseLimits().max_line_bytes == 16 << 20
    assert ResponseLimits().max_stream_bytes == 256 << 20
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="max_line_bytes"):
            ResponseLimits(max_line_bytes=bad)


def test_management_calls_get_the_shorter_read_timeout():
    assert Timeouts().read == 300 and Timeouts().management == 30
    assert Timeouts.of(5).management == 5
    session = OllamaBackend("127.0.0.1:1", timeout=Timeouts(read=2)).session
    assert session._timeout(None, management=True).read == 2  # never above ``read``
    assert session._timeout(None).read == 2
    session = OllamaBackend("127.0.0.1:1").session
    assert session._timeout(None, management=True).read == 30
    assert session._timeout(None).read == 300


def test_deadline_sets_the_total_timeout():
    assert OllamaBackend("127.0.0.1:1").session.timeouts.total is None
    backend = OpenAIBackend("127.0.0.1:1", deadline=90, timeout=Timeouts(total=5))
    assert backend.session.timeouts.total == 90
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="deadline"):
            OllamaBackend("127.0.0.1:1", deadline=bad)


def test_backend_strings_take_the_limits_and_the_deadline(anyio_backend):
    from llmkit import AsyncClient

    limits = ResponseLimits(max_body_bytes=10)
    for spec in ("ollama://127.0.0.1:1", "openai://127.0.0.1:1/v1"):
        with Client(spec, model="m", limits=limits, deadline=5) as client:
            session = client.backend.session
            assert session.limits is limits and session.timeouts.total == 5

    async def main() -> None:
        client = AsyncClient("ollama://127.0.0.1:1", limits=limits, deadline=7)
        assert client.backend.session.limits is limits
        assert client.backend.session.timeouts.total == 7
        await client.aclose()

    anyio.run(main, backend=anyio_backend)


# -- the session --------------------------------------------------------------------------


def chunk(text: str, done: bool = False) -> dict:
    out = {"model": "m", "created_at": "t", "message": {"role": "assistant", "content": text}}
    out["done"] = done
    if done:
        out.update(done_reason="stop", eval_count=1, prompt_eval_count=1)
    return out


def test_only_bounded_encodings_are_asked_for(fault_server):
    fault_server.script(Reply(body={"models": []}), Reply(body={"models": []}))
    OllamaBackend(fault_server.url, model="m").list_models()
    assert fault_server.received[0].headers["accept-encoding"] == ACCEPT_ENCODING
    custom = OllamaBackend(fault_server.url, headers={"accept-encoding": "identity"})
    custom.list_models()
    assert fault_server.received[1].headers["accept-encoding"] == "identity"


def test_a_gzipped_answer_within_the_limit_reads(fault_server):
    body = gzip.compress(b'{"models": [{"name": "a", "model": "a"}]}')
    fault_server.script(Reply(body=body, headers={"Content-Encoding": "gzip"}))
    assert OllamaBackend(fault_server.url).list_models().models[0].name == "a"


def test_a_body_over_the_limit_is_refused_by_its_declared_length(fault_server):
    fault_server.script(Reply(body={"models": [], "pad": "x" * 2000}))
    backend = OllamaBackend(fault_server.url, limits=ResponseLimits(max_body_bytes=1000))
    with pytest.raises(ResponseTooLargeError) as info:
        backend.list_models()
    assert info.value.option == "max_body_bytes" and info.value.limit == 1000


def test_a_decompressed_body_is_counted_after_decompression(fault_server):
    body = gzip.compress(b'{"models": [], "pad": "' + b"0" * 5000 + b'"}')
    assert len(body) < 1000
    fault_server.script(Reply(body=body, headers={"Content-Encoding": "gzip"}))
    backend = OllamaBackend(fault_server.url, limits=ResponseLimits(max_body_bytes=1000))
    with pytest.raises(ResponseTooLargeError, match="max_body_bytes=1000"):
        backend.list_models()


def test_no_limit_means_no_limit(fault_server):
    fault_server.script(Reply(body={"models": [], "pad": "x" * 5000}))
    nothing = ResponseLimits(max_body_bytes=None, max_line_bytes=None, max_stream_bytes=None)
    assert OllamaBackend(fault_server.url, limits=nothing).list_models().models == []


def test_a_long_line_keeps_the_output_before_it(fault_server):
    pieces = [*ndjson(chunk("ok")), *ndjson(chunk("y" * 3000)), *ndjson(chunk("", True))]
    fault_server.script(Reply(pieces=pieces))
    limits = ResponseLimits(max_line_bytes=1000)
    backend = OllamaBackend(fault_server.url, model="m", limits=limits)
    with pytest.raises(StreamInterruptedError) as info:
        Client(backend).chat([{"role": "user", "content": "hi"}], stream=True).final_response()
    assert info.value.partial is not None and info.value.partial.text == "ok"
    cause = info.value.__cause__
    assert isinstance(cause, ResponseTooLargeError) and cause.option == "max_line_bytes"


def test_progress_streams_are_not_counted_as_a_whole(fault_server):
    lines = [{"status": "pulling", "completed": n, "total": 100} for n in range(50)]
    fault_server.script(Reply(pieces=[*ndjson(*lines), *ndjson({"status": "success"})]))
    backend = OllamaBackend(fault_server.url, limits=ResponseLimits(max_stream_bytes=100))
    assert len(list(backend.pull("m"))) == 51


def test_an_error_body_is_read_only_in_part(fault_server):
    fault_server.script(Reply(status=400, body={"error": "bad " + "x" * 200_000}))
    with pytest.raises(HTTPStatusError) as info:
        OllamaBackend(fault_server.url).list_models()
    # The first 64 KiB are read: the JSON is cut, so the message is its first 500 characters.
    assert info.value.status_code == 400 and info.value.body.startswith('{"error": "bad xxx')
    assert len(info.value.body) == 500


def test_a_retry_pause_does_not_outlast_the_deadline(fault_server):
    fault_server.script(
        Reply(status=503, body={"error": "busy"}, headers={"Retry-After": "30"}),
        Reply(body={"models": []}),
    )
    retry = RetryPolicy(max_attempts=3, max_retry_after=60)
    backend = OllamaBackend(fault_server.url, retry=retry, deadline=0.5)
    started = time.monotonic()
    with pytest.raises(RemoteTimeoutError) as info:
        backend.list_models()
    assert info.value.phase == "total" and time.monotonic() - started < 2
