"""A tool-calling agent's conversation: llmkit's default backend against llama-cpp-python.

An agent's conversation grows a turn at a time behind a long system prompt (the tool
descriptions). Both sides load the same GGUF with the same context and threads, render the
model's own chat template, and stream greedy replies:

* llmkit: ``Client()`` on ``LlamaCppBackend`` with its defaults (the engine: slots that keep
  their prompt's cells, so a turn reads only what was added);
* direct: ``Llama.create_chat_completion(stream=True)``, which keeps its context's cache
  between calls and reads only the new suffix too.

Each side plays the same conversation: ``--turns`` user messages, each answered with
``--tokens`` greedy tokens, the answers appended as assistant messages (each side its own
answers; the texts are compared). Printed per turn: time to first token (TTFT); then the
total, the ratio and the late-turn TTFT ratio (the median of the last half of the turns).
Targets (the engine issue): total <= 0.6x and late-turn TTFT <= 0.9x llama-cpp-python's.
``--rounds`` repeats both sides, alternating which goes first; medians are reported. It
always exits 0: benchmarks inform, they do not fail CI. The CPU and llama.cpp's build flags
are printed with the results.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import llama_cpp
from llama_cpp import Llama

import llmkit
from llmkit.models import ModelStore
from llmkit_llamacpp import LlamaCppBackend

TOTAL_TARGET = 0.6
TTFT_TARGET = 0.9


def cpu_model() -> str:
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def system_prompt(tools: int) -> str:
    lines = ["You are an agent. You can call these tools; answer with a JSON call when needed."]
    for index in range(tools):
        lines.append(
            f"- tool_{index}(city: string, days: integer): returns the forecast number {index} "
            f"for a city over the given days, in degrees, with rain chances and wind speed."
        )
    return "\n".join(lines)


def questions(turns: int) -> list[str]:
    return [
        f"Turn {turn}: which tool gives forecast {turn * 3}, and for how long?"
        for turn in range(turns)
    ]


def play_llmkit(
    client: llmkit.Client, system: str, turns: int, tokens: int
) -> tuple[list[float], float, list[str]]:
    messages: list[dict[str, str]] = [{"role": "system", "content": system}]
    ttfts, answers = [], []
    options = {"temperature": 0, "repeat_penalty": 1.0, "num_predict": tokens}
    started = time.perf_counter()
    for question in questions(turns):
        messages.append({"role": "user", "content": question})
        asked = time.perf_counter()
        first: float | None = None
        text = ""
        with client.chat(messages, stream=True, options=options) as stream:
            for piece in stream.text_stream():
                if first is None and piece:
                    first = time.perf_counter()
                text += piece
        ttfts.append((first or time.perf_counter()) - asked)
        answers.append(text)
        messages.append({"role": "assistant", "content": text})
    return ttfts, time.perf_counter() - started, answers


def play_direct(
    llm: Llama, system: str, turns: int, tokens: int
) -> tuple[list[float], float, list[str]]:
    messages: list[dict[str, str]] = [{"role": "system", "content": system}]
    ttfts, answers = [], []
    started = time.perf_counter()
    for question in questions(turns):
        messages.append({"role": "user", "content": question})
        asked = time.perf_counter()
        first: float | None = None
        text = ""
        chunks = cast(
            Iterator[dict[str, Any]],
            llm.create_chat_completion(
                messages,  # type: ignore[arg-type]
                stream=True,
                max_tokens=tokens,
                temperature=0.0,
                repeat_penalty=1.0,
            ),
        )
        for chunk in chunks:
            piece = chunk["choices"][0]["delta"].get("content") or ""
            if first is None and piece:
                first = time.perf_counter()
            text += piece
        ttfts.append((first or time.perf_counter()) - asked)
        answers.append(text)
        messages.append({"role": "assistant", "content": text})
    return ttfts, time.perf_counter() - started, answers


def late(ttfts: list[float]) -> float:
    return statistics.median(ttfts[len(ttfts) // 2 :])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument("--tools", type=int, default=40, help="tool lines in the system prompt")
    parser.add_argument("--num-ctx", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    path = str(ModelStore().resolve(args.model))
    # Both sides take llama-cpp-python's thread defaults (half the CPUs to decode, all of
    # them to read prompts).
    llm = Llama(model_path=path, n_ctx=args.num_ctx, verbose=False)
    threads = f"{llm.context_params.n_threads} (prompts {llm.context_params.n_threads_batch})"
    backend = LlamaCppBackend(path, options={"num_ctx": args.num_ctx})
    client = llmkit.Client(backend)
    system = system_prompt(args.tools)
    prompt_tokens = len(llm.tokenize(system.encode()))
    print(f"CPU: {cpu_model()}")
    print(f"llama.cpp: {llama_cpp.llama_print_system_info().decode().strip()}")
    print(
        f"model {args.model}, system prompt {prompt_tokens} tokens, {args.turns} turns of "
        f"{args.tokens} greedy tokens, num_ctx {args.num_ctx}, threads {threads}"
    )
    client.chat([{"role": "user", "content": "hi"}], options={"num_predict": 1})  # load
    llm.create_chat_completion([{"role": "user", "content": "hi"}], max_tokens=1)

    totals: dict[str, list[float]] = {"llmkit": [], "direct": []}
    lates: dict[str, list[float]] = {"llmkit": [], "direct": []}
    same = 0
    for round_no in range(args.rounds):
        order = ["llmkit", "direct"] if round_no % 2 == 0 else ["direct", "llmkit"]
        results: dict[str, tuple[list[float], float, list[str]]] = {}
        for side in order:
            if side == "llmkit":
                results[side] = play_llmkit(client, system, args.turns, args.tokens)
            else:
                llm.reset()
                results[side] = play_direct(llm, system, args.turns, args.tokens)
        for side in ("llmkit", "direct"):
            ttfts, total, _ = results[side]
            totals[side].append(total)
            lates[side].append(late(ttfts))
            shown = " ".join(f"{t:.2f}" for t in ttfts)
            print(f"round {round_no} {side:>6}: total {total:6.2f} s, TTFT per turn [{shown}]")
        same += sum(a == b for a, b in zip(results["llmkit"][2], results["direct"][2], strict=True))
    total_ratio = statistics.median(totals["llmkit"]) / statistics.median(totals["direct"])
    ttft_ratio = statistics.median(lates["llmkit"]) / statistics.median(lates["direct"])
    print(
        f"total: llmkit {statistics.median(totals['llmkit']):.2f} s, llama-cpp-python "
        f"{statistics.median(totals['direct']):.2f} s, ratio {total_ratio:.2f} "
        f"(target <= {TOTAL_TARGET}: {verdict(total_ratio <= TOTAL_TARGET)})"
    )
    print(
        f"late-turn TTFT: llmkit {statistics.median(lates['llmkit']) * 1000:.0f} ms, "
        f"llama-cpp-python {statistics.median(lates['direct']) * 1000:.0f} ms, ratio "
        f"{ttft_ratio:.2f} (target <= {TTFT_TARGET}: {verdict(ttft_ratio <= TTFT_TARGET)})"
    )
    print(f"identical answers: {same} of {args.turns * args.rounds}")
    print(f"engine counters: {backend.engine_counters()}")
    backend.close()


if __name__ == "__main__":
    main()
