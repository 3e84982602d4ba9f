"""Aggregate throughput of continuous batching against one request after another.

For each level of concurrency (1, 4, 16 and 64 sequences by default), in one run:

* batched: ``LlamaCppBackend(parallel=N)`` behind ``llmkit.Client`` (``parallel=2`` for one
  sequence, so that it too goes through the engine); N threads each send one ``generate``
  at the same moment, and the engine decodes them together;
* serial: llama-cpp-python's high-level API, ``Llama.create_completion`` on the same N
  prompts one after another (``reset()`` before each, so every prompt is read whole, as
  on the batched side).

Both sides load the same GGUF with the same context (``num_ctx`` per sequence), thread
counts and greedy sampling, and generate up to ``--tokens`` tokens per prompt.  The rate
is generated tokens over wall time from the first request to the last answer, prompt
processing included.  The sides alternate within each round, and the median ratio is
printed per level.  Greedy texts are compared prompt by prompt, which measures how often
batched decoding changes greedy output.  It always exits 0: benchmarks inform.

    python bench/batch.py [--levels 1 4 16 64] [--tokens 64] [--rounds 1] [--threads N]
                          [--num-gpu LAYERS] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from llama_cpp import Llama

from llmkit import Client
from llmkit.models import ModelStore
from llmkit_llamacpp import LlamaCppBackend

NUM_CTX = 512
SUBJECTS = [
    "a lighthouse keeper",
    "a young baker",
    "an old sailor",
    "a clever fox",
    "a lost robot",
    "a travelling musician",
    "a village doctor",
    "a curious child",
]
PLACES = [
    "in a small island town",
    "on a cold mountain",
    "in a busy city",
    "beside a quiet river",
    "in a desert oasis",
    "at the edge of a forest",
    "in a floating market",
    "under a starry sky",
]
TARGET_AT_16 = 2.5


def prompts(count: int) -> list[str]:
    """``count`` different story openings (64 at most)."""
    return [
        f"Write a short story about {SUBJECTS[i % 8]} {PLACES[(i // 8) % 8]}.\n\nOnce upon a time,"
        for i in range(count)
    ]


@dataclass
class Side:
    """One side's run at one level."""

    tokens: int
    seconds: float
    texts: list[str]

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


def run_serial(llm: Llama, texts: list[str], tokens: int) -> Side:
    answers: list[str] = []
    generated = 0
    started = time.perf_counter()
    for prompt in texts:
        llm.reset()
        out: Any = llm.create_completion(
            prompt, max_tokens=tokens, temperature=0.0, repeat_penalty=1.0, top_k=40
        )
        answers.append(out["choices"][0]["text"])
        generated += int(out["usage"]["completion_tokens"])
    return Side(generated, time.perf_counter() - started, answers)


def run_batched(client: Client, texts: list[str], tokens: int) -> Side:
    options = {"temperature": 0, "repeat_penalty": 1.0, "num_predict": tokens}
    started = time.perf_counter()
    with ThreadPoolExecutor(len(texts)) as pool:
        futures = [
            pool.submit(client.generate, prompt, raw=True, options=options) for prompt in texts
        ]
        answers = [future.result() for future in futures]
    seconds = time.perf_counter() - started
    generated = sum(answer.eval_count or 0 for answer in answers)
    return Side(generated, seconds, [answer.response for answer in answers])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--num-gpu", type=int, default=0)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    path = ModelStore().resolve(args.model)
    threads = args.threads
    llm = Llama(
        model_path=str(path),
        n_ctx=NUM_CTX,
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=args.num_gpu,
        verbose=False,
    )
    load = {"num_ctx": NUM_CTX, "num_thread": threads, "num_gpu": args.num_gpu}
    print(f"model {path}\nthreads {threads}, tokens {args.tokens}, rounds {args.rounds}")
    print(f"{'seqs':>5} {'batched tok/s':>14} {'serial tok/s':>13} {'ratio':>6} {'same text':>10}")
    rows = []
    for level in args.levels:
        texts = prompts(level)
        # parallel=1 would take the one-at-a-time path: one sequence still goes through the engine
        backend = LlamaCppBackend(str(path), options=load, parallel=max(level, 2))
        client = Client(backend)
        client.generate(texts[0], raw=True, options={"num_predict": 2})  # load, make the engine
        ratios, batched_rates, serial_rates = [], [], []
        same = 0
        for round_no in range(args.rounds):
            order = ["batched", "serial"] if round_no % 2 == 0 else ["serial", "batched"]
            sides: dict[str, Side] = {}
            for side in order:
                if side == "batched":
                    sides[side] = run_batched(client, texts, args.tokens)
                else:
                    sides[side] = run_serial(llm, texts, args.tokens)
            batched, serial = sides["batched"], sides["serial"]
            ratios.append(batched.rate / serial.rate)
            batched_rates.append(batched.rate)
            serial_rates.append(serial.rate)
            same = sum(a == b for a, b in zip(batched.texts, serial.texts, strict=True))
        backend.close()
        row = {
            "sequences": level,
            "batched_tok_s": statistics.median(batched_rates),
            "serial_tok_s": statistics.median(serial_rates),
            "ratio": statistics.median(ratios),
            "identical_greedy_texts": same,
        }
        rows.append(row)
        print(
            f"{level:>5} {row['batched_tok_s']:>14.1f} {row['serial_tok_s']:>13.1f} "
            f"{row['ratio']:>5.2f}x {same:>5}/{level}",
            flush=True,
        )
    at_16 = next((row["ratio"] for row in rows if row["sequences"] == 16), None)
    if at_16 is not None:
        verdict = "PASS" if at_16 >= TARGET_AT_16 else "below target"
        print(f"at 16 sequences: {at_16:.2f}x (target {TARGET_AT_16}x: {verdict})")
    if args.json:
        print(json.dumps({"threads": threads, "tokens": args.tokens, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
