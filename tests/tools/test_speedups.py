"""The compiled scanners (llmkit.tools._speedups, C) behave exactly as the Python ones.

``PureJsonScanner`` and ``PurePythonListScanner`` are the reference. Both kinds are fed
the same text, cut in the same places, and compared after every piece: where each
stopped, what it consumed, whether it is done, its error message word for word, and what
it found on the way (a call's name and arguments span, top-level commas). The texts are
valid JSON and Python call lists, broken ones (a character inserted, dropped or changed;
cut short) and text in every width of Python string (ASCII, Latin-1, BMP, astral), cut
into pieces that include empty ones (one after every backslash in particular).

These tests need the compiled module: it is built by ``pip install`` (see hatch_build.py)
unless there was no C compiler or ``LLMKIT_BUILD_PURE=1`` was set.
"""

from __future__ import annotations

import gc
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from piece_cuts import empty_after_escapes

from llmkit.tools import ToolCallParser
from llmkit.tools.scan import MAX_DEPTH, PureJsonScanner, PurePythonListScanner

try:
    from llmkit.tools import _speedups
except ImportError:  # an install without a C compiler
    pytest.fail(
        "llmkit.tools._speedups is not built: reinstall llmkit with a C compiler and the "
        "Python headers (pip install -e .) to test the compiled scanners",
        pytrace=False,
    )

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

JSON_FIELDS = ("consumed", "done", "error", "name", "args_start", "args_end", "keys_seen", "stop")
PYTHON_FIELDS = ("consumed", "done", "error", "commas", "looks_like_calls", "stop")

# -- inputs --------------------------------------------------------------------------------

# Characters of every width (1-, 2- and 4-byte PEP 393 strings) and the JSON/Python syntax.
alphabet = st.sampled_from([*"ab \"\\/{}[]:,()'\n\t0-.eE+é€🎉", "\\u00e9", "\\n"])


def texts(max_size: int) -> st.SearchStrategy[str]:
    return st.lists(alphabet, max_size=max_size).map("".join)


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    texts(10),
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["k", "name", "arguments", "x\\y", "é"]), inner, max_size=4
        ),
    ),
    max_leaves=14,
)
edits = st.lists(
    st.tuples(st.integers(0, 10**6), st.sampled_from(["insert", "drop", "replace"]), alphabet),
    max_size=3,
)
cuts = st.lists(st.integers(0, 12), max_size=40)  # a size 0 is an empty piece


def edited(text: str, changes: list[tuple[int, str, str]]) -> str:
    for at, how, char in changes:
        at %= len(text) + 1
        if how == "insert":
            text = text[:at] + char + text[at:]
        elif how == "drop":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + char + text[at + 1 :]
    return text


def split(text: str, sizes: list[int]) -> list[str]:
    """``text`` cut into pieces of the given sizes (0: an empty piece), and the rest."""
    pieces, start = [], 0
    for size in sizes:
        if start >= len(text):
            break
        pieces.append(text[start : start + size])
        start += size
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def state(scanner: object, fields: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(getattr(scanner, field) for field in fields)


def feed_both(make_pure, make_compiled, fields, pieces, *, keep_rest: bool) -> None:
    """Feed both scanners piece by piece and compare them after each piece."""
    pure, fast = make_pure(), make_compiled()
    pending = ""
    for piece in pieces:
        text = pending + piece if keep_rest else piece
        a, b = pure.feed(text, 0), fast.feed(text, 0)
        assert (a, *state(pure, fields)) == (b, *state(fast, fields)), (pieces, piece)
        pure.stop = fast.stop = False  # as the parser clears it
        if pure.done or pure.error is not None:
            return
        pending = text[a:] if keep_rest else ""


# -- JSON ----------------------------------------------------------------------------------


def feed_json_both(pieces: list[str]) -> None:
    """Both JSON scanners following a call object's name and arguments."""
    feed_both(
        lambda: PureJsonScanner(name_keys=("name",), args_keys=("arguments",)),
        lambda: _speedups.JsonScanner(name_keys=("name",), args_keys=("arguments",)),
        JSON_FIELDS,
        pieces,
        keep_rest=False,
    )


def json_call(value: object, arguments: object, spaced: bool) -> str:
    separators = (", ", ": ") if spaced else (",", ":")
    return json.dumps(
        {"name": "get_weather", "arguments": arguments, "id": value},
        ensure_ascii=False,
        separators=separators,
    )


@SETTINGS
@given(json_values, json_values, st.booleans(), edits, cuts, st.sampled_from(["", " tail", "}"]))
def test_json_scanners_agree_piece_by_piece(value, arguments, spaced, changes, sizes, tail):
    text = edited(json_call(value, arguments, spaced), changes) + tail
    for name_keys, args_keys in ((("name",), ("arguments", "parameters")), ((), ())):

        def pure(name_keys=name_keys, args_keys=args_keys):
            return PureJsonScanner(name_keys=name_keys, args_keys=args_keys)

        def fast(name_keys=name_keys, args_keys=args_keys):
            return _speedups.JsonScanner(name_keys=name_keys, args_keys=args_keys)

        feed_both(pure, fast, JSON_FIELDS, split(text, sizes), keep_rest=False)
        feed_both(pure, fast, JSON_FIELDS, list(text), keep_rest=False)
        feed_both(pure, fast, JSON_FIELDS, empty_after_escapes(list(text)), keep_rest=False)


@SETTINGS
@given(texts(60), cuts)
def test_json_scanners_agree_on_noise(text, sizes):
    feed_json_both(split(text, sizes))
    feed_json_both(empty_after_escapes(split(text, sizes)))


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "a\\u00e9\\"b", "arguments": {"x": [1, -2.5e3, true, null]}}',
        '{"name": "bad \\x escape"}',
        '{"arguments": {"a": 01}}',
        '{"arguments": {"a": 1.}}',
        '{"arguments": {"a": tru}}',
        '{"arguments": {"a": nulls}}',
        '{"name": 5, "name": "second", "arguments": "{}"}',
        '["name", {"arguments": {}}]',
        "[" * (MAX_DEPTH + 1),
        '{"a" "b"}',
        '{"a": 1 "b": 2}',
        '"a string at the top"',
        "  \n{ }",
        '{"name": "é🎉€", "arguments": {"🎉": "€"}}',
    ],
)
def test_json_scanners_agree_on_chosen_cases(text):
    for sizes in ([len(text)], [1] * len(text), [3, 1, 7, 2] * len(text), [1, 0] * len(text)):
        feed_json_both(split(text, sizes))
        feed_json_both(empty_after_escapes(split(text, sizes)))


# -- Python call lists ---------------------------------------------------------------------

python_values = st.sampled_from(
    ["'a'", '"b, c"', "''", '""', "'''x'' y'''", '"""q"\n"""', "'a\\'b'", "'é🎉'", "1", "-2.5e3",
     "True", "None", "[1, (2, 3)]", "{'k': [1]}", "f(x=1)", "'(['", "'''", "\"\"\"a\"\""]
)  # fmt: skip
python_calls = st.builds(
    lambda name, arguments: name + "(" + ", ".join(f"{k}={v}" for k, v in arguments) + ")",
    st.sampled_from(["f", "get_weather", "a.b", "_x1", "1f", "é"]),
    st.lists(st.tuples(st.sampled_from(["x", "city", "from"]), python_values), max_size=3),
)


@SETTINGS
@given(st.lists(python_calls, max_size=4), st.sampled_from(["", " ", "\n"]), edits, cuts)
def test_python_list_scanners_agree_piece_by_piece(calls, space, changes, sizes):
    text = edited("[" + space + ("," + space).join(calls) + space + "] tail", changes)
    for pieces in (split(text, sizes), list(text), empty_after_escapes(list(text))):
        feed_both(
            PurePythonListScanner,
            _speedups.PythonListScanner,
            PYTHON_FIELDS,
            pieces,
            keep_rest=True,
        )


@SETTINGS
@given(texts(60), cuts)
def test_python_list_scanners_agree_on_noise(text, sizes):
    for pieces in (split("[f(" + text, sizes), empty_after_escapes(split("[f(" + text, sizes))):
        feed_both(
            PurePythonListScanner,
            _speedups.PythonListScanner,
            PYTHON_FIELDS,
            pieces,
            keep_rest=True,
        )


# -- the module itself ---------------------------------------------------------------------


def test_the_parser_uses_the_compiled_scanners_unless_told_not_to(monkeypatch):
    import subprocess
    import sys

    monkeypatch.delenv("LLMKIT_PURE_PYTHON", raising=False)
    code = (
        "import llmkit.tools.compiled as c, llmkit.tools.scan as s; "
        "print(c.IMPLEMENTATION, s.JsonScanner.__module__, s.PythonListScanner.__module__)"
    )
    default = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert default.stdout.split() == [
        "compiled", "llmkit.tools._speedups", "llmkit.tools._speedups"
    ]  # fmt: skip
    monkeypatch.setenv("LLMKIT_PURE_PYTHON", "1")
    pure = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert pure.stdout.split() == ["python", "llmkit.tools.scan", "llmkit.tools.scan_python"]


def test_bad_arguments_are_refused_by_name():
    scanner = _speedups.JsonScanner()
    with pytest.raises(TypeError, match="fed str, not bytes"):
        scanner.feed(b"{}", 0)
    with pytest.raises(TypeError, match=r"\(text, pos\) tuple"):
        scanner.send("{}")
    with pytest.raises(ValueError, match="negative"):
        scanner.feed("{}", -1)
    with pytest.raises(TypeError):
        _speedups.JsonScanner(("name",))  # keyword-only, as in Python
    with pytest.raises(AttributeError):
        scanner.done = True  # only ``stop`` is the caller's to clear
    with pytest.raises(TypeError):
        _speedups.PythonListScanner(1)


def test_a_finished_scanner_reads_no_further():
    scanner = _speedups.JsonScanner()
    assert scanner.feed("{} more", 0) == 2 and scanner.done
    assert scanner.feed("{}", 0) == 0 and scanner.consumed == 2
    lister = _speedups.PythonListScanner()
    assert lister.feed("x", 0) == 0 and lister.error == "expected '[', found 'x'"
    assert lister.feed("[f()]", 0) == 0


def test_scanners_leak_nothing():
    """Every path that makes objects (captured names, escapes decoded by json, errors,
    offsets, commas), run many times: memory stays flat."""
    import tracemalloc

    texts = [
        '{"name": "f\\u00e9", "arguments": {"a": [1, "x"]}, "b": tru',
        '{"name": "a\\qb"}',
        '{"name": "g", "arguments": {"k": 1.}}',
        "[" * (MAX_DEPTH + 1),
        '{"k": "v"} tail',
    ]

    def churn(times: int) -> None:
        for _ in range(times):
            for text in texts:
                scanner = _speedups.JsonScanner(name_keys=["name"], args_keys=("arguments",))
                for at in range(0, len(text), 3):
                    scanner.feed(text[at : at + 3], 0)
                    if scanner.done or scanner.error is not None:
                        break
            lister = _speedups.PythonListScanner()
            lister.feed('[f(x=\'a\'), g(y=1), h(z="""q""")]', 0)
            _speedups.PythonListScanner().feed("[1", 0)

    churn(200)
    gc.collect()
    tracemalloc.start()
    try:
        churn(200)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        churn(3000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 20_000, f"{grown} bytes kept after 3000 rounds"


def test_a_whole_response_parses_the_same_either_way():
    """End to end: the parser on the compiled scanners against the parser on the pure ones,
    for a call-heavy output cut into 1-8 character pieces."""
    import random

    from llmkit.tools import scan
    from llmkit.tools.formats import json_tagged, mistral, pythonic

    outputs = {
        "hermes": (
            'Hi.\n<tool_call>\n{"name": "f", "arguments": {"a": [1, "é🎉"]}}\n</tool_call>\n' * 20
        ),
        "mistral": '[TOOL_CALLS]f[ARGS]{"a": {"b": "\\"q\\""}}' * 20 + "[TOOL_CALLS]g[ARGS]{bad",
        "pythonic": "[" + ", ".join(["f(a='x', b=[1, 2])", 'g(c="""y""")'] * 10) + "] after",
    }
    rng = random.Random(3)

    def run(fmt: str, text: str) -> list[object]:
        parser = ToolCallParser.for_format(fmt, ["f", "g"], id_factory=str)
        events, i = [], 0
        while i < len(text):
            step = rng.randint(1, 8)
            events += parser.feed(text[i : i + step])
            i += step
        return events + parser.finish()

    def run_on(json_scanner: type, list_scanner: type, fmt: str, text: str) -> list[object]:
        originals = (json_tagged.JsonScanner, mistral.JsonScanner, pythonic.PythonListScanner)
        json_tagged.JsonScanner = mistral.JsonScanner = json_scanner
        pythonic.PythonListScanner = list_scanner
        try:
            rng.seed(3)
            return run(fmt, text)
        finally:
            json_tagged.JsonScanner, mistral.JsonScanner, pythonic.PythonListScanner = originals

    for fmt, text in outputs.items():
        with_compiled = run_on(_speedups.JsonScanner, _speedups.PythonListScanner, fmt, text)
        with_pure = run_on(scan.PureJsonScanner, scan.PurePythonListScanner, fmt, text)
        assert with_compiled == with_pure
        assert any(type(event).__name__ == "ToolCallComplete" for event in with_compiled)
