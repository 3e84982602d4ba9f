"""The format derived from an Ollama template parses exactly what the template renders.

Every test template that writes tool calls (``data/templates``, one per family of call
syntax) renders an assistant message holding calls (one, several, with nested, unicode and
awkward arguments); the rendered text of that message goes through
``ToolCallParser.for_template`` and the same calls come back. The conformance suite runs the
same checks on Ollama's corpus (``tests/conformance/test_parser_corpus.py``).
"""

from pathlib import Path

import pytest
from parser_support import TOOL_TEMPLATES, check_invariants, feed_all, normalized

from llmkit.template import Template
from llmkit.tools import ToolCallParser
from llmkit.tools.formats.template import fallback_format, tag_pieces
from llmkit.tools.parser import format_for_template

TOOL_CALL_TEMPLATES = sorted(TOOL_TEMPLATES.glob("*.gotmpl"))
PLAIN_TEMPLATES = [Path(__file__).resolve().parents[1] / "data" / "templates" / "chatml.gotmpl"]
WEATHER = "get_current_weather"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": WEATHER,
            "description": "Current weather for a place",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "A city, e.g. Lyon"},
                    "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location", "format"],
            },
        },
    }
]

CALL_SETS = {
    "one": [(WEATHER, {"location": "Paris, France", "format": "celsius"})],
    "two": [
        (WEATHER, {"location": "San Francisco, CA", "format": "fahrenheit"}),
        (WEATHER, {"location": "Toronto, Canada", "format": "celsius"}),
    ],
    "nested-unicode": [
        (
            WEATHER,
            {
                "location": "Zürich — 東京 🎉",
                "options": {"days": [1, 2.5, -3], "units": None, "ok": True, "deep": {"a": {}}},
            },
        )
    ],
    "awkward-strings": [
        (
            WEATHER,
            {
                "location": 'quote " backslash \\ braces {} [] </tool_call> [TOOL_CALLS] ```',
                "format": "line\nbreak\ttab <b>&amp;</b>",
            },
        ),
        (WEATHER, {}),
    ],
    "three": [(WEATHER, {"location": str(n)}) for n in range(3)],
}


def rendered_call_text(template: Template, calls) -> str:
    """What the template writes for an assistant turn holding ``calls``: the part of the
    rendering that differs from the same conversation answered in plain text."""

    def conversation(assistant):
        return [
            {"role": "user", "content": "What's the weather?"},
            assistant,
            {"role": "user", "content": "Thanks."},
        ]

    with_calls = template.render(
        conversation(
            {
                "role": "assistant",
                "tool_calls": [{"function": {"name": n, "arguments": a}} for n, a in calls],
            }
        ),
        tools=TOOLS,
    )
    answered = template.render(conversation({"role": "assistant", "content": "PLAIN"}), tools=TOOLS)
    start = 0
    while with_calls[start] == answered[start]:
        start += 1
    end = 0
    while with_calls[-1 - end] == answered[-1 - end]:
        end += 1
    return with_calls[start : len(with_calls) - end]


@pytest.mark.parametrize("path", TOOL_CALL_TEMPLATES, ids=lambda p: p.stem)
@pytest.mark.parametrize("call_set", sorted(CALL_SETS))
def test_parses_exactly_what_the_template_renders(path, call_set):
    check_parses_exactly_what_the_template_renders(path, call_set)


def check_parses_exactly_what_the_template_renders(path, call_set):
    template = Template.from_file(path)
    calls = CALL_SETS[call_set]
    text = rendered_call_text(template, calls)
    parser = ToolCallParser.for_template(template, [WEATHER], id_factory=str)
    events = feed_all(parser, [text])
    check_invariants(events, text)
    result = normalized(events)
    assert [(e[3], e[4]) for e in result if e[0] == "call"] == calls
    assert not [e for e in result if e[0] == "problem"]
    assert all(e[1].isspace() for e in result if e[0] == "TextChunk"), result
    by_character = feed_all(ToolCallParser.for_template(template, [WEATHER], id_factory=str), text)
    assert normalized(by_character) == result


# What llmkit learns from each template: the opener's pieces (whitespace between them is
# free), the closing markup, whether the block is bound to the start of the output, and
# the key holding the name.
EXPECTED_FORMATS = {
    "command-r-plus": (("Action:", "```json", "["), ("]", "```"), False, "tool_name"),
    "command-r": (("Action:", "```json", "["), ("]", "```"), False, "tool_name"),
    "firefunction": (("functools", "["), ("]",), False, "name"),
    "llama3-groq-tool-use": (("<tool_call>",), ("</tool_call>",), False, "name"),
    "llama3.2": ((), (), True, "name"),
    "mistral": (("[TOOL_CALLS]", "["), ("]",), False, "name"),
    "nemotron": (("<toolcall>",), ("</toolcall>",), False, "name"),
    "qwen2.5": (("<tool_call>",), ("</tool_call>",), False, "name"),
    "qwen3": (("<tool_call>",), ("</tool_call>",), False, "name"),
    # The prompt ends with the tag "### Response:", so the output starts inside the block.
    "xlam": (("{", '"tool_calls"', ":", "["), ("]", "}"), True, "name"),
}


@pytest.mark.parametrize("path", TOOL_CALL_TEMPLATES, ids=lambda p: p.stem)
def test_what_is_learnt_from_each_template(path):
    check_what_is_learnt_from_the_template(path)


def check_what_is_learnt_from_the_template(path):
    (opener,) = format_for_template(Template.from_file(path)).openers
    pieces, close, bound, name_key = EXPECTED_FORMATS[path.stem]
    assert (opener.pieces, opener.close, opener.position_bound) == (pieces, close, bound)
    assert opener.shape.name_keys == (name_key,)


@pytest.mark.parametrize("path", PLAIN_TEMPLATES, ids=lambda p: p.stem)
def test_templates_without_tool_calls_read_json_at_the_start_as_ollama_does(path):
    check_a_template_without_tool_calls(path)


def check_a_template_without_tool_calls(path):
    template = Template.from_file(path)
    assert format_for_template(template) == fallback_format("{")
    parser = ToolCallParser.for_template(template, ["get_time"])
    result = parser.parse(' {"name": "get_time", "parameters": {"zone": "UTC"}}')
    assert [(c.name, c.arguments) for c in result.calls] == [("get_time", {"zone": "UTC"})]
    later = ToolCallParser.for_template(template, ["get_time"]).parse('It is {"name": "get_time"}')
    assert (later.calls, later.problems, later.text) == ([], [], 'It is {"name": "get_time"}')


def test_thinking_tags_come_from_the_template():
    template = Template.from_go(
        '{{ range .Messages }}{{ if eq .Role "assistant" }}'
        "{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}"
        "{{ if .ToolCalls }}<tool_call>{{ range .ToolCalls }}"
        '{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}'
        "{{ end }}</tool_call>{{ else }}{{ .Content }}{{ end }}"
        "{{ else }}{{ .Content }}{{ end }}{{ end }}"
    )
    output = (
        '<think>\nLook it up.\n</think>\n\n<tool_call>{"name": "f", "arguments": {"x": 1}}'
        "</tool_call>"
    )
    result = ToolCallParser.for_template(template, ["f"]).parse(output)
    assert result.thinking == "Look it up.\n"
    assert [(c.name, c.arguments) for c in result.calls] == [("f", {"x": 1})]
    assert result.text == ""
    unsplit = ToolCallParser.for_template(template, ["f"], thinking=False).parse(output)
    assert unsplit.thinking == "" and unsplit.text.startswith("<think>")


def test_a_template_that_cannot_render_calls_falls_back_to_its_tag():
    # Renders calls, but fails on the probe's tools: the tag alone decides.
    template = Template.from_go(
        "{{ range .Tools }}{{ .Function.Missing.Field }}{{ end }}"
        "{{ range .Messages }}{{ if .ToolCalls }}<call>{{ .ToolCalls }}{{ end }}{{ end }}"
    )
    assert template.tool_call_tag == "<call>"
    assert format_for_template(template) == fallback_format("<call>")
    result = ToolCallParser.for_template(template, ["f"]).parse('x<call>{"name": "f"}')
    assert [c.name for c in result.calls] == ["f"] and result.text == "x"


@pytest.mark.parametrize(
    ("tag", "pieces"),
    [
        ("<tool_call>", ("<tool_call>",)),
        ("functools[", ("functools", "[")),
        ("[TOOL_CALLS] [", ("[TOOL_CALLS]", "[")),
        ("Action: ```json\n[", ("Action:", "```json", "[")),
        ("[", ("[",)),
    ],
)
def test_tag_pieces(tag, pieces):
    assert tag_pieces(tag) == pieces


def test_the_derived_format_is_worked_out_once_per_template():
    template = Template.from_file(Path(TOOL_TEMPLATES / "qwen2.5.gotmpl"))
    assert format_for_template(template) is format_for_template(template)
