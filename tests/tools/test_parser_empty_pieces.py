"""An empty piece changes nothing, even right after a backslash inside a string.

A piece that ends with a backslash inside a string leaves the scanner with a pending
escape: the next character belongs to the string whatever it is. An empty piece that
arrives then must leave the escape pending (the pure scanners used to drop it, so that
the escaped quote that followed ended the string).
"""

from __future__ import annotations

import pytest
from parser_support import check_invariants, counting_ids, feed_all, normalized
from piece_cuts import after_backslashes, empty_after_escapes

from llmkit.tools import ToolCallParser
from llmkit.tools.scan import JsonScanner, PythonListScanner

# -- the scanners ----------------------------------------------------------------------


@pytest.mark.parametrize("empties", [1, 2])
def test_json_scanner_keeps_a_pending_escape_across_an_empty_piece(empties):
    scanner = JsonScanner(name_keys=("name",), args_keys=("arguments",))
    pieces = ['{"name": "f", "arguments": {"a": "q\\', *[""] * empties, '"b"}} tail']
    for piece in pieces[:-1]:
        assert scanner.feed(piece, 0) == len(piece)
        assert scanner.error is None and not scanner.done
    assert scanner.feed(pieces[-1], 0) == len('"b"}}')
    assert scanner.error is None, scanner.error
    text = "".join(pieces)
    assert scanner.done and scanner.consumed == text.index(" tail")
    assert scanner.name == "f"
    assert text[scanner.args_start : scanner.args_end] == '{"a": "q\\"b"}'


def test_json_scanner_keeps_a_pending_escape_in_a_captured_name():
    """The name is captured as it is scanned: the escape must reach the capture whole."""
    scanner = JsonScanner(name_keys=("name",), args_keys=("arguments",))
    for piece in ['{"name": "f\\', "", '"g", "arguments": {}}']:
        scanner.feed(piece, 0)
        assert scanner.error is None, scanner.error
    assert scanner.done and scanner.name == 'f"g'


@pytest.mark.parametrize(
    "pieces",
    [
        ["[f(a='q\\", "", "'b')]"],
        ['[f(a="q\\', "", '"b")]'],
        ["[f(a='''q\\", "", "'''b''')]"],
        ["[f(a='q\\", "", "", "'b', c=[1, 'x\\", "", "\\'])]"],
    ],
)
def test_python_list_scanner_keeps_a_pending_escape_across_an_empty_piece(pieces):
    scanner, pending = PythonListScanner(), ""
    for piece in pieces:
        buffer = pending + piece  # as the parser feeds it: what the scanner left, then more
        pos = scanner.feed(buffer, 0)
        pending = buffer[pos:]
        assert scanner.error is None, scanner.error
    assert scanner.done and scanner.consumed == len("".join(pieces))


# -- the parser ------------------------------------------------------------------------

CASES = [
    (
        "hermes",
        '<tool_call>{"name": "f", "arguments": {"a": "q\\"b"}}</tool_call>',
        {"a": 'q"b'},
    ),
    ("mistral", '[TOOL_CALLS]f[ARGS]{"a": "q\\"b", "c": "\\\\"}', {"a": 'q"b', "c": "\\"}),
    ("llama3_json", '{"name": "f", "parameters": {"a": "\\\\\\"q\\\\"}}', {"a": '\\"q\\'}),
    ("pythonic", "[f(a='q\\'b', c=\"\\\"\", d='''\\'''')]", {"a": "q'b", "c": '"', "d": "'"}),
]


def _parse(fmt: str, pieces: list[str]) -> list:
    events = feed_all(ToolCallParser.for_format(fmt, ["f"], id_factory=counting_ids), pieces)
    check_invariants(events, "".join(pieces))
    return normalized(events)


def test_the_reported_case():
    """The report: a piece ending with a backslash, an empty piece, then the rest."""
    pieces = ['<tool_call>{"name": "f", "arguments": {"a": "q\\', "", '"b"}}</tool_call>']
    result = _parse("hermes", pieces)
    assert [e for e in result if e[0] == "problem"] == []
    assert [(e[3], e[4]) for e in result if e[0] == "call"] == [("f", {"a": 'q"b'})]
    pythonic_pieces = ["[f(a='q\\", "", "'b')]"]
    result = _parse("pythonic", pythonic_pieces)
    assert [e for e in result if e[0] == "problem"] == []
    assert [(e[3], e[4]) for e in result if e[0] == "call"] == [("f", {"a": "q'b"})]


@pytest.mark.parametrize(("fmt", "output", "arguments"), CASES, ids=[c[0] for c in CASES])
def test_an_empty_piece_after_any_backslash_changes_nothing(fmt, output, arguments):
    whole = _parse(fmt, [output])
    assert [(e[3], e[4]) for e in whole if e[0] == "call"] == [("f", arguments)]
    assert not [e for e in whole if e[0] == "problem"]
    for at in after_backslashes(output):
        for pieces in (
            [output[:at], "", output[at:]],
            [output[:at], "", "", output[at:]],
            [output[:at], "", output[at : at + 1], "", output[at + 1 :]],
        ):
            assert _parse(fmt, pieces) == whole, pieces
    assert _parse(fmt, empty_after_escapes(list(output))) == whole


@pytest.mark.parametrize(("fmt", "output", "arguments"), CASES, ids=[c[0] for c in CASES])
def test_an_empty_piece_anywhere_changes_nothing(fmt, output, arguments):
    whole = _parse(fmt, [output])
    for at in range(len(output) + 1):
        assert _parse(fmt, [output[:at], "", output[at:]]) == whole, at
