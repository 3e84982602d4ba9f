"""Each wire fault ends as documented: retried, or a typed error with the partial output.

Against a scripted server (tests/backends/http/faultserver.py), through the
real clients, sync and async, for both protocols.  Never a hang (every test
has a short timeout) and never a raw httpx exception.
"""

from __future__ import annotations

import time

import anyio
import httpx
import pytest
from faultserver import Reply, free_port, ndjson, sse

from llmkit import AsyncClient, Client
from llmkit.backends.http import RetryPolicy, Timeouts
from llmkit.backends.http.ollama import AsyncOllamaBackend, OllamaBackend
from llmkit.backends.http.openai import OpenAIBackend
from llmkit.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionFailedError,
    HTTPStatusError,
    RateLimitError,
    RemoteGenerationError,
    RemoteModelNotFoundError,
    RemoteTimeoutError,
    StreamDecodeError,
    StreamInterruptedError,
)

pytestmark = pytest.mark.timeout(30)

FAST = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)


def chunk(text: str, done: bool = False, **extra) -> dict:
    out = {"model": "m", "created_at": "t", "message": {"role": "assistant", "content": text}}
    out["done"] = done
    if done:
        out.update(done_reason="stop", eval_count=3, prompt_eval_count=5, **extra)
    return out


def ollama_stream(*texts: str) -> list[bytes]:
    return ndjson(*(chunk(t) for t in texts), chunk("", done=True))


def oa_chunk(text: str | None = None, finish: str | None = None, **delta) -> dict:
    if text is not None:
        delta["content"] = text
    return {"model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def openai_stream(*texts: str) -> list[bytes]:
    return sse(*(oa_chunk(t) for t in texts), oa_chunk(finish="stop"), "[DONE]")


def ollama(server, **kwargs) -> OllamaBackend:
    return OllamaBackend(server.url, model="m", retry=kwargs.pop("retry", FAST), **kwargs)


def openai(server, **kwargs) -> OpenAIBackend:
    return OpenAIBackend(server.url + "/v1", model="m", retry=kwargs.pop("retry", FAST), **kwargs)


# -- connection refused ------------------------------------------------------


@pytest.mark.parametrize("make", [OllamaBackend, OpenAIBackend])
def test_connection_refused_is_retried_then_typed(make):
    url = f"127.0.0.1:{free_port()}"
    client = Client(make(url, model="m", retry=FAST))
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError) as info:
        client.chat([{"role": "user", "content": "hi"}])
    assert info.value.url is not None and url in info.value.url
    assert not isinstance(info.value, httpx.HTTPError)
    assert time.monotonic() - started < 5


def test_connection_refused_async(anyio_backend):
    async def main():
        client = AsyncClient(AsyncOllamaBackend(f"127.0.0.1:{free_port()}", model="m", retry=FAST))
        with pytest.raises(ConnectionFailedError):
            await client.chat([{"role": "user", "content": "hi"}])

    anyio.run(main, backend=anyio_backend)


# -- 429 with Retry-After, 503 then success ----------------------------------


def test_429_retry_after_is_honoured(fault_server):
    fault_server.script(
        Reply(status=429, body={"error": "slow down"}, headers={"Retry-After": "1"}),
        Reply(pieces=ollama_stream("Hello", " there")),
    )
    started = time.monotonic()
    reply = Client(ollama(fault_server)).chat([{"role": "user", "content": "hi"}])
    waited = time.monotonic() - started
    assert reply.text == "Hello there"
    assert len(fault_server.received) == 2
    assert 0.9 <= waited < 5  # the server asked for one second; backoff alone is ~0.02 s


def test_retry_after_longer_than_the_cap_is_not_waited_for(fault_server):
    fault_server.script(
        Reply(status=429, body={"error": "come back later"}, headers={"Retry-After": "3600"})
    )
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        Client(ollama(fault_server)).chat([{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 2
    assert info.value.retry_after == 3600
    assert info.value.body == "come back later"
    assert len(fault_server.received) == 1


def test_429_every_time_ends_in_rate_limit_error(fault_server):
    fault_server.default = Reply(status=429, body={"error": {"message": "quota"}})
    with pytest.raises(RateLimitError, match="quota"):
        Client(openai(fault_server)).chat([{"role": "user", "content": "hi"}])
    assert len(fault_server.received) == FAST.max_attempts


@pytest.mark.parametrize("protocol", ["ollama", "openai"])
def test_503_then_success(fault_server, protocol):
    good = ollama_stream("ok") if protocol == "ollama" else openai_stream("ok")
    fault_server.script(
        Reply(status=503, body="upstream busy", content_type="text/plain"),
        Reply(status=502, body="bad gateway", content_type="text/plain"),
        Reply(pieces=good, content_type="text/event-stream"),
    )
    backend = ollama(fault_server) if protocol == "ollama" else openai(fault_server)
    with Client(backend).chat([{"role": "user", "content": "hi"}], stream=True) as stream:
        assert stream.final_response().text == "ok"
    assert len(fault_server.received) == 3


def test_no_retries_when_the_policy_says_so(fault_server):
    fault_server.script(Reply(status=503, body="busy"), Reply(pieces=ollama_stream("ok")))
    with pytest.raises(HTTPStatusError) as info:
        Client(ollama(fault_server, retry=RetryPolicy.none())).chat(
            [{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 503
    assert len(fault_server.received) == 1


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"error": "invalid options"}, BadRequestError),
        (
            401,
            {"error": {"message": "bad key", "type": "invalid_request_error"}},
            AuthenticationError,
        ),
        (404, {"error": "model 'nope' not found"}, RemoteModelNotFoundError),
    ],
)
def test_error_statuses_are_typed_and_not_retried(fault_server, status, body, error):
    fault_server.default = Reply(status=status, body=body)
    with pytest.raises(error) as info:
        Client(ollama(fault_server)).chat([{"role": "user", "content": "hi"}])
    assert info.value.status_code == status
    assert len(fault_server.received) == 1


# -- a stream cut mid-way ----------------------------------------------------


@pytest.mark.parametrize("protocol", ["ollama", "openai"])
def test_stream_cut_midway_raises_with_partial(fault_server, protocol):
    pieces = (
        ollama_stream("one", " two", " three")
        if protocol == "ollama"
        else openai_stream("one", " two", " three")
    )
    fault_server.script(Reply(pieces=pieces, cut_after=2, content_type="text/event-stream"))
    backend = ollama(fault_server) if protocol == "ollama" else openai(fault_server)
    with pytest.raises(StreamInterruptedError) as info:
        Client(backend).chat([{"role": "user", "content": "hi"}], stream=True).final_response()
    assert info.value.partial is not None
    assert info.value.partial.text == "one two"
    assert isinstance(info.value.__cause__, ConnectionFailedError)
    assert len(fault_server.received) == 1  # never retried after the first byte


def test_stream_cut_midway_async(fault_server, anyio_backend):
    fault_server.script(Reply(pieces=ollama_stream("a", "b", "c"), cut_after=1))

    async def main():
        client = AsyncClient(AsyncOllamaBackend(fault_server.url, model="m", retry=FAST))
        stream = await client.chat([{"role": "user", "content": "hi"}], stream=True)
        seen = []
        with pytest.raises(StreamInterruptedError) as info:
            async for event in stream:
                seen.append(event)
        assert info.value.partial.text == "a"
        await client.aclose()

    anyio.run(main, backend=anyio_backend)


def test_cut_stream_resumes_from_an_assistant_prefill(fault_server):
    fault_server.script(
        Reply(pieces=ollama_stream("The sky", " is", " blue"), cut_after=2),
        Reply(pieces=ollama_stream(" blue", " because of scattering.")),
    )
    backend = ollama(fault_server, resume_interrupted=1)
    reply = Client(backend).chat([{"role": "user", "content": "Why is the sky blue?"}])
    assert reply.text == "The sky is blue because of scattering."
    first, second = fault_server.received
    assert first.body["messages"] == [{"role": "user", "content": "Why is the sky blue?"}]
    assert second.body["messages"][-1] == {"role": "assistant", "content": "The sky is"}
    assert second.body["messages"][:-1] == first.body["messages"]


def test_resume_is_bounded(fault_server):
    fault_server.script(
        Reply(pieces=ollama_stream("a", "b", "c"), cut_after=1),
        Reply(pieces=ollama_stream("b", "c"), cut_after=1),
    )
    with pytest.raises(StreamInterruptedError) as info:
        Client(ollama(fault_server, resume_interrupted=1)).chat([{"role": "user", "content": "x"}])
    assert info.value.partial.text == "ab"
    assert len(fault_server.received) == 2


def test_openai_completion_resumes_by_extending_the_prompt(fault_server):
    fault_server.script(
        Reply(
            pieces=sse(
                {"choices": [{"index": 0, "text": "1, 2,"}]},
                {"choices": [{"index": 0, "text": " 3"}]},
            ),
            cut_after=1,
        ),
        Reply(
            pieces=sse({"choices": [{"index": 0, "text": " 3", "finish_reason": "stop"}]}, "[DONE]")
        ),
    )
    with Client(openai(fault_server, resume_interrupted=2)).generate(
        "Count: ", stream=True
    ) as stream:
        assert stream.final_response().text == "1, 2, 3"
    assert fault_server.received[1].body["prompt"] == "Count: 1, 2,"


# -- garbage, error lines, ended early ---------------------------------------


def test_garbage_bytes_in_an_ndjson_stream(fault_server):
    fault_server.script(
        Reply(pieces=[*ndjson(chunk("fine")), b"\x00\xffnot json\n", *ndjson(chunk("", done=True))])
    )
    with pytest.raises(StreamInterruptedError) as info:
        Client(ollama(fault_server)).chat(
            [{"role": "user", "content": "hi"}], stream=True
        ).final_response()
    assert info.value.partial.text == "fine"
    cause = info.value.__cause__
    assert isinstance(cause, StreamDecodeError)
    assert cause.line == 2


def test_garbage_before_any_output_is_a_decode_error(fault_server):
    fault_server.script(Reply(pieces=[b"<html>proxy error</html>\n"]))
    with pytest.raises(StreamDecodeError, match="stream line 1"):
        Client(ollama(fault_server)).chat([{"role": "user", "content": "hi"}])


def test_garbage_in_an_sse_stream(fault_server):
    fault_server.script(
        Reply(pieces=[*sse(oa_chunk("x")), b"data: {broken\n\n"], content_type="text/event-stream")
    )
    with pytest.raises(StreamInterruptedError) as info:
        Client(openai(fault_server)).chat(
            [{"role": "user", "content": "hi"}], stream=True
        ).final_response()
    assert info.value.partial.text == "x"
    assert isinstance(info.value.__cause__, StreamDecodeError)


@pytest.mark.parametrize("protocol", ["ollama", "openai"])
def test_error_line_mid_stream(fault_server, protocol):
    if protocol == "ollama":
        pieces = [*ndjson(chunk("half")), *ndjson({"error": "out of memory"})]
        backend = ollama(fault_server)
    else:
        pieces = [*sse(oa_chunk("half")), *sse({"error": {"message": "out of memory"}})]
        backend = openai(fault_server)
    fault_server.script(Reply(pieces=pieces, content_type="text/event-stream"))
    with pytest.raises(StreamInterruptedError) as info:
        Client(backend).chat([{"role": "user", "content": "hi"}], stream=True).final_response()
    assert info.value.partial.text == "half"
    assert isinstance(info.value.__cause__, RemoteGenerationError)
    assert "out of memory" in str(info.value.__cause__)


def test_error_line_before_output(fault_server):
    fault_server.script(Reply(pieces=ndjson({"error": "model failed to load"})))
    with pytest.raises(RemoteGenerationError, match="model failed to load"):
        Client(ollama(fault_server)).chat([{"role": "user", "content": "hi"}])


def test_stream_ending_without_final_chunk(fault_server):
    fault_server.script(Reply(pieces=ndjson(chunk("partial"))))
    with pytest.raises(StreamInterruptedError) as info:
        Client(ollama(fault_server)).chat(
            [{"role": "user", "content": "hi"}], stream=True
        ).final_response()
    assert info.value.partial.text == "partial"


# -- stalls and timeouts -----------------------------------------------------


def test_server_stalling_past_the_read_timeout(fault_server):
    fault_server.script(Reply(pieces=ollama_stream("a", "b"), delay=3.0))
    backend = ollama(fault_server, timeout=Timeouts(connect=2, read=0.5))
    started = time.monotonic()
    with pytest.raises(RemoteTimeoutError) as info:
        Client(backend).chat([{"role": "user", "content": "hi"}])
    assert info.value.phase == "read"
    assert time.monotonic() - started < 2.5


def test_stall_mid_stream_keeps_the_partial(fault_server):
    pieces = [*ndjson(chunk("early")), *ollama_stream("late")]
    fault_server.script(Reply(pieces=pieces, pause_after=1, pause=3.0))
    backend = ollama(fault_server, timeout=Timeouts(connect=2, read=0.5))
    started = time.monotonic()
    with pytest.raises(StreamInterruptedError) as info:
        Client(backend).chat([{"role": "user", "content": "hi"}], stream=True).final_response()
    assert info.value.partial.text == "early"
    assert isinstance(info.value.__cause__, RemoteTimeoutError)
    assert time.monotonic() - started < 2.5
    assert len(fault_server.received) == 1


def test_whole_request_timeout(fault_server):
    fault_server.script(Reply(pieces=ollama_stream(*["x"] * 20), delay=0.1))
    backend = ollama(fault_server, timeout=Timeouts(connect=2, read=5, total=0.5))
    started = time.monotonic()
    with pytest.raises(StreamInterruptedError) as info:
        Client(backend).chat([{"role": "user", "content": "hi"}], stream=True).final_response()
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTimeoutError) and cause.phase == "total"
    assert 0.4 < time.monotonic() - started < 2


def test_read_timeout_async_and_cancellation(fault_server, anyio_backend):
    fault_server.script(Reply(pieces=ollama_stream("a", "b"), delay=3.0))

    async def main():
        backend = AsyncOllamaBackend(
            fault_server.url, model="m", retry=FAST, timeout=Timeouts(read=0.5)
        )
        with pytest.raises(RemoteTimeoutError):
            await AsyncClient(backend).chat([{"role": "user", "content": "hi"}])
        # Cancellation closes the connection promptly.
        fault_server.script(Reply(pieces=ollama_stream("a", "b"), delay=3.0))
        backend2 = AsyncOllamaBackend(fault_server.url, model="m", retry=FAST)
        started = time.monotonic()
        with anyio.move_on_after(0.3):
            await AsyncClient(backend2).chat([{"role": "user", "content": "hi"}])
        assert time.monotonic() - started < 1.5
        await backend.aclose()
        await backend2.aclose()

    anyio.run(main, backend=anyio_backend)


@pytest.mark.parametrize("protocol", ["ollama", "openai"])
def test_custom_headers_and_the_key_reach_the_server(fault_server, protocol):
    good = ollama_stream("ok") if protocol == "ollama" else openai_stream("ok")
    fault_server.script(Reply(pieces=good, content_type="text/event-stream"))
    extra = {"X-Team": "search", "X-Request-Source": "tests"}
    make = ollama if protocol == "ollama" else openai
    client = Client(make(fault_server, api_key="k-123", headers=extra))
    with client, client.chat([{"role": "user", "content": "hi"}], stream=True) as stream:
        assert stream.final_response().text == "ok"
    (received,) = fault_server.received
    assert received.headers["x-team"] == "search"
    assert received.headers["x-request-source"] == "tests"
    assert received.headers["authorization"] == "Bearer k-123"
    assert received.headers["user-agent"].startswith("llmkit/")
