"""Throughput of llmkit's streaming tool-call parser, fed the way a model streams.

Outputs of 100 KB and 1 MB are cut into pieces of 1 to 8 characters (a fixed random
sequence, about 4.5 characters a piece, like tokens) and fed to
``ToolCallParser.for_format(...)`` one piece at a time, then ``finish()``. Shapes:

* ``plain``: prose with non-ASCII characters and a few ``<``, ``[`` and ``{`` that start
  no tag (Hermes format, tag ``<tool_call>``);
* ``calls``: call-heavy output, a short sentence then a ``<tool_call>`` block with one
  call, over and over (about 20% text, 80% call markup and JSON);
* ``python``: Llama 3.2's pythonic list at the start of the output, one list of many
  calls;
* ``mistral``: ``[TOOL_CALLS]name[ARGS]{...}`` calls back to back.

For each shape it reports MB/s at 1 MB (CPU time, best of ``--rounds``), microseconds per
piece, and the growth from 100 KB to 1 MB (linear work means about 10x; quadratic would be
100x). Target: every shape at 1 MB/s or more (a model writes a few KB a second).

The parser is pure Python. The machine should be quiet; CPU time on a
shared machine still moves by tens of percent. It always exits 0.

    python bench/toolparse.py [--rounds 3] [--json] [--profile SHAPE]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import random
import time
from collections.abc import Callable

from llmkit.tools import ToolCallParser

PLAIN = "The quick brown fox — naïve café, 20°C; a <b>tag</b>, [a link] and {braces}. "
CALLS = (
    "Let me check.\n<tool_call>\n"
    '{"name": "get_weather", "arguments": {"city": "Paris", "days": 3, "tags": ["a", "b"]}}'
    "\n</tool_call>\n"
)
PYTHON_CALL = "get_weather(city='Paris', days=3, tags=['a', 'b'])"
MISTRAL = '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris", "days": 3, "tags": ["a", "b"]}'
TOOLS = ["get_weather"]


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda size: (unit * (size // len(unit) + 1))[:size]


def _python(size: int) -> str:
    count = max(1, size // (len(PYTHON_CALL) + 2))
    return "[" + ", ".join([PYTHON_CALL] * count) + "]"


SHAPES: dict[str, tuple[str, Callable[[int], str]]] = {
    "plain": ("hermes", _repeat(PLAIN)),
    "calls": ("hermes", _repeat(CALLS)),
    "python": ("pythonic", _python),
    "mistral": ("mistral", lambda size: MISTRAL * max(1, size // len(MISTRAL))),
}


def pieces(text: str, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(text):
        step = rng.randint(1, 8)
        out.append(text[i : i + step])
        i += step
    return out


def run_once(fmt: str, chunks: list[str]) -> tuple[float, int]:
    parser = ToolCallParser.for_format(fmt, TOOLS)
    calls = 0
    start = time.process_time()
    for chunk in chunks:
        for event in parser.feed(chunk):
            calls += type(event).__name__ == "ToolCallComplete"
    for event in parser.finish():
        calls += type(event).__name__ == "ToolCallComplete"
    return time.process_time() - start, calls


def measure(shape: str, size: int, rounds: int) -> dict[str, float]:
    fmt, make = SHAPES[shape]
    text = make(size)
    chunks = pieces(text)
    best, calls = min(run_once(fmt, chunks) for _ in range(rounds))
    return {
        "bytes": len(text.encode("utf-8")),
        "pieces": len(chunks),
        "seconds": best,
        "calls": calls,
        "mb_per_s": len(text.encode("utf-8")) / best / 1e6,
        "us_per_piece": best / len(chunks) * 1e6,
    }


def measure_all(rounds: int) -> dict[str, dict]:
    results = {}
    for shape in SHAPES:
        small = measure(shape, 100_000, rounds)
        large = measure(shape, 1_000_000, rounds)
        results[shape] = {
            "100KB": small,
            "1MB": large,
            "growth": large["seconds"] / small["seconds"],
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--profile", choices=sorted(SHAPES), help="cProfile 1 MB of a shape")
    args = parser.parse_args()

    results = measure_all(args.rounds)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if args.json:
        report = {"date": dt.date.today().isoformat(), "load": load}
        print(json.dumps({**report, **results}, indent=1))
    else:
        print(
            f"{dt.date.today()}  load {load:.1f}  {os.cpu_count()} CPUs  "
            f"(CPU time, best of {args.rounds})"
        )
        print(
            f"{'shape':8} {'1 MB s':>8} {'MB/s':>7} {'µs/piece':>9} {'calls':>7} {'100KB→1MB':>10}"
        )
        for shape, row in results.items():
            large = row["1MB"]
            line = (
                f"{shape:8} {large['seconds']:8.3f} {large['mb_per_s']:7.2f} "
                f"{large['us_per_piece']:9.2f} {int(large['calls']):7d} {row['growth']:9.1f}x"
            )
            print(line)
        slow = [shape for shape, row in results.items() if row["1MB"]["mb_per_s"] < 1.0]
        verdict = "PASS" if not slow else "CHECK " + ", ".join(slow)
        print(f"target: every shape at 1 MB/s or more, growing linearly -> {verdict}")
    if args.profile:
        fmt, make = SHAPES[args.profile]
        chunks = pieces(make(1_000_000))
        profiler = cProfile.Profile()
        profiler.runcall(run_once, fmt, chunks)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
