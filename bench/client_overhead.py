"""Client CPU time per streamed chunk: llmkit vs the official clients vs hand-written httpx.

A local server (bench/stream_server.py, another process, so its CPU is not
counted) streams the same long answer as Ollama NDJSON and as OpenAI SSE,
either in bursts (many chunks per network read) or paced (one chunk per read).
Each client reads the whole stream; ``time.process_time()`` in this process
measures its CPU.  Rounds are interleaved and the minimum per variant is kept
(noise only ever adds time).  Ratios are to hand-written httpx (``iter_lines``
+ ``json.loads``) of the same kind (sync/async, NDJSON/SSE, burst/paced).

    python bench/client_overhead.py [--chunks 20000] [--rounds 5]
    python bench/client_overhead.py --only llmkit,httpx --kinds burst   # a quicker look

Target: llmkit at most 0.8x of hand-written httpx on every variant, while
still yielding typed events (and building the final response).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from llmkit import AsyncClient, Client
from llmkit.backends.http.ollama import AsyncOllamaBackend, OllamaBackend
from llmkit.backends.http.openai import AsyncOpenAIBackend, OpenAIBackend

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


def variants(url: str, n: int, paced: bool) -> dict[str, tuple[str, Callable[[], Any]]]:
    """name -> (baseline name, a function that reads one whole stream)."""
    import ollama
    import openai

    nd_url, sse_url = f"{url}/api/chat", f"{url}/v1/chat/completions"
    nd_body = {"model": "m", "messages": MESSAGES, "options": {"num_predict": n}}
    sse_body = {"model": "m", "messages": MESSAGES, "max_tokens": n, "stream": True}

    http = httpx.Client(timeout=60)
    ahttp = httpx.AsyncClient(timeout=60)

    def hand_ndjson() -> None:
        with http.stream("POST", nd_url, json=nd_body) as r:
            for line in r.iter_lines():
                if line:
                    json.loads(line)

    def hand_sse() -> None:
        with http.stream("POST", sse_url, json=sse_body) as r:
            for line in r.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    json.loads(line[6:])

    async def ahand_ndjson() -> None:
        async with ahttp.stream("POST", nd_url, json=nd_body) as r:
            async for line in r.aiter_lines():
                if line:
                    json.loads(line)

    async def ahand_sse() -> None:
        async with ahttp.stream("POST", sse_url, json=sse_body) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    json.loads(line[6:])

    def raw_bytes() -> None:
        with http.stream("POST", nd_url, json=nd_body) as r:
            for _ in r.iter_raw():
                pass

    lk_ollama = Client(OllamaBackend(url, model="m"))
    lk_openai = Client(OpenAIBackend(url + "/v1", model="m"))
    alk_ollama = AsyncClient(AsyncOllamaBackend(url, model="m"))
    alk_openai = AsyncClient(AsyncOpenAIBackend(url + "/v1", model="m"))

    def llmkit_ndjson() -> None:
        with lk_ollama.chat(MESSAGES, options={"num_predict": n}, stream=True) as stream:
            for _ in stream:
                pass

    def llmkit_sse() -> None:
        with lk_openai.chat(MESSAGES, options={"num_predict": n}, stream=True) as stream:
            for _ in stream:
                pass

    async def allmkit_ndjson() -> None:
        async with await alk_ollama.chat(MESSAGES, options={"num_predict": n}, stream=True) as s:
            async for _ in s:
                pass

    async def allmkit_sse() -> None:
        async with await alk_openai.chat(MESSAGES, options={"num_predict": n}, stream=True) as s:
            async for _ in s:
                pass

    oc = ollama.Client(host=url)
    aoc = ollama.AsyncClient(host=url)
    oai = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    aoai = openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0)

    def ollama_sync() -> None:
        for _ in oc.chat(model="m", messages=MESSAGES, options={"num_predict": n}, stream=True):
            pass

    async def ollama_async() -> None:
        async for _ in await aoc.chat(
            model="m", messages=MESSAGES, options={"num_predict": n}, stream=True
        ):
            pass

    def openai_sync() -> None:
        for _ in oai.chat.completions.create(
            model="m", messages=MESSAGES, max_tokens=n, stream=True
        ):
            pass

    async def openai_async() -> None:
        async for _ in await aoai.chat.completions.create(
            model="m", messages=MESSAGES, max_tokens=n, stream=True
        ):
            pass

    out: dict[str, tuple[str, Callable[[], Any]]] = {
        "httpx sync ndjson (baseline)": ("httpx sync ndjson (baseline)", hand_ndjson),
        "httpx sync sse (baseline)": ("httpx sync sse (baseline)", hand_sse),
        "httpx async ndjson (baseline)": ("httpx async ndjson (baseline)", _run(ahand_ndjson)),
        "httpx async sse (baseline)": ("httpx async sse (baseline)", _run(ahand_sse)),
        "httpx bytes only, no parsing": ("httpx sync ndjson (baseline)", raw_bytes),
        "llmkit sync ndjson": ("httpx sync ndjson (baseline)", llmkit_ndjson),
        "llmkit sync sse": ("httpx sync sse (baseline)", llmkit_sse),
        "llmkit async ndjson": ("httpx async ndjson (baseline)", _run(allmkit_ndjson)),
        "llmkit async sse": ("httpx async sse (baseline)", _run(allmkit_sse)),
    }
    if True:
        out.update(
            {
                "ollama.Client": ("httpx sync ndjson (baseline)", ollama_sync),
                "ollama.AsyncClient": ("httpx async ndjson (baseline)", _run(ollama_async)),
                "openai.OpenAI": ("httpx sync sse (baseline)", openai_sync),
                "openai.AsyncOpenAI": ("httpx async sse (baseline)", _run(openai_async)),
            }
        )
    return out


_LOOP = asyncio.new_event_loop()


def _run(make: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        return _LOOP.run_until_complete(make())

    run.__name__ = make.__name__
    return run


def measure(function: Callable[[], Any]) -> float:
    started = time.process_time()
    function()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--paced-chunks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--only", default="", help="comma-separated name parts: run only matching clients"
    )
    parser.add_argument("--kinds", default="burst,paced", help="burst, paced or both")
    args = parser.parse_args()
    only = [part for part in args.only.split(",") if part]
    kinds = set(args.kinds.split(","))

    script = str(Path(__file__).with_name("stream_server.py"))
    servers = [
        subprocess.Popen([sys.executable, script, *flag], stdout=subprocess.PIPE, text=True)
        for flag in ([], ["--paced"])
    ]
    try:
        urls = [f"http://127.0.0.1:{s.stdout.readline().strip()}" for s in servers if s.stdout]
        worst = 0.0
        for url, paced, n in ((urls[0], False, args.chunks), (urls[1], True, args.paced_chunks)):
            if ("paced" if paced else "burst") not in kinds:
                continue
            table = variants(url, n, paced)
            if only:
                table = {
                    name: entry
                    for name, entry in table.items()
                    if "baseline" in name or any(part in name for part in only)
                }
            for _, function in table.values():
                function()  # warm up: connections, imports, caches
            best: dict[str, float] = {}
            for _ in range(args.rounds):
                for name, (_, function) in table.items():
                    elapsed = measure(function)
                    best[name] = min(best.get(name, elapsed), elapsed)
            kind = "paced (one chunk per read)" if paced else "burst"
            print(f"\n{kind}, {n} chunks, best of {args.rounds} interleaved rounds")
            print(f"{'client':34} {'us/chunk':>9} {'vs httpx':>9}")
            for name, (baseline, _) in table.items():
                ratio = best[name] / best[baseline]
                if name.startswith("llmkit"):
                    worst = max(worst, ratio)
                print(f"{name:34} {best[name] / n * 1e6:9.2f} {ratio:8.2f}x")
        print(f"\nworst llmkit ratio: {worst:.2f}x (target: at most 0.80x)")
    finally:
        for server in servers:
            server.terminate()


if __name__ == "__main__":
    main()
