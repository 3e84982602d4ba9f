"""The parser on model outputs recorded by other projects (tests/tools/data), per format:
whole, one character at a time (with an empty piece after each backslash), and at every
single cut point (with an empty piece there)."""

import pytest
from parser_support import (
    RECORDED,
    check_invariants,
    normalized,
    parser_for_case,
    run_pieces,
)
from piece_cuts import empty_after_escapes

from llmkit.tools import FORMAT_NAMES, ParsedOutput

CASES = RECORDED["cases"]
IDS = [case["id"] for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reads_what_the_case_expects(case):
    result = parser_for_case(case).parse(case["output"])
    expect = case["expect"]
    assert [[call.name, call.arguments] for call in result.calls] == expect["calls"]
    assert result.text == expect["text"]
    assert [problem.kind for problem in result.problems] == expect["problems"]
    assert result.thinking == expect.get("thinking", "")
    assert [call.unknown for call in result.calls] == expect.get(
        "unknown", [False] * len(result.calls)
    )
    if "ids" in expect:
        assert [call.id for call in result.calls] == expect["ids"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_one_character_at_a_time_changes_nothing(case):
    output = case["output"]
    whole = run_pieces(case, [output])
    by_character = run_pieces(case, empty_after_escapes(list(output)))
    check_invariants(whole, output)
    check_invariants(by_character, output)
    assert normalized(by_character) == normalized(whole)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_single_cut_changes_nothing(case):
    output = case["output"]
    whole = normalized(run_pieces(case, [output]))
    for cut in range(1, len(output)):
        events = run_pieces(case, [output[:cut], "", output[cut:]])
        assert normalized(events) == whole, f"cut at {cut}: {output[:cut]!r} | {output[cut:]!r}"


def test_every_named_format_has_recorded_outputs():
    formats = {case["format"] for case in CASES if "format" in case}
    assert formats == set(FORMAT_NAMES) - {"qwen"}  # qwen is hermes by another name


def test_every_case_cites_its_source():
    for case in CASES:
        assert case["source"]["url"] and case["source"]["license"], case["id"]


def test_collected_output_lists_only_offered_calls_as_public_tool_calls():
    case = next(c for c in CASES if c["id"] == "hermes-llamacpp-two-blocks")
    result = ParsedOutput.from_events(run_pieces(case, [case["output"]]))
    calls = result.tool_calls
    assert [(c.function.name, c.function.arguments, c.function.index) for c in calls] == [
        ("special_function", {"arg1": 1}, 0),
        ("python", {"code": "print('hello')"}, 1),
    ]
