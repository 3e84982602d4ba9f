"""Aggregate throughput of continuous batching against one request after another.

For each level of concurrency (1, 4, 16 and 64 sequences by default), in one run:

* batched: ``LlamaCppBackend(parallel=N, cache_prompt=False)`` behind ``llmkit.Client``; N
  threads each send one ``generate`` at the same moment, and the engine decodes them
  together;
* serial: llama-cpp-python's high-level API, ``Llama.create_completion`` on the same N
  prompts one after another (``reset()`` before each, so every prompt is read whole, as
  on the batched side).

Both sides load the same GGUF with the same context (``num_ctx`` per sequence), thread
counts and greedy sampling, and generate up to ``--tokens`` tokens per prompt.  The rate
is generated tokens over wall time from the first request to the last answer, prompt
processing included.  The sides alternate within each round; printed per level are the
median ratio and the ratio of each side's best rate over the rounds (on a machine shared
with other work, the fastest round is the least disturbed).  Greedy texts are compared
prompt by prompt, which measures how often batched decoding changes greedy output.  It
always exits 0: benchmarks inform.

``--decode-only`` measures llama.cpp alone instead: one ``llama_decode`` of one token for
each of N sequences (each with a 50-token prompt already in its KV cache), the fastest of
``--reps``, against one sequence.  That is the ceiling the engine can reach on this build;
the first lines printed name the build (llama.cpp's system info: AVX512, AMX_INT8, ...).

    python bench/batch.py [--levels 1 4 16 64] [--tokens 64] [--rounds 1] [--threads N]
                          [--num-gpu LAYERS] [--json] [--decode-only [--reps 5]]
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

import llama_cpp
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


def decode_step_seconds(llm: Llama, sequences: int, reps: int) -> float:
    """Fastest ``llama_decode`` of one token for each of ``sequences`` sequences, each
    with a 50-token prompt in its own KV stream (a context made as the engine makes it)."""
    prompt = llm.tokenize(" ".join(prompts(4)).encode(), add_bos=True)[:50]
    params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
    params.n_ctx = NUM_CTX * sequences
    params.n_seq_max = sequences
    params.kv_unified = False
    params.n_batch = max(int(params.n_batch), sequences)
    ctx = llama_cpp.llama_init_from_model(llm._model.model, params)
    batch = llama_cpp.llama_batch_init(max(len(prompt), sequences), 0, 1)

    def decode(entries: list[tuple[int, int, int]]) -> None:
        for i, (token, position, seq) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, position, 1
            batch.seq_id[i][0], batch.logits[i] = seq, True
        batch.n_tokens = len(entries)
        if llama_cpp.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")

    try:
        for seq in range(sequences):
            decode([(token, position, seq) for position, token in enumerate(prompt)])
        best = float("inf")
        for rep in range(reps):
            started = time.perf_counter()
            token, position = prompt[-1], len(prompt) + rep
            decode([(token, position, seq) for seq in range(sequences)])
            llama_cpp.llama_synchronize(ctx)
            best = min(best, time.perf_counter() - started)
        return best
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)


def run_decode_only(llm: Llama, levels: list[int], reps: int, as_json: bool) -> None:
    print(f"{'seqs':>5} {'step ms':>8} {'ms/token':>9} {'vs 1 seq':>9}")
    one = decode_step_seconds(llm, 1, reps)
    rows = []
    for level in levels:
        step = one if level == 1 else decode_step_seconds(llm, level, reps)
        row = {"sequences": level, "step_ms": step * 1e3, "scaling": one * level / step}
        rows.append(row)
        print(
            f"{level:>5} {row['step_ms']:>8.1f} {row['step_ms'] / level:>9.2f} "
            f"{row['scaling']:>8.2f}x",
            flush=True,
        )
    if as_json:
        print(json.dumps({"decode_only": rows}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--num-gpu", type=int, default=0)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--decode-only", action="store_true")
    parser.add_argument("--reps", type=int, default=5)
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
    print(f"model {path}\nllama.cpp {llama_cpp.llama_print_system_info().decode().strip()}")
    if args.decode_only:
        print(f"threads {threads}, llama_decode only, best of {args.reps}")
        run_decode_only(llm, args.levels, args.reps, args.json)
        return
    print(f"threads {threads}, tokens {args.tokens}, rounds {args.rounds}")
    llm.create_completion(prompts(1)[0], max_tokens=2)  # warm up, as the batched side is
    header = f"{'seqs':>5} {'batched tok/s':>14} {'serial tok/s':>13} {'ratio':>6} {'best':>6}"
    print(f"{header} {'same text':>10}")
    rows = []
    for level in args.levels:
        texts = prompts(level)
        # Every prompt read whole (no reuse across rounds), as the serial side reads them.
        backend = LlamaCppBackend(str(path), options=load, parallel=level, cache_prompt=False)
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
            "best_ratio": max(batched_rates) / max(serial_rates),
            "identical_greedy_texts": same,
        }
        rows.append(row)
        print(
            f"{level:>5} {row['batched_tok_s']:>14.1f} {row['serial_tok_s']:>13.1f} "
            f"{row['ratio']:>5.2f}x {row['best_ratio']:>5.2f}x {same:>5}/{level}",
            flush=True,
        )
    at_16 = next((row["ratio"] for row in rows if row["sequences"] == 16), None)
    if at_16 is not None:
        verdict = "PASS" if at_16 >= TARGET_AT_16 else "below target"
        print(f"at 16 sequences: {at_16:.2f}x (target {TARGET_AT_16}x: {verdict})")
    if args.json:
        build = llama_cpp.llama_print_system_info().decode().strip()
        report = {"threads": threads, "tokens": args.tokens, "build": build, "rows": rows}
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
