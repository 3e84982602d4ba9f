"""Concurrent streaming clients against three servers on the same GGUF, one at a time.

* ``llmkit``: ``llmkit serve`` with its defaults (the engine: ``--parallel`` 4 slots of
  ``num_ctx`` 4096 each, continuous batching);
* ``lcpp-python``: llama-cpp-python's OpenAI-compatible server
  (``python -m llama_cpp.server --interrupt_requests False``; one request at a time);
* ``llama-server``: llama.cpp's own C++ server built from the llama.cpp sources inside
  llama-cpp-python's sdist (``--llama-server PATH``; ``--parallel`` equal to llmkit's and
  ``-c`` = slots x 4096, so each slot has the same context as llmkit's). Left out, with a
  line saying so, when no binary is given or found.

For ``--clients`` 8 and 16: that many clients at once, each streaming one OpenAI
``/v1/chat/completions`` request (a different prompt each, ``--tokens`` greedy tokens,
``repeat_penalty`` 1.0 on every side: llama-cpp-python's server defaults to 1.1). Measured per
server: aggregate generated tokens / wall time (from the first request sent to the last stream
ended; counted from each stream's ``usage`` when the server sends it, else its content
chunks), time to first token p50 and p90. ``--rounds`` repeats everything, the servers'
order alternating; medians are reported. Printed last: the ratios against the targets of the
engine issue (aggregate >= 1.5x llama-cpp-python's server and >= 0.9x llama-server, TTFT p50
<= 0.5x llama-cpp-python's server), and how many greedy answers are identical across servers.

Then, in process: ``--clients`` (the largest) requests sharing one ``--system-tokens``-long
system prompt, each with its own question, sent at once to ``LlamaCppBackend`` with its
defaults; the engine's counters say how many prompt tokens were evaluated, against one system
prompt plus every question (the ideal) and every prompt read whole.

    python bench/serve_clients.py                      # 8 and 16 clients, 2 rounds
    python bench/serve_clients.py --clients 8 --rounds 1
    python bench/serve_clients.py --llmkit-args "-b llamacpp:smollm2?flash_attn=true"

It always exits 0: benchmarks inform, they do not fail CI. The CPU, thread counts and
llama.cpp's build flags are printed with the results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import llama_cpp

from llmkit.models import ModelStore

HERE = Path(__file__).resolve().parent
SLOT_CTX = 4096
AGG_LCPP_TARGET = 1.5
AGG_SERVER_TARGET = 0.9
TTFT_TARGET = 0.5
TOPICS = [
    "a dragon who learns to cook",
    "a lighthouse keeper",
    "a robot gardener",
    "the moon's twin",
    "a lost violin",
    "a city under the sea",
    "a clockmaker's apprentice",
    "a talking fox",
    "the last train home",
    "a snow festival",
    "a library that moves",
    "a desert well",
    "a pirate who hates water",
    "a paper kite",
    "a glass mountain",
    "a sleepy volcano",
]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    command: list[str]
    model: str
    env: dict[str, str] = field(default_factory=dict)


@contextmanager
def running(server: Server, port: int) -> Iterator[str]:
    """Start ``server`` on ``port``, wait until ``/v1/models`` answers; stop it afterwards."""
    log = Path(f"/tmp/serve_clients_{server.name}.log").open("w")  # noqa: SIM115
    process = subprocess.Popen(
        [part.replace("{port}", str(port)) for part in server.command],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **server.env},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{server.name} exited; see {log.name}")
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.name} did not start; see {log.name}")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@dataclass
class Run:
    tokens: int
    wall: float
    ttfts: list[float]
    texts: list[str]

    @property
    def rate(self) -> float:
        return self.tokens / self.wall


async def one_client(
    http: httpx.AsyncClient, url: str, model: str, prompt: str, tokens: int, start: float
) -> tuple[int, float, str]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": tokens,
        "temperature": 0,
        "repeat_penalty": 1.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    first: float | None = None
    chunks, usage, text = 0, None, ""
    async with http.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            data = json.loads(line[6:])
            if data.get("usage"):
                usage = data["usage"].get("completion_tokens")
            for choice in data.get("choices") or ():
                piece = (choice.get("delta") or {}).get("content") or ""
                if piece:
                    if first is None:
                        first = time.perf_counter()
                    chunks += 1
                    text += piece
    return (usage if usage is not None else chunks), (first or time.perf_counter()) - start, text


async def clients_at_once(url: str, model: str, n: int, tokens: int) -> Run:
    prompts = [f"Write a short story about {TOPICS[i % len(TOPICS)]}." for i in range(n)]
    limits = httpx.Limits(max_connections=n + 4, max_keepalive_connections=n + 4)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        start = time.perf_counter()
        results = await asyncio.gather(
            *(one_client(http, url, model, prompt, tokens, start) for prompt in prompts)
        )
        wall = time.perf_counter() - start
    return Run(
        tokens=sum(r[0] for r in results),
        wall=wall,
        ttfts=[r[1] for r in results],
        texts=[r[2] for r in results],
    )


def servers(name: str, path: str, parallel: int, llama_server: str | None) -> list[Server]:
    python = sys.executable
    found = [
        Server(
            "llmkit",
            [
                python,
                "-m",
                "llmkit",
                "serve",
                "--model",
                name,
                "--port",
                "{port}",
                "--log-level",
                "warning",
            ],
            model=name,
        ),
        Server(
            "lcpp-python",
            [
                python,
                "-m",
                "llama_cpp.server",
                "--model",
                path,
                "--port",
                "{port}",
                "--n_ctx",
                str(SLOT_CTX),
                "--interrupt_requests",
                "False",
                "--verbose",
                "False",
            ],
            model=Path(path).stem,
        ),
    ]
    if llama_server:
        found.append(
            Server(
                "llama-server",
                [
                    llama_server,
                    "-m",
                    path,
                    "--port",
                    "{port}",
                    "--parallel",
                    str(parallel),
                    "-c",
                    str(SLOT_CTX * parallel),
                    "--log-disable",
                ],
                model=Path(path).stem,
                env={"LD_LIBRARY_PATH": str(Path(llama_server).parent)},
            )
        )
    return found


def find_llama_server(given: str | None) -> str | None:
    for candidate in (
        given,
        os.environ.get("LLAMA_SERVER"),
        "/tmp/llamacpp-build/bin/llama-server",
        shutil.which("llama-server"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def shared_prefix(path: str, n: int, system_tokens: int) -> None:
    """``n`` requests with one long system prompt at once, in process; the engine's counters."""
    from llmkit.types import ChatRequest, Message
    from llmkit_llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(path)
    try:
        line = "Tool {i}: returns the forecast for a city over some days, in degrees and rain. "
        system, i = "You are an agent with tools.\n", 0
        tokenizer = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
        while len(tokenizer.tokenize(system.encode())) < system_tokens:
            system += line.format(i=i)
            i += 1
        requests = [
            ChatRequest(
                model=path,
                messages=[
                    Message(role="system", content=system),
                    Message(role="user", content=f"Question {k}: what is tool {k * 7} for?"),
                ],
                options={"num_predict": 8, "temperature": 0},
            )
            for k in range(n)
        ]
        # Load the model first (its own tiny request), so the counters start at zero.
        list(
            backend.chat(
                ChatRequest(
                    model=path,
                    messages=[Message(role="user", content="hi")],
                    options={"num_predict": 1},
                )
            )
        )
        before = backend.engine_counters()
        started = time.perf_counter()
        threads = [threading.Thread(target=lambda r=r: list(backend.chat(r))) for r in requests]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.perf_counter() - started
        after = backend.engine_counters()
        evaluated = after.evaluated - before.evaluated
        whole = after.prompt_tokens - before.prompt_tokens
        system_len = len(tokenizer.tokenize(system.encode()))
        suffixes = whole - n * system_len
        ideal = system_len + suffixes
        print(
            f"shared system prompt: {n} requests, system prompt ~{system_len} tokens, "
            f"{whole} prompt tokens in all; evaluated {evaluated} "
            f"(one system prompt + the {n} suffixes ~ {ideal}: {evaluated / ideal:.2f}x of it; "
            f"read whole: {whole}); copied {after.copied - before.copied}, reused "
            f"{after.reused - before.reused}; {took:.1f} s"
        )
    finally:
        backend.close()


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="slots for llmkit serve and llama-server (default: llmkit serve's default, 4)",
    )
    parser.add_argument("--llama-server", default=None, help="path of llama.cpp's llama-server")
    parser.add_argument(
        "--llmkit-args",
        default="",
        help='more arguments for llmkit serve, e.g. "-b llamacpp:smollm2?flash_attn=true"',
    )
    parser.add_argument("--system-tokens", type=int, default=1000)
    parser.add_argument("--only", nargs="*", default=None, help="server names to run")
    args = parser.parse_args()

    path = str(ModelStore().resolve(args.model))
    llama_server = find_llama_server(args.llama_server)
    print(f"CPU: {cpu_model()} ({os.cpu_count()} CPUs)")
    print(
        f"llama.cpp (llama-cpp-python {llama_cpp.__version__}): "
        f"{llama_cpp.llama_print_system_info().decode().strip()}"
    )
    print(
        f"model {path}; {args.tokens} greedy tokens per client; threads: each server's "
        f"default (llama-cpp-python and llmkit: {max(1, (os.cpu_count() or 2) // 2)} to decode, "
        f"{os.cpu_count()} for prompts; llama-server: its own)"
    )
    every = servers(args.model, path, args.parallel or 4, llama_server)
    if args.parallel is not None:
        every[0].command += ["--parallel", str(args.parallel)]
    every[0].command += args.llmkit_args.split()
    if args.only:
        every = [s for s in every if s.name in args.only]
    if llama_server is None:
        print("llama-server: not found (--llama-server PATH); its column is left out")
    results: dict[tuple[str, int], list[Run]] = {}
    for round_no in range(args.rounds):
        order = every if round_no % 2 == 0 else every[::-1]
        for server in order:
            with running(server, free_port()) as url:
                asyncio.run(clients_at_once(url, server.model, 2, 4))  # warm up
                for n in args.clients:
                    run = asyncio.run(clients_at_once(url, server.model, n, args.tokens))
                    results.setdefault((server.name, n), []).append(run)
                    print(
                        f"round {round_no} {server.name:>12} {n:>2} clients: "
                        f"{run.tokens} tokens in {run.wall:.1f} s = {run.rate:.1f} tok/s, "
                        f"TTFT p50 {pct(run.ttfts, 0.5):.2f} s p90 {pct(run.ttfts, 0.9):.2f} s",
                        flush=True,
                    )
    names = [s.name for s in every]
    for n in args.clients:
        rate = {name: statistics.median(r.rate for r in results[(name, n)]) for name in names}
        ttft = {
            name: statistics.median(pct(r.ttfts, 0.5) for r in results[(name, n)]) for name in names
        }
        print(
            f"{n} clients: "
            + ", ".join(
                f"{name} {rate[name]:.1f} tok/s (TTFT p50 {ttft[name]:.2f} s)" for name in names
            )
        )
        if "llmkit" in rate and "lcpp-python" in rate:
            agg = rate["llmkit"] / rate["lcpp-python"]
            tt = ttft["llmkit"] / ttft["lcpp-python"]
            print(
                f"  llmkit / llama-cpp-python server: aggregate {agg:.2f}x (target >= "
                f"{AGG_LCPP_TARGET}: {verdict(agg >= AGG_LCPP_TARGET)}), TTFT p50 {tt:.2f}x "
                f"(target <= {TTFT_TARGET}: {verdict(tt <= TTFT_TARGET)})"
            )
        if "llmkit" in rate and "llama-server" in rate:
            agg = rate["llmkit"] / rate["llama-server"]
            tt = ttft["llmkit"] / ttft["llama-server"]
            print(
                f"  llmkit / llama-server: aggregate {agg:.2f}x (target >= "
                f"{AGG_SERVER_TARGET}: {verdict(agg >= AGG_SERVER_TARGET)}), TTFT p50 {tt:.2f}x"
            )
        if len(names) > 1:
            base = names[0]
            for other in names[1:]:
                same = sum(
                    a == b
                    for ra, rb in zip(results[(base, n)], results[(other, n)], strict=True)
                    for a, b in zip(ra.texts, rb.texts, strict=True)
                )
                total = n * len(results[(base, n)])
                print(f"  identical greedy answers {base} / {other}: {same} of {total}")
    shared_prefix(path, max(args.clients), args.system_tokens)


if __name__ == "__main__":
    main()
