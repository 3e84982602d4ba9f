"""What the parser does where formats leave room (docs/tools.md, "Parsing tool calls")."""

import doctest
import json
import re

import pytest
from parser_support import check_invariants, counting_ids, feed_all, normalized

import llmkit.tools.parser
from llmkit.errors import InvalidRequestError
from llmkit.tools import (
    FORMAT_NAMES,
    ParseProblem,
    TextChunk,
    ToolCallArgumentsDelta,
    ToolCallComplete,
    ToolCallParser,
    ToolCallStart,
)
from llmkit.types import Tool, ToolCall


def parse(fmt, output, tools=("get_weather", "f", "g"), **kwargs):
    parser = ToolCallParser.for_format(fmt, tools, id_factory=counting_ids, **kwargs)
    return parser.parse(output)


def events_of(fmt, pieces, tools=("get_weather", "f", "g")):
    return feed_all(ToolCallParser.for_format(fmt, tools, id_factory=counting_ids), pieces)


def test_the_module_example_runs():
    assert doctest.testmod(llmkit.tools.parser).failed == 0


# -- streaming --------------------------------------------------------------------


def test_a_call_streams_start_then_its_arguments_as_written_then_completes():
    pieces = [
        'Checking.<tool_call>{"name": "get_weather", "argu',
        'ments": {"ci',
        'ty": "Pa',
        'ris", "days": [1, 2]}}',
        "</tool_call>",
    ]
    events = events_of("hermes", pieces)
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "TextChunk",
        "ToolCallStart",
        "ToolCallArgumentsDelta",
        "ToolCallArgumentsDelta",
        "ToolCallArgumentsDelta",
        "ToolCallComplete",
    ]
    assert events[1] == ToolCallStart(0, "get_weather")
    streamed = "".join(e.text for e in events if isinstance(e, ToolCallArgumentsDelta))
    assert streamed == '{"city": "Paris", "days": [1, 2]}'
    assert events[-1] == ToolCallComplete(
        0,
        "id0",
        "get_weather",
        {"city": "Paris", "days": [1, 2]},
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}}'
        "</tool_call>",
    )
    assert [e for e in events[-1:]] and events[-1].unknown is False


def test_arguments_written_before_the_name_start_a_call_without_a_name():
    events = events_of(
        "hermes", ['<tool_call>{"arguments": {"x": 1', '}, "name": "f"}</tool_call>']
    )
    assert events[0] == ToolCallStart(0, None)
    assert events[-1].name == "f"
    check_invariants(events, '<tool_call>{"arguments": {"x": 1}, "name": "f"}</tool_call>')


def test_arguments_given_as_a_json_string_are_decoded_and_sent_once_as_json():
    events = events_of(
        "hermes", ['<tool_call>{"name": "f", "arguments": "{\\"x\\": [1, \\"é\\"]}"}</tool_call>']
    )
    deltas = [e.text for e in events if isinstance(e, ToolCallArgumentsDelta)]
    assert deltas == ['{"x": [1, "é"]}']
    assert events[-1].arguments == {"x": [1, "é"]}


def test_python_calls_report_their_arguments_as_json():
    events = events_of("pythonic", ["[f(x=(1, 2), y=None, z=true)]"])
    assert [type(e).__name__ for e in events] == [
        "ToolCallStart",
        "ToolCallArgumentsDelta",
        "ToolCallComplete",
    ]
    assert json.loads(events[1].text) == {"x": [1, 2], "y": None, "z": True}


# -- call objects -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "arguments"),
    [
        ('{"name": "f", "arguments": {"a": 1}, "parameters": {"b": 2}}', {"a": 1}),
        ('{"name": "f", "parameters": {"b": 2}}', {"b": 2}),
        ('{"name": "f"}', {}),
        ('{"name": "f", "arguments": null}', {}),
        ('{"name": "f", "arguments": ""}', {}),
        (
            '{"name": "f", "arguments": {"deep": {"list": [{"x": "é🎉"}]}}}',
            {"deep": {"list": [{"x": "é🎉"}]}},
        ),
    ],
)
def test_arguments_are_under_arguments_else_parameters(payload, arguments):
    result = parse("hermes", f"<tool_call>{payload}</tool_call>")
    assert [(c.name, c.arguments) for c in result.calls] == [("f", arguments)]


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ("not json", "invalid_json"),
        ('{"name": "f", "arguments": {"a": 1,}}', "invalid_json"),
        ('{"name": "f", "arguments": {"a": tru}}', "invalid_json"),
        ('{"name": "f", "arguments": {"a": 01}}', "invalid_json"),
        ('{"name": "f", "arguments": {"a": "\\x"}}', "invalid_json"),
        ('{"tool": "f"}', "missing_name"),
        ('{"name": 3}', "missing_name"),
        ('{"name": "f", "arguments": [1]}', "invalid_arguments"),
        ('{"name": "f", "arguments": "not json"}', "invalid_arguments"),
        ("[1, 2]", "invalid_json"),
        ("[]", "empty"),
        ("", "invalid_json"),
    ],
)
def test_a_failed_block_is_text_up_to_its_closing_tag_then_parsing_resumes(payload, kind):
    output = (
        f'before <tool_call>{payload}</tool_call> middle <tool_call>{{"name": "g"}}</tool_call>'
    )
    result = parse("hermes", output)
    assert [p.kind for p in result.problems] == [kind]
    assert result.problems[0].raw == f"<tool_call>{payload}</tool_call>"
    assert result.text == f"before <tool_call>{payload}</tool_call> middle "
    assert [c.name for c in result.calls] == ["g"]


def test_a_failed_block_without_its_closing_tag_ends_at_the_next_opening_tag():
    output = '<tool_call>{"name": oops <tool_call>{"name": "f"}</tool_call>'
    result = parse("hermes", output)
    assert [p.raw for p in result.problems] == ['<tool_call>{"name": oops ']
    assert [c.name for c in result.calls] == ["f"]
    assert result.text == '<tool_call>{"name": oops '


def test_a_complete_call_whose_closing_tag_was_cut_off_is_valid():
    result = parse("hermes", 'x<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n')
    assert [(c.name, c.arguments, c.raw) for c in result.calls] == [
        ("f", {"a": 1}, '<tool_call>\n{"name": "f", "arguments": {"a": 1}}')
    ]
    assert result.text == "x\n" and not result.problems


def test_output_ending_inside_a_call_is_text_with_a_problem():
    for cut in (
        "<tool_call>",
        '<tool_call>\n{"na',
        '<tool_call>{"name": "f", "arguments": {"a": [1',
    ):
        result = parse("hermes", cut)
        assert (result.text, [p.kind for p in result.problems], result.calls) == (
            cut,
            ["truncated"],
            [],
        )


def test_an_abandoned_call_gives_its_index_to_the_next_one():
    events = events_of(
        "hermes",
        [
            '<tool_call>{"name": "f", "arguments": {"a": 1}, oops}</tool_call>',
            '<tool_call>{"name": "g"}</tool_call>',
        ],
    )
    problem = next(e for e in events if isinstance(e, ParseProblem))
    assert problem.index == 0 and problem.kind == "invalid_json"
    assert [(e.index, e.name) for e in events if isinstance(e, ToolCallStart)] == [
        (0, "f"),
        (0, "g"),
    ]
    assert [(e.index, e.name) for e in events if isinstance(e, ToolCallComplete)] == [(0, "g")]


def test_separators_between_objects_belong_to_the_calls_and_text_between_blocks_stays():
    output = (
        '<tool_call>{"name": "f"},\n{"name": "g"}; {"name": "f"}</tool_call> and '
        '<tool_call>{"name": "g"}</tool_call>\n'
    )
    result = parse("hermes", output)
    assert [c.raw for c in result.calls] == [
        '<tool_call>{"name": "f"}',
        ',\n{"name": "g"}',
        '; {"name": "f"}</tool_call>',
        '<tool_call>{"name": "g"}</tool_call>',
    ]
    assert [c.index for c in result.calls] == [0, 1, 2, 3]
    assert result.text == " and \n"


def test_calls_to_tools_not_offered_are_flagged_with_their_text():
    result = parse(
        "hermes",
        '<tool_call>{"name": "rm_rf", "arguments": {"path": "/"}}</tool_call>',
        tools=["f"],
    )
    (call,) = result.calls
    assert call.unknown and call.name == "rm_rf"
    assert call.raw == '<tool_call>{"name": "rm_rf", "arguments": {"path": "/"}}</tool_call>'
    assert result.tool_calls == []
    anything = parse("hermes", '<tool_call>{"name": "rm_rf"}</tool_call>', tools=None)
    assert not anything.calls[0].unknown


def test_the_name_is_the_json_name_never_a_tool_name_found_elsewhere():
    result = parse(
        "hermes",
        '<tool_call>{"name": "other", "arguments": {"q": "get_weather"}}</tool_call>',
        tools=["get_weather"],
    )
    assert [(c.name, c.unknown) for c in result.calls] == [("other", True)]


# -- position-bound formats -------------------------------------------------------


def test_position_bound_calls_count_only_at_the_start():
    assert [c.name for c in parse("llama3_json", '\n  {"name": "f", "parameters": {}}').calls] == [
        "f"
    ]
    later = parse("llama3_json", 'Use {"name": "f", "parameters": {}} like this')
    assert (later.calls, later.problems) == ([], [])
    code = parse("pythonic", "Call it as [f(x=1)]")
    assert (code.calls, code.problems, code.text) == ([], [], "Call it as [f(x=1)]")


def test_output_that_merely_starts_with_a_bracket_is_text_without_a_problem():
    for fmt, output in [
        ("llama3_json", "{ this is prose }"),
        ("llama3_json", "[1] Intro"),
        ("pythonic", "[1] Intro"),
        ("pythonic", "[Link](https://x.y)"),
        ("llama3_json", "{}"),
    ]:
        result = parse(fmt, output)
        assert (result.text, result.calls, result.problems) == (output, [], []), (fmt, output)


def test_python_tag_opens_a_llama_call_anywhere():
    result = parse(
        "llama3_json",
        'Sure. <|python_tag|>{"name": "f", "parameters": {"x": 1}}; '
        '{"name": "g", "parameters": {}}',
    )
    assert [(c.name, c.arguments) for c in result.calls] == [("f", {"x": 1}), ("g", {})]
    assert result.text == "Sure. "


def test_python_keyword_named_arguments():
    result = parse("pythonic", "[search(from='SFO', to='JFK', class='eco')]", tools=["search"])
    assert [(c.name, c.arguments) for c in result.calls] == [
        ("search", {"from": "SFO", "to": "JFK", "class": "eco"})
    ]


@pytest.mark.parametrize(
    ("output", "kind"),
    [
        ("[f(1, 2)]", "invalid_arguments"),
        ("[f(**x)]", "invalid_arguments"),
        ("[f(x=y)]", "invalid_arguments"),
        ("[f(x={1, 2})]", "invalid_arguments"),
        ("[f(x=b'1')]", "invalid_arguments"),
        ("[f(x=1), 3]", "not_a_call"),
        ("[f(x=1) g()]", "invalid_python"),
        ("[f(x=1)", "truncated"),
    ],
)
def test_python_lists_that_are_not_calls(output, kind):
    result = parse("pythonic", output)
    assert ([p.kind for p in result.problems], result.text, result.calls) == ([kind], output, [])


# -- Mistral ----------------------------------------------------------------------


def test_mistral_call_ids_and_the_two_shapes():
    result = parse(
        "mistral",
        '[TOOL_CALLS]f[CALL_ID]a1B2c3D4e[ARGS]{"x": 1}'
        '[TOOL_CALLS] [{"name": "g", "arguments": {}, "id": "zz9"}]',
    )
    assert [(c.name, c.id, c.arguments) for c in result.calls] == [
        ("f", "a1B2c3D4e", {"x": 1}),
        ("g", "zz9", {}),
    ]


@pytest.mark.parametrize(
    ("output", "kind"),
    [
        ("[TOOL_CALLS]f[ARGS]not", "invalid_arguments"),
        ("[TOOL_CALLS]f[ARGS][1]", "invalid_arguments"),
        ("[TOOL_CALLS][ARGS]{}", "invalid_json"),
        ("[TOOL_CALLS]f(x=1)", "not_a_call"),
        ('[TOOL_CALLS]f[ARGS]{"x": 1', "truncated"),
    ],
)
def test_mistral_failures(output, kind):
    result = parse("mistral", output)
    assert ([p.kind for p in result.problems], result.text) == ([kind], output)


# -- ids, conversion, arguments to the constructors ---------------------------------


def test_generated_ids_look_like_ollamas_and_differ():
    result = ToolCallParser.for_format("hermes").parse(
        '<tool_call>{"name": "f"}{"name": "f"}</tool_call>'
    )
    ids = [c.id for c in result.calls]
    assert all(re.fullmatch(r"call_[a-z0-9]{8}", i) for i in ids) and len(set(ids)) == 2


def test_a_complete_call_becomes_llmkits_tool_call():
    (call,) = parse("hermes", '<tool_call>{"name": "f", "arguments": {"a": [1]}}</tool_call>').calls
    assert call.to_tool_call() == ToolCall.model_validate(
        {"id": "id0", "function": {"name": "f", "arguments": {"a": [1]}, "index": 0}}
    )
    assert hash(call) == hash(call)  # usable in sets despite its dict of arguments


def test_offered_tools_in_every_shape():
    tool = Tool.model_validate({"function": {"name": "a"}})
    tools = [
        tool,
        {"type": "function", "function": {"name": "b"}},
        {"name": "c"},
        "d",
        tool.function,
    ]
    result = parse(
        "hermes", "".join(f'<tool_call>{{"name": "{n}"}}</tool_call>' for n in "abcde"), tools=tools
    )
    assert [(c.name, c.unknown) for c in result.calls] == [
        ("a", False),
        ("b", False),
        ("c", False),
        ("d", False),
        ("e", True),
    ]


def test_a_tool_without_a_name_is_named_in_the_error():
    with pytest.raises(InvalidRequestError) as error:
        ToolCallParser.for_format("hermes", ["a", {"function": {"description": "x"}}])
    assert error.value.fields == ["tools.1.function.name"]


def test_an_unknown_format_is_an_error_listing_the_known_ones():
    with pytest.raises(InvalidRequestError, match="hermes") as error:
        ToolCallParser.for_format("nope")
    assert error.value.fields == ["format"]
    assert "llama3_json" in FORMAT_NAMES and "pythonic" in FORMAT_NAMES


def test_feeding_bytes_or_after_finish_is_refused():
    parser = ToolCallParser.for_format("hermes")
    with pytest.raises(TypeError, match="Utf8Pieces"):
        parser.feed(b"<tool_call>")
    assert parser.feed("hi") == [TextChunk("hi")]
    assert parser.finish() == []
    assert parser.finish() == []
    with pytest.raises(RuntimeError):
        parser.feed("more")


def test_plain_text_comes_out_as_it_arrives_and_only_tag_starts_wait():
    parser = ToolCallParser.for_format("hermes")
    assert parser.feed("Hello ") == [TextChunk("Hello ")]
    assert parser.feed("wor<tool") == [TextChunk("wor")]
    assert parser.feed("s> are") == [TextChunk("<tools> are")]
    assert parser.feed("") == []
    assert parser.finish() == []


def test_text_around_calls_is_kept_verbatim_in_every_format():
    for fmt in FORMAT_NAMES:
        output = "  Plain answer, with {braces}, [brackets] and <tags>.\n"
        result = parse(fmt, output)
        assert (result.text, result.calls, result.problems) == (output, [], []), fmt
        assert normalized(events_of(fmt, list(output))) == normalized(events_of(fmt, [output]))
