"""llmkit's in-process llama.cpp backend against llama-cpp-python called directly.

Both sides load the same GGUF file with the same context size and thread counts,
and stream the same raw prompt (no chat template) with the same greedy sampling
settings and token limit:

* llmkit: ``Client(LlamaCppBackend(..., cache_prompt=False)).generate(prompt, raw=True,
  stream=True, options=...)``; the engine reads every prompt whole (no reuse).
* direct: ``Llama(...).create_completion(prompt, stream=True, ...)`` after ``llm.reset()``,
  so llama-cpp-python's prompt cache helps neither side.

For each run it measures the time to first token (TTFT: call until the first
non-empty text) and the generation rate, ``(tokens - 1) / (end - first text)``.
llmkit's token count is ``Done.usage.eval_count``; the direct count is the token
limit when the completion stopped for length, else the output text re-tokenized.
After one warm-up run per side the sides are interleaved (which one goes first
alternates by round), each round is printed, and the medians are compared:
targets are llmkit >= 0.97x direct tok/s and llmkit TTFT <= 1.05x direct.
It always exits 0: benchmarks inform, they do not fail CI.

    python bench/inprocess.py [--rounds 5] [--tokens 128] [--threads N] [--model smollm2]
                              [--num-gpu LAYERS] [--json]

``--num-gpu`` offloads layers to the GPU on both sides (a CUDA build of llama.cpp is
needed; the header says whether this build can offload).  Run it with ``--num-gpu 0``
and ``--num-gpu -1`` to record CPU against GPU tokens/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, cast

from llama_cpp import CreateCompletionStreamResponse, Llama, llama_supports_gpu_offload

from llmkit import Client, Done, TextDelta
from llmkit_llamacpp import LlamaCppBackend

PROMPT = (
    "The following is a long, detailed history of the lighthouse keepers of a small island.\n\n"
    "Chapter 1\n\nThe first keeper of the lighthouse was"
)
SEED = 42
NUM_CTX = 2048
SAMPLING: dict[str, Any] = {
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_penalty": 1.0,
}
TOK_RATIO_TARGET = 0.97
TTFT_RATIO_TARGET = 1.05


@dataclass
class Run:
    tokens: int
    ttft_ms: float
    tok_s: float
    text: str


def _run(tokens: int, start: float, first: float | None, end: float, text: str) -> Run:
    first = first if first is not None else end
    rate = (tokens - 1) / (end - first) if tokens > 1 and end > first else 0.0
    return Run(tokens, (first - start) * 1000, rate, text)


def run_llmkit(client: Client, tokens: int) -> Run:
    options = {
        "temperature": 0.0,
        **SAMPLING,
        "repeat_last_n": 64,
        "seed": SEED,
        "num_predict": tokens,
        "num_ctx": NUM_CTX,
    }
    parts: list[str] = []
    first: float | None = None
    count = 0
    start = time.perf_counter()
    with client.generate(PROMPT, raw=True, stream=True, options=options) as stream:
        for event in stream:
            if isinstance(event, TextDelta):
                if first is None and event.text:
                    first = time.perf_counter()
                parts.append(event.text)
            elif isinstance(event, Done):
                count = event.usage.eval_count or 0
    end = time.perf_counter()
    return _run(count, start, first, end, "".join(parts))


def run_direct(llm: Llama, tokens: int) -> Run:
    parts: list[str] = []
    first: float | None = None
    reason = "length"
    llm.reset()  # no KV prefix reuse, as in llmkit
    start = time.perf_counter()
    chunks = cast(
        Iterator[CreateCompletionStreamResponse],
        llm.create_completion(
            PROMPT, stream=True, max_tokens=tokens, temperature=0.0, seed=SEED, **SAMPLING
        ),
    )
    for chunk in chunks:
        choice = chunk["choices"][0]
        if first is None and choice["text"]:
            first = time.perf_counter()
        parts.append(choice["text"])
        reason = choice["finish_reason"] or reason
    end = time.perf_counter()
    text = "".join(parts)
    # Chunks may hold several tokens; a completion cut for length holds exactly `tokens`.
    count = (
        tokens
        if reason == "length"
        else len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))
    )
    return _run(count, start, first, end, text)


def _line(label: str, run: Run) -> str:
    return f"{label:>7} {run.tokens:4d} tok {run.tok_s:8.1f} tok/s  ttft {run.ttft_ms:7.1f} ms"


def _public(run: Run) -> dict[str, Any]:
    return {k: v for k, v in asdict(run).items() if k != "text"}


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="model-store name or .gguf path")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--num-gpu", type=int, default=0, help="layers on the GPU (-1: all)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)

    load = {"num_ctx": NUM_CTX, "num_thread": args.threads, "num_gpu": args.num_gpu}
    backend = LlamaCppBackend(args.model, options=load, cache_prompt=False)
    client = Client(backend)
    path = backend.model_path
    llm = Llama(
        model_path=str(path),
        n_ctx=NUM_CTX,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_gpu_layers=args.num_gpu,
        verbose=False,
    )
    gpu = bool(llama_supports_gpu_offload())
    print(f"model {path}\nthreads {args.threads}, tokens {args.tokens}, rounds {args.rounds}")
    print(f"num_gpu {args.num_gpu} (this llama.cpp build can offload to a GPU: {gpu})")

    sides: dict[str, Callable[[], Run]] = {
        "llmkit": lambda: run_llmkit(client, args.tokens),
        "direct": lambda: run_direct(llm, args.tokens),
    }
    for name, side in sides.items():
        print(_line(f"warm-up {name}", side()))
    runs: dict[str, list[Run]] = {name: [] for name in sides}
    for i in range(args.rounds):  # interleaved; who goes first alternates by round
        for name in list(sides) if i % 2 == 0 else reversed(sides):
            runs[name].append(sides[name]())
        print(f"round {i + 1}: " + " | ".join(_line(n, runs[n][-1]) for n in sides))
    client.close()
    llm.close()

    med = {
        name: {
            "tok_s": statistics.median(r.tok_s for r in rs),
            "ttft_ms": statistics.median(r.ttft_ms for r in rs),
            "tokens": statistics.median(r.tokens for r in rs),
        }
        for name, rs in runs.items()
    }
    tok_ratio = _ratio(med["llmkit"]["tok_s"], med["direct"]["tok_s"])
    ttft_ratio = _ratio(med["llmkit"]["ttft_ms"], med["direct"]["ttft_ms"])
    same_text = all(a.text == b.text for a, b in zip(runs["llmkit"], runs["direct"], strict=True))

    print("\nmedians")
    for name, label in (("llmkit", "llmkit"), ("direct", "llama-cpp-python")):
        m = med[name]
        print(f"  {label:<17} {m['tok_s']:8.1f} tok/s  ttft {m['ttft_ms']:7.1f} ms")
    tok_ok, ttft_ok = tok_ratio >= TOK_RATIO_TARGET, ttft_ratio <= TTFT_RATIO_TARGET
    print(f"  tok/s ratio  {tok_ratio:.3f}  (target >= {TOK_RATIO_TARGET})  {_verdict(tok_ok)}")
    print(f"  TTFT ratio   {ttft_ratio:.3f}  (target <= {TTFT_RATIO_TARGET})  {_verdict(ttft_ok)}")
    print(f"  same output text on both sides: {'yes' if same_text else 'NO'}")
    if args.json:
        result = {
            "model": str(path),
            "threads": args.threads,
            "num_gpu": args.num_gpu,
            "gpu_offload_supported": gpu,
            "tokens": args.tokens,
            "rounds": {n: [_public(r) for r in rs] for n, rs in runs.items()},
            "median": med,
            "tok_s_ratio": tok_ratio,
            "ttft_ratio": ttft_ratio,
            "tok_s_pass": tok_ok,
            "ttft_pass": ttft_ok,
            "same_text": same_text,
        }
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
