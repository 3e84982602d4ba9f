"""The HTTP backends against a hostile server: every misbehaviour ends quickly, typed and small.

Each mode of ``misbehaving_server.py`` (a real server on 127.0.0.1 that speaks HTTP/1.1 by hand)
meets the Ollama and the OpenAI-compatible backend, sync and async (asyncio and trio), through a
streamed chat and a whole-body call (``list_models``).  Each must end within seconds with an
llmkit error of the expected type (a cut-off stream as ``StreamInterruptedError`` holding the
partial answer); the bombs are also run in a child process under a 1.5 GiB address-space cap,
with the default limits, which must exit cleanly with the expected errors (no ``MemoryError``,
no crash).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from misbehaving_server import MODES, MisbehavingServer

from llmkit import AsyncClient, Client
from llmkit.backends.http import ResponseLimits, RetryPolicy, Timeouts
from llmkit.backends.http.ollama import AsyncOllamaBackend, OllamaBackend
from llmkit.backends.http.openai import AsyncOpenAIBackend, OpenAIBackend
from llmkit.errors import (
    ConnectionFailedError,
    HTTPStatusError,
    LLMKitError,
    RemoteError,
    RemoteTimeoutError,
    ResponseTooLargeError,
    StreamDecodeError,
    StreamInterruptedError,
)

pytestmark = pytest.mark.timeout(120)

HERE = Path(__file__).resolve().parent
FAST = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.02)
USER = [{"role": "user", "content": "hi"}]
MEMORY_CAP = 1536 << 20  # bytes of address space for the child process of the bomb tests


@dataclass(frozen=True)
class Expect:
    """What a call must raise: ``error`` is the root (the cause of a ``StreamInterruptedError``)."""

    error: type[Exception]
    option: str | None = None  # ResponseTooLargeError.option
    phase: str | None = None  # RemoteTimeoutError.phase
    status: int | None = None  # HTTPStatusError.status_code
    exact: bool = False  # the root's type is exactly ``error`` (not a subclass)
    match: str | None = None  # a text in the root's message
    partial: bool | None = False  # wrapped with output (True), not (False), either (None)
    within: float = 10.0  # seconds
    after: float = 0.0  # and not sooner (a deadline)


def _too_large(option: str, partial: bool = False) -> Expect:
    return Expect(ResponseTooLargeError, option=option, partial=partial)


BODY = _too_large("max_body_bytes")
TIMEOUT_READ = Expect(RemoteTimeoutError, phase="read", within=4.0)
DEADLINE = Expect(RemoteTimeoutError, phase="total", within=3.5, after=0.9)
NOT_JSON = Expect(RemoteError, exact=True, match="not JSON")

#: (mode, call) -> what the call raises; ``call`` is a streamed chat or a whole-body call.
EXPECT: dict[tuple[str, str], Expect] = {
    ("endless_body", "stream"): _too_large("max_line_bytes"),
    ("endless_body", "whole"): BODY,
    ("gzip_bomb", "stream"): _too_large("max_line_bytes"),
    ("gzip_bomb", "whole"): BODY,
    ("stacked_gzip", "stream"): Expect(RemoteError, exact=True, match="Content-Encoding"),
    ("stacked_gzip", "whole"): Expect(RemoteError, exact=True, match="Content-Encoding"),
    ("endless_error_body", "stream"): Expect(HTTPStatusError, status=500),
    ("endless_error_body", "whole"): Expect(HTTPStatusError, status=500),
    ("huge_line", "stream"): _too_large("max_line_bytes", partial=True),
    ("huge_line", "whole"): BODY,
    ("endless_stream", "stream"): _too_large("max_stream_bytes", partial=True),
    ("endless_stream", "whole"): BODY,
    ("silent_after_headers", "stream"): TIMEOUT_READ,
    ("silent_after_headers", "whole"): TIMEOUT_READ,
    ("stall_mid_stream", "stream"): Expect(RemoteTimeoutError, phase="read", partial=True),
    ("stall_mid_stream", "whole"): TIMEOUT_READ,
    ("silent_before_headers", "stream"): TIMEOUT_READ,
    ("silent_before_headers", "whole"): TIMEOUT_READ,
    ("slow_drip", "stream"): DEADLINE,
    ("slow_drip", "whole"): DEADLINE,
    ("drip_headers", "stream"): DEADLINE,
    ("drip_headers", "whole"): DEADLINE,
    ("truncated_chunked", "stream"): Expect(ConnectionFailedError, partial=True),
    ("truncated_chunked", "whole"): Expect(ConnectionFailedError),
    ("wrong_content_length", "stream"): Expect(ConnectionFailedError, partial=True),
    ("wrong_content_length", "whole"): Expect(ConnectionFailedError),
    ("invalid_utf8", "stream"): Expect(StreamDecodeError, partial=None),
    ("invalid_utf8", "whole"): NOT_JSON,
    ("invalid_json", "stream"): Expect(StreamDecodeError, partial=None),
    ("invalid_json", "whole"): NOT_JSON,
}
assert {mode for mode, _ in EXPECT} == set(MODES)

#: Backend arguments per mode (the rest take the defaults, limits included).
SHORT = Timeouts(connect=2, read=0.75, write=2)
SETTINGS: dict[str, dict[str, Any]] = {
    # The drip is one byte a second: a read timeout of 5 s never fires, the deadline does.
    "slow_drip": {"timeout": Timeouts(connect=2, read=5, write=2), "deadline": 1.0},
    "drip_headers": {"timeout": Timeouts(connect=2, read=5, write=2), "deadline": 1.0},
    # The default limit (256 MiB) takes seconds to reach; the child process test uses it.
    "endless_stream": {"limits": ResponseLimits(max_stream_bytes=1 << 20)},
}

#: A synchronous call cannot be cut while httpx reads the response head (see the docs):
#: a head that drips one byte a second is bounded by the per-read timeout only.
SYNC_UNBOUNDED = {"drip_headers"}


def backend(protocol: str, url: str, *, asynchronous: bool, **settings: Any) -> Any:
    kwargs: dict[str, Any] = {"model": "m", "retry": FAST, "timeout": SHORT, **settings}
    if protocol == "ollama":
        return (AsyncOllamaBackend if asynchronous else OllamaBackend)(url, **kwargs)
    return (AsyncOpenAIBackend if asynchronous else OpenAIBackend)(url + "/v1", **kwargs)


def root_of(error: BaseException, expect: Expect) -> BaseException:
    """The error's root, after checking how it is wrapped."""
    wrapped = isinstance(error, StreamInterruptedError) and error.__cause__ is not None
    if expect.partial is not None:
        assert wrapped == expect.partial, f"{error!r} (wrapped: {wrapped})"
    if not wrapped:
        return error
    assert isinstance(error, StreamInterruptedError) and error.partial is not None
    assert error.partial.text and "HelloHello".startswith(error.partial.text[:10])
    assert error.__cause__ is not None
    return error.__cause__


def check(error: BaseException, expect: Expect, seconds: float, url: str) -> None:
    assert isinstance(error, LLMKitError), repr(error)
    assert not isinstance(error, httpx.HTTPError)
    root = root_of(error, expect)
    assert isinstance(root, expect.error), f"{root!r} is not a {expect.error.__name__}"
    if expect.exact:
        assert type(root) is expect.error, repr(root)
    if expect.option is not None:
        assert isinstance(root, ResponseTooLargeError)
        assert root.option == expect.option and str(root.limit) in str(root)
        assert f"ResponseLimits.{expect.option}" in str(root)
    if expect.phase is not None:
        assert isinstance(root, RemoteTimeoutError) and root.phase == expect.phase, repr(root)
    if expect.status is not None:
        assert isinstance(root, HTTPStatusError) and root.status_code == expect.status
    if expect.match is not None:
        assert expect.match in str(root), str(root)
    if isinstance(root, RemoteError):
        assert root.url is not None and root.url.startswith(url), root.url
    assert expect.after <= seconds < expect.within, f"answered in {seconds:.2f} s"


@pytest.fixture(scope="module")
def server():
    with MisbehavingServer() as served:
        yield served


CASES = [
    pytest.param(mode, protocol, call, id=f"{mode}-{protocol}-{call}")
    for mode in MODES
    for protocol in ("ollama", "openai")
    for call in ("stream", "whole")
]


def call_sync(made: Any, call: str) -> None:
    if call == "whole":
        made.list_models()
        return
    with Client(made).chat(USER, stream=True) as stream:
        for _ in stream:
            pass


async def call_async(made: Any, call: str) -> None:
    if call == "whole":
        await made.list_models()
        return
    async with await AsyncClient(made).chat(USER, stream=True) as stream:
        async for _ in stream:
            pass


# A sync call is not cut while httpx reads the response head: headers dripped a byte at a
# time hold it past the deadline (docs/security.md says so); the async cases cover them.
SYNC_CASES = [case for case in CASES if case.values[0] not in SYNC_UNBOUNDED]


@pytest.mark.parametrize(("mode", "protocol", "call"), SYNC_CASES)
def test_sync(server, mode, protocol, call):
    server.mode = mode
    made = backend(protocol, server.url, asynchronous=False, **SETTINGS.get(mode, {}))
    started = time.monotonic()
    try:
        with pytest.raises(LLMKitError) as info:
            call_sync(made, call)
    finally:
        made.close()
    check(info.value, EXPECT[mode, call], time.monotonic() - started, server.url)


@pytest.mark.parametrize(("mode", "protocol", "call"), CASES)
def test_async(server, mode, protocol, call, anyio_backend):
    server.mode = mode
    outcome: dict[str, Any] = {}

    async def main() -> None:
        made = backend(protocol, server.url, asynchronous=True, **SETTINGS.get(mode, {}))
        started = time.monotonic()
        try:
            await call_async(made, call)
        except LLMKitError as exc:
            outcome["error"] = exc
        finally:
            outcome["seconds"] = time.monotonic() - started
            await made.aclose()

    anyio.run(main, backend=anyio_backend)
    assert "error" in outcome, "the call succeeded"
    check(outcome["error"], EXPECT[mode, call], outcome["seconds"], server.url)


def test_the_deadline_ends_a_silent_server_before_the_read_timeout(server):
    server.mode = "silent_after_headers"
    timeout = Timeouts(connect=2, read=30, write=2)
    for protocol in ("ollama", "openai"):
        made = backend(protocol, server.url, asynchronous=False, timeout=timeout, deadline=1.0)
        for call in ("stream", "whole"):
            started = time.monotonic()
            with pytest.raises(RemoteTimeoutError) as info:
                call_sync(made, call)
            assert info.value.phase == "total"
            assert 0.9 <= time.monotonic() - started < 3
        made.close()


@pytest.mark.parametrize("protocol", ["ollama", "openai"])
def test_the_deadline_spans_resumed_streams(server, protocol):
    """Resuming after each stall would go on for minutes: the deadline covers all the resumes."""
    server.mode = "stall_mid_stream"
    server.requests.clear()
    made = backend(
        protocol,
        server.url,
        asynchronous=False,
        timeout=Timeouts(connect=2, read=0.3, write=2),
        deadline=1.5,
        resume_interrupted=100,
        **({"dialect": "llama.cpp"} if protocol == "openai" else {}),
    )
    started = time.monotonic()
    with pytest.raises(StreamInterruptedError) as info:
        call_sync(made, "stream")
    made.close()
    root = info.value.__cause__
    assert isinstance(root, RemoteTimeoutError) and root.phase == "total", repr(root)
    assert 1.4 <= time.monotonic() - started < 3
    assert 2 <= len(server.requests) < 10  # resumed, then stopped by the deadline


def test_a_valid_answer_still_reads(server):
    server.mode = "ok"
    for protocol in ("ollama", "openai"):
        made = backend(protocol, server.url, asynchronous=False)
        with Client(made).chat(USER, stream=True) as stream:
            assert stream.final_response().text == "Hello"
        assert made.list_models().models == []
        made.close()


# -- the bombs, with the default limits, under a memory cap -------------------------------

CHILD = r"""
import json, resource, sys, time
cap = int(sys.argv[4])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

import anyio
from llmkit import AsyncClient, Client
from llmkit.backends.http import RetryPolicy
from llmkit.backends.http.ollama import AsyncOllamaBackend, OllamaBackend
from llmkit.backends.http.openai import AsyncOpenAIBackend, OpenAIBackend

url, flavors, calls = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
USER = [{"role": "user", "content": "hi"}]


def peak_mb():
    # This process's own peak: ru_maxrss would carry the forking parent's over exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


RETRY = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.02)


def make(protocol, asynchronous):
    if protocol == "ollama":
        kind = AsyncOllamaBackend if asynchronous else OllamaBackend
        return kind(url, model="m", retry=RETRY)
    kind = AsyncOpenAIBackend if asynchronous else OpenAIBackend
    return kind(url + "/v1", model="m", retry=RETRY)


def sync_case(protocol, call):
    backend = make(protocol, False)
    try:
        if call == "whole":
            backend.list_models()
        else:
            for _ in Client(backend).chat(USER, stream=True):
                pass
    finally:
        backend.close()


async def async_case(protocol, call):
    backend = make(protocol, True)
    try:
        if call == "whole":
            await backend.list_models()
        else:
            async for _ in await AsyncClient(backend).chat(USER, stream=True):
                pass
    finally:
        await backend.aclose()


for protocol in ("ollama", "openai"):
    for flavor in flavors:
        for call in calls:
            started = time.monotonic()
            try:
                if flavor == "sync":
                    sync_case(protocol, call)
                else:
                    anyio.run(async_case, protocol, call, backend=flavor)
                error = None
            except BaseException as exc:  # reported, judged by the parent
                error = exc
            cause = error.__cause__ if error is not None else None
            print(json.dumps({
                "protocol": protocol, "flavor": flavor, "call": call,
                "error": type(error).__name__ if error is not None else None,
                "cause": type(cause).__name__ if cause is not None else None,
                "option": getattr(error, "option", getattr(cause, "option", None)),
                "seconds": round(time.monotonic() - started, 2),
                "peak_mb": peak_mb(),
            }), flush=True)
"""


def run_child(url: str, flavors: str, calls: str, timeout: float) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    process = subprocess.run(
        [sys.executable, "-c", CHILD, url, flavors, calls, str(MEMORY_CAP)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert process.returncode == 0, (
        f"the child exited with {process.returncode} (negative: killed by a signal)\n"
        f"{process.stdout[-3000:]}\n{process.stderr[-3000:]}"
    )
    return [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]


def check_child(results: list[dict[str, Any]], mode: str, expected_count: int) -> None:
    assert len(results) == expected_count, results
    for result in results:
        expect = EXPECT[mode, result["call"]]
        name = expect.error.__name__
        if expect.partial:
            assert (result["error"], result["cause"]) == ("StreamInterruptedError", name), result
        else:
            assert result["error"] == name, result
        if expect.option is not None:
            assert result["option"] == expect.option, result
        assert result["seconds"] < 20, result
        assert result["peak_mb"] < 600, result


BOMBS = ["gzip_bomb", "stacked_gzip", "endless_body", "huge_line", "endless_error_body"]


@pytest.mark.parametrize("mode", BOMBS)
def test_bombs_under_a_memory_cap_with_the_default_limits(server, mode):
    server.mode = mode
    results = run_child(server.url, "sync,asyncio,trio", "stream,whole", timeout=100)
    check_child(results, mode, expected_count=12)


def test_an_endless_stream_under_a_memory_cap_with_the_default_limits(server):
    """256 MiB of valid tokens (the default ``max_stream_bytes``), then a clean error."""
    server.mode = "endless_stream"
    results = run_child(server.url, "sync", "stream,whole", timeout=100)
    check_child(results, "endless_stream", expected_count=4)
