"""The parser's parts: the incremental scanners, the thinking splitter, the tag finder."""

import pytest
from parser_support import split_at

from llmkit.tools import Markup, TextChunk, ThinkingChunk, ThinkingSplitter
from llmkit.tools.scan import MAX_DEPTH, JsonScanner, PythonListScanner
from llmkit.tools.tags import NEED_MORE, TagFinder, match_literal, match_pieces


def scan(scanner, pieces):
    """Feed pieces as the blocks do; returns the offset where the scanner stopped."""
    for piece in pieces:
        pos = scanner.feed(piece, 0)
        if scanner.done or scanner.error is not None:
            return scanner.consumed
        assert pos == len(piece)
    return None


VALUE = (
    '{"name": "f", "arguments": {"s": "a\\"}{\\\\", "n": -1.5e3, "l": [true, false, null, {}]}}'
    " tail"
)


@pytest.mark.parametrize("cut", range(0, len(VALUE), 3))
def test_json_scanner_finds_the_end_and_the_call_parts_however_cut(cut):
    scanner = JsonScanner(name_keys=("name",), args_keys=("arguments",))
    end = scan(scanner, split_at(VALUE, [cut, cut + 1, cut + 5]))
    assert end == VALUE.index(" tail") and scanner.error is None
    assert scanner.name == "f" and scanner.keys_seen == 2
    assert (
        VALUE[scanner.args_start : scanner.args_end]
        == VALUE[VALUE.index('{"s"') : VALUE.index("} tail")]
    )


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("{ this is prose }", 2),
        ('{"a" 1}', 5),
        ('{"a": 1 "b": 2}', 8),
        ('{"a": [1, 2}', 11),
        ('{"a": tomorrow}', 14),
        ('{"a": 1.}', 8),
        ('{"a": 1,}', 8),
    ],
)
def test_json_scanner_stops_at_the_first_character_that_cannot_be_json(text, offset):
    scanner = JsonScanner()
    assert scan(scanner, list(text)) == offset
    assert scanner.error


def test_json_scanner_refuses_absurd_depth():
    scanner = JsonScanner()
    scan(scanner, ["[" * (MAX_DEPTH + 1)])
    assert "deeper" in scanner.error


def test_json_scanner_keeps_a_backslash_cut_from_what_it_escapes():
    scanner = JsonScanner(name_keys=("name",))
    assert scan(scanner, ['{"name": "a\\', '"b"}']) == len('{"name": "a\\"b"}')
    assert scanner.name == 'a"b'


@pytest.mark.parametrize(
    ("text", "names_ok"),
    [
        ("[f(x='''it's ] [ \"q\" '''), g()]", True),
        ('[f(x="""a""", y=")")]', True),
        ("[f(x='a\\'b')]", True),
        ("[f(x='')]", True),
        ("[]", False),
    ],
)
def test_python_scanner_handles_every_kind_of_string_however_cut(text, names_ok):
    for cut in range(len(text) + 1):
        scanner = PythonListScanner()
        pending = ""
        for piece in split_at(text + " after", [cut, cut + 1]):
            buffer = pending + piece
            pos = scanner.feed(buffer, 0)
            pending = buffer[pos:]
            if scanner.done:
                break
        assert scanner.done and scanner.consumed == len(text), (cut, scanner.consumed)
        assert scanner.looks_like_calls is names_ok


@pytest.mark.parametrize("text", ["[1]", "[ f x", "[f]", "x"])
def test_python_scanner_wants_a_call_list(text):
    scanner = PythonListScanner()
    scanner.feed(text, 0)
    assert scanner.error and not scanner.looks_like_calls


def test_python_scanner_records_the_top_level_commas():
    scanner = PythonListScanner()
    text = "[f(a=[1, 2], b={'x': 1, 'y': 2}), g(c=(3, 4)), h()]"
    scanner.feed(text, 0)
    assert scanner.done
    assert [text[i] for i in scanner.commas] == [",", ","]
    assert text[scanner.commas[0] + 2] == "g" and text[scanner.commas[1] + 2] == "h"


# -- thinking -----------------------------------------------------------------------


def split_thinking(pieces, **kwargs):
    splitter = ThinkingSplitter("<think>", "</think>", **kwargs)
    events = []
    for piece in pieces:
        events += splitter.feed(piece)
    events += splitter.finish()
    merged = []
    for event in events:
        if merged and type(merged[-1]) is type(event):
            merged[-1] = type(event)(
                getattr(merged[-1], "text", None) or merged[-1].raw + event.raw
                if isinstance(event, Markup)
                else merged[-1].text + event.text
            )
        else:
            merged.append(event)
    return merged


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            "<think>\nhmm\n</think>\n\nAnswer",
            [
                Markup("<think>\n"),
                ThinkingChunk("hmm\n"),
                Markup("</think>\n\n"),
                TextChunk("Answer"),
            ],
        ),
        (
            "  \n<think>x</think>y",
            [Markup("  \n<think>"), ThinkingChunk("x"), Markup("</think>"), TextChunk("y")],
        ),
        ("Answer <think>x</think>", [TextChunk("Answer <think>x</think>")]),
        ("  Answer", [TextChunk("  Answer")]),
        ("<think>never closed", [Markup("<think>"), ThinkingChunk("never closed")]),
        ("<thin", [TextChunk("<thin")]),
        ("<think></think>", [Markup("<think></think>")]),
        ("", []),
    ],
)
def test_thinking_is_split_as_ollama_splits_it_however_cut(output, expected):
    assert split_thinking([output]) == expected
    assert split_thinking(list(output)) == expected


def test_thinking_can_start_inside_when_the_prompt_opened_it():
    assert split_thinking(["I'm\nthinking</think>\n", "Answer"], start_inside=True) == [
        ThinkingChunk("I'm\nthinking"),
        Markup("</think>\n"),
        TextChunk("Answer"),
    ]


def test_thinking_needs_two_tags():
    with pytest.raises(ValueError):
        ThinkingSplitter("<think>", "")


# -- tags ---------------------------------------------------------------------------


def test_tag_finder_prefers_the_earliest_then_the_longest():
    finder = TagFinder(["<tool", "<tool_call>", "[TOOL_CALLS]"])
    assert finder.find("ab [TOOL_CALLS] <tool_call>", 0) == (3, "[TOOL_CALLS]")
    assert finder.find("x<tool_call>", 0) == (1, "<tool_call>")
    assert finder.find("nothing", 0) is None


@pytest.mark.parametrize(
    ("text", "held"),
    [("abc<tool_ca", 3), ("abc<", 3), ("abc[TOOL", 3), ("abc", 3), ("a<b", 3), ("<tool_call", 0)],
)
def test_tag_finder_holds_back_only_a_possible_tag_start(text, held):
    assert TagFinder(["<tool_call>", "[TOOL_CALLS]"]).holdback(text, 0) == held


def test_matching_pieces_with_any_whitespace_between():
    pieces = ("Action:", "```json", "[")
    assert match_pieces("Action: ```json\n  [x", 0, pieces, final=False) == len(
        "Action: ```json\n  ["
    )
    assert match_pieces("Action:```json[", 0, pieces, final=False) == len("Action:```json[")
    assert match_pieces("Action: ```js", 0, pieces, final=False) == NEED_MORE
    assert match_pieces("Action: ```js", 0, pieces, final=True) == 0
    assert match_pieces("Action: I will", 0, pieces, final=False) == 0
    assert match_pieces("Action:" + " " * 65 + "```json[", 0, pieces, final=False) == 0
    assert match_literal("<tool", 0, "<tool_call>") == NEED_MORE
    assert match_literal("<tool_call>", 0, "<tool_call>") == 1
    assert match_literal("<toad", 0, "<tool_call>") == 0
