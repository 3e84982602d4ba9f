"""Soak ``llmkit serve`` on the real model under mixed traffic, and check it stays healthy.

Starts ``llmkit serve --model smollm2`` on 127.0.0.1 (a free port) and, for ``--seconds``
(default 600), keeps up at once:

- ``--streams`` chat streams (Ollama and OpenAI in turn), each read to its end;
- streams cancelled mid-way (the client reads a few chunks and closes the connection);
- bad requests of every kind the fault suite sends (malformed and deeply nested JSON,
  invalid UTF-8, lone surrogates, out-of-range numbers, an oversized body, a Slowloris
  connection), which must all be answered 4xx (or closed, for the slow one);
- embeddings (``/api/embed`` and ``/v1/embeddings``);
- ``GET /api/tags`` every 50 ms, timed.

Then it prints the number of 5xx answers (for valid requests, and for bad ones), the
server's resident memory after the warm-up and at the end (and the growth), p50/p99 of
``/api/tags``, the CPU model and llama.cpp's build, and exits 1 when any request got a
5xx, a bad request was not refused with a 4xx, memory grew by 5 % or more, or the p99 of
``/api/tags`` reached 100 ms.

    python bench/soak.py                  # ten minutes
    python bench/soak.py --seconds 60     # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

MODEL = "smollm2"
USER = [{"role": "user", "content": "Name three colours, in one short sentence."}]
STORY = [{"role": "user", "content": "Write a long story about a dragon who learns to cook."}]
RSS_GROWTH_LIMIT = 5.0  # percent
TAGS_P99_LIMIT = 0.100  # seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def llama_build() -> str:
    try:
        import llama_cpp
    except ImportError:
        return "llama-cpp-python not installed"
    info = llama_cpp.llama_print_system_info().decode().strip()
    return f"llama-cpp-python {llama_cpp.__version__}; {info}"


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


#: (path, raw body) pairs that must each be refused with a 4xx.
BAD_REQUESTS: list[tuple[str, bytes]] = [
    ("/api/chat", b'{"model": "smollm2", "messages": ['),
    ("/api/chat", b'{"model": "smollm2", "messages": ' + nested(5000) + b"}"),
    ("/v1/chat/completions", b'{"model": "smollm2", "deep": ' + nested(150) + b"}"),
    ("/api/generate", b'{"model": "smollm2", "prompt": "caf\xc3"}'),
    ("/api/chat", b'{"model": "\\ud800", "messages": []}'),
    (
        "/v1/chat/completions",
        b'{"model": "smollm2", "messages": [{"role": "user", "content": "\\udfff"}]}',
    ),
    ("/api/chat", b'{"model": "smollm2", "messages": [], "keep_alive": "inf"}'),
    ("/api/generate", b'{"model": "smollm2", "prompt": "x", "keep_alive": 1e20}'),
    ("/api/generate", b'{"model": "smollm2", "prompt": "x", "context": [-1, 1000000000000]}'),
    (
        "/api/chat",
        b'{"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], '
        b'"options": {"num_ctx": 1e6}}',
    ),
    ("/api/chat", b'{"model": "smollm2", "messages": [], "options": {"temperature": -1}}'),
    ("/v1/completions", b'{"model": "smollm2", "prompt": "x", "top_p": 2}'),
    ("/api/embed", b'{"model": "smollm2", "input": 5}'),
    ("/v1/embeddings", b'{"model": "smollm2", "input": "x", "seed": NaN}'),
    ("/api/show", b'{"model": 5}'),
    ("/api/chat", b"[1, 2]"),
    ("/api/chat", b""),
]


@dataclass
class Tally:
    """What happened, by kind of traffic."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    valid_5xx: int = 0
    bad_5xx: int = 0
    bad_not_4xx: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    tags: list[float] = field(default_factory=list)
    streams: int = 0
    cancelled: int = 0
    embeddings: int = 0
    bad: int = 0
    slow_closed: int = 0

    def valid(self, kind: str, status: int) -> None:
        self.statuses[(kind, status)] += 1
        if status >= 500:
            self.valid_5xx += 1

    def refused(self, what: str, status: int | None) -> None:
        self.bad += 1
        self.statuses[("bad", status or 0)] += 1
        if status is not None and status >= 500:
            self.bad_5xx += 1
        if status is None or not 400 <= status < 500:
            self.bad_not_4xx.append(f"{what}: {status}")


async def streams(client: httpx.AsyncClient, stop: float, tally: Tally, index: int) -> None:
    turn = index
    while time.monotonic() < stop:
        turn += 1
        if turn % 2:
            path = "/api/chat"
            body: dict = {"model": MODEL, "messages": USER, "options": {"num_predict": 48}}
        else:
            path = "/v1/chat/completions"
            body = {"model": MODEL, "messages": USER, "max_tokens": 48, "stream": True}
        try:
            async with client.stream("POST", path, json=body) as response:
                async for _ in response.aiter_lines():
                    pass
            tally.valid("stream", response.status_code)
            tally.streams += 1
        except httpx.HTTPError as exc:
            tally.errors[f"stream: {type(exc).__name__}"] += 1


async def cancellations(client: httpx.AsyncClient, stop: float, tally: Tally) -> None:
    turn = 0
    while time.monotonic() < stop:
        turn += 1
        body: dict = {"model": MODEL, "messages": STORY, "options": {"num_predict": 2000}}
        path = "/api/chat"
        if turn % 2 == 0:
            path = "/v1/chat/completions"
            body = {"model": MODEL, "messages": STORY, "max_tokens": 2000, "stream": True}
        try:
            async with client.stream("POST", path, json=body) as response:
                tally.valid("cancelled", response.status_code)
                read = 0
                async for _ in response.aiter_lines():
                    read += 1
                    if read >= 6:
                        break  # leaving the block closes the connection mid-stream
            tally.cancelled += 1
        except httpx.HTTPError as exc:
            tally.errors[f"cancel: {type(exc).__name__}"] += 1
        await asyncio.sleep(0.5)


async def embeddings(client: httpx.AsyncClient, stop: float, tally: Tally) -> None:
    turn = 0
    while time.monotonic() < stop:
        turn += 1
        texts = [f"text number {turn}", "another text to embed"]
        if turn % 2:
            request = client.post("/api/embed", json={"model": MODEL, "input": texts})
        else:
            request = client.post("/v1/embeddings", json={"model": MODEL, "input": texts})
        try:
            response = await request
            tally.valid("embed", response.status_code)
            tally.embeddings += 1
        except httpx.HTTPError as exc:
            tally.errors[f"embed: {type(exc).__name__}"] += 1
        await asyncio.sleep(0.2)


async def raw_exchange(port: int, data: bytes, *, limit: float = 30.0) -> int | None:
    """Send ``data`` on a fresh connection; the status of the answer (``None``: closed)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
        line = await asyncio.wait_for(reader.readline(), limit)
        parts = line.split()
        return int(parts[1]) if len(parts) > 1 else None
    except (TimeoutError, ConnectionError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def bad_requests(
    client: httpx.AsyncClient, port: int, stop: float, tally: Tally, max_body: int
) -> None:
    turn = 0
    while time.monotonic() < stop:
        path, body = BAD_REQUESTS[turn % len(BAD_REQUESTS)]
        turn += 1
        try:
            response = await client.post(path, content=body)
            tally.refused(f"{path} {body[:40]!r}", response.status_code)
        except httpx.HTTPError as exc:
            tally.errors[f"bad: {type(exc).__name__}"] += 1
        if turn % len(BAD_REQUESTS) == 0:  # an oversized body, declared
            head = (
                f"POST /api/chat HTTP/1.1\r\nHost: soak\r\nContent-Length: {max_body + 1}\r\n\r\n"
            ).encode()
            tally.refused("oversized body", await raw_exchange(port, head + b"{"))
        await asyncio.sleep(0.05)


async def slow_clients(port: int, stop: float, tally: Tally, header_timeout: float) -> None:
    """A Slowloris connection at a time: one header byte a second until the server cuts it."""
    while time.monotonic() < stop - header_timeout - 2:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        try:
            writer.write(b"POST /api/chat HTTP/1.1\r\nHost: soak\r\n")
            while time.monotonic() - started < header_timeout + 5:
                with contextlib.suppress(ConnectionError):
                    writer.write(b"X")
                    await writer.drain()
                try:
                    data = await asyncio.wait_for(reader.read(4096), 1.0)
                except TimeoutError:
                    continue
                except ConnectionError:
                    data = b""
                if not data or data.startswith(b"HTTP/1.1 408"):
                    tally.slow_closed += 1
                    break
            else:
                tally.bad_not_4xx.append("a Slowloris connection was kept open")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def poll_tags(client: httpx.AsyncClient, stop: float, tally: Tally) -> None:
    while time.monotonic() < stop:
        started = time.perf_counter()
        try:
            response = await client.get("/api/tags")
            tally.tags.append(time.perf_counter() - started)
            tally.valid("tags", response.status_code)
        except httpx.HTTPError as exc:
            tally.errors[f"tags: {type(exc).__name__}"] += 1
        await asyncio.sleep(0.05)


async def soak(url: str, pid: int, args: argparse.Namespace) -> tuple[Tally, int, int]:
    tally = Tally()
    port = int(url.rsplit(":", 1)[1])
    started = time.monotonic()
    stop = started + args.seconds
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
    async with (
        httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client,
        httpx.AsyncClient(base_url=url, timeout=30) as tags_client,
    ):
        tasks = [asyncio.create_task(streams(client, stop, tally, i)) for i in range(args.streams)]
        tasks += [
            asyncio.create_task(cancellations(client, stop, tally)),
            asyncio.create_task(embeddings(client, stop, tally)),
            asyncio.create_task(bad_requests(client, port, stop, tally, args.max_body)),
            asyncio.create_task(slow_clients(port, stop, tally, args.header_timeout)),
            asyncio.create_task(poll_tags(tags_client, stop, tally)),
        ]
        await asyncio.sleep(min(args.warmup, args.seconds))
        rss_warm = rss_bytes(pid)
        print(f"warmed up after {args.warmup:g} s: server RSS {rss_warm / 2**20:.1f} MiB")
        tally.tags.clear()  # p50/p99 after the warm-up (the first ones load the model)
        while time.monotonic() < stop:
            await asyncio.sleep(min(15.0, max(0.0, stop - time.monotonic())))
            elapsed = time.monotonic() - started
            print(
                f"  {elapsed:6.0f} s: {tally.streams} streams, {tally.cancelled} cancelled, "
                f"{tally.embeddings} embeddings, {tally.bad} bad, {len(tally.tags)} tags; "
                f"RSS {rss_bytes(pid) / 2**20:.1f} MiB",
                flush=True,
            )
        await asyncio.gather(*tasks)
    await asyncio.sleep(1.0)  # let the last cancelled stream stop
    return tally, rss_warm, rss_bytes(pid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="how long (default 600)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds before the first RSS sample (default: a tenth of the run, 10 to 60 s)",
    )
    parser.add_argument("--streams", type=int, default=2, help="concurrent streams (default 2)")
    parser.add_argument("--header-timeout", type=float, default=10.0)
    parser.add_argument("--max-body", type=int, default=16 << 20)
    args = parser.parse_args()
    if args.warmup is None:
        args.warmup = min(60.0, max(10.0, args.seconds / 10))

    print(f"CPU: {cpu_model()} ({os.cpu_count()} CPUs)")
    print(f"llama.cpp: {llama_build()}")
    port = free_port()
    command = [
        sys.executable, "-m", "llmkit", "serve", "--model", MODEL, "--port", str(port),
        "--log-level", "warning", "--header-timeout", str(args.header_timeout),
        "--max-body-size", str(args.max_body),
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    print(log.read().decode(errors="replace"), file=sys.stderr)
                    print("llmkit serve did not start", file=sys.stderr)
                    return 2
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/", timeout=1).status_code == 200:
                        break
                time.sleep(0.2)
            print(f"soaking {url} (pid {server.pid}) for {args.seconds:g} s")
            tally, rss_warm, rss_end = asyncio.run(soak(url, server.pid, args))
            alive = server.poll() is None
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
            log.seek(0)
            server_log = log.read().decode(errors="replace")

    growth = (rss_end - rss_warm) / rss_warm * 100
    p50 = percentile(tally.tags, 0.50)
    p99 = percentile(tally.tags, 0.99)
    print()
    print(f"requests by kind and status: {dict(sorted(tally.statuses.items()))}")
    if tally.errors:
        print(f"client-side errors: {dict(tally.errors)}")
    print(f"5xx answers to valid requests: {tally.valid_5xx}")
    print(f"5xx answers to bad requests: {tally.bad_5xx}")
    print(f"bad requests not refused with a 4xx: {len(tally.bad_not_4xx)}")
    for what in tally.bad_not_4xx[:10]:
        print(f"    {what}")
    print(f"Slowloris connections cut off: {tally.slow_closed}")
    print(
        f"server RSS: {rss_warm / 2**20:.1f} MiB after warm-up, {rss_end / 2**20:.1f} MiB at "
        f"the end ({growth:+.2f} %)"
    )
    print(
        f"/api/tags latency over {len(tally.tags)} requests: p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms"
    )
    print(f"CPU: {cpu_model()}")
    print(f"llama.cpp: {llama_build()}")
    for sign in ("Traceback", "Exception in ASGI application"):
        if sign in server_log:
            print(f"the server logged: {sign}", file=sys.stderr)
            print(server_log[-3000:], file=sys.stderr)

    failures = []
    if tally.valid_5xx or tally.bad_5xx:
        failures.append(f"{tally.valid_5xx + tally.bad_5xx} answers were 5xx")
    if tally.bad_not_4xx:
        failures.append(f"{len(tally.bad_not_4xx)} bad requests were not refused with a 4xx")
    if growth >= RSS_GROWTH_LIMIT:
        failures.append(f"RSS grew {growth:.2f} % (limit {RSS_GROWTH_LIMIT} %)")
    if not p99 < TAGS_P99_LIMIT:
        failures.append(f"/api/tags p99 {p99 * 1000:.1f} ms (limit {TAGS_P99_LIMIT * 1000:.0f} ms)")
    if not alive:
        failures.append("the server died")
    if tally.streams == 0 or tally.embeddings == 0 or tally.cancelled == 0:
        failures.append("some traffic never completed")
    print()
    if failures:
        print("FAIL: " + "; ".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
