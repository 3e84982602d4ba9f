"""The parser's work grows linearly with the output, fed in 1-8 character pieces.

Ten times the output must cost about ten times the time (quadratic work would cost a
hundred); the limit allows for a noisy shared machine. The two sizes are measured in turn,
best of three each, and a ratio over the limit is measured again (up to three times in all)
before it counts: a burst of load elsewhere can slow one run severalfold, while quadratic
work is over the limit every time. Absolute speed is reported by ``bench/toolparse.py``, not
asserted here.
"""

import random
import time

import pytest

from llmkit.tools import ToolCallParser

LIMIT = 20.0

PLAIN = "The quick brown fox — naïve café, 20°C; a <b>tag</b> and [brackets] {braces}. "
CALLS = (
    'Sure.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 3, '
    '"tags": ["a", "b"]}}\n</tool_call>\n'
)


def pieces(text: str) -> list[str]:
    rng = random.Random(7)
    out, i = [], 0
    while i < len(text):
        k = rng.randint(1, 8)
        out.append(text[i : i + k])
        i += k
    return out


def cpu_seconds(chunks: list[str], fmt: str, **kwargs) -> float:
    parser = ToolCallParser.for_format(fmt, ["get_weather", "f"], **kwargs)
    start = time.process_time()
    for chunk in chunks:
        parser.feed(chunk)
    parser.finish()
    return time.process_time() - start


def repeated(unit: str):
    return lambda size: (unit * (size // len(unit) + 1))[:size]


CASES = {
    # name: (output of a given size, format, small size, extra parser arguments)
    "plain text": (repeated(PLAIN), "hermes", 100_000, {}),
    "call-heavy": (repeated(CALLS), "hermes", 100_000, {}),
    "one huge call": (
        lambda n: (
            '<tool_call>{"name": "f", "arguments": {"text": "'
            + "x\\n" * (n // 3)
            + '"}}</tool_call>'
        ),
        "hermes",
        30_000,
        {},
    ),
    "failed block without its closing tag": (
        lambda n: "<tool_call>not json " + "words " * (n // 6),
        "hermes",
        30_000,
        {},
    ),
    "unclosed brace at the start": (lambda n: "{" + '"a": [' * (n // 6), "llama3_json", 30_000, {}),
    "huge python list": (
        lambda n: "[" + ", ".join(["f(x='y')"] * (n // 10)) + "]",
        "pythonic",
        30_000,
        {},
    ),
    "whitespace after a call": (
        lambda n: '[TOOL_CALLS]f[ARGS]{"a": 1}' + " " * n,
        "mistral",
        30_000,
        {},
    ),
    "long thinking": (
        lambda n: "<think>" + "hmm <thinking/> " * (n // 16) + "</think>done",
        "hermes",
        30_000,
        {"thinking": ("<think>", "</think>")},
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_ten_times_the_output_costs_about_ten_times_the_time(name):
    make_output, fmt, small, kwargs = CASES[name]
    small_chunks, large_chunks = pieces(make_output(small)), pieces(make_output(small * 10))
    ratios = []
    for _attempt in range(3):
        little = large = float("inf")
        for _ in range(3):
            little = min(little, cpu_seconds(small_chunks, fmt, **kwargs))
            large = min(large, cpu_seconds(large_chunks, fmt, **kwargs))
        ratios.append(f"{little:.3f}s -> {large:.3f}s")
        if large / little < LIMIT:
            return
    pytest.fail(f"{name}: ten times the output took more than {LIMIT:g}x: {'; '.join(ratios)}")
