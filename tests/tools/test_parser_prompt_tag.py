"""A template whose prompt ends with its tool-call tag: calls at the very start of the
output, and the tag written again, at the start or later, both read.

xLAM's template writes ``### Response:`` before an assistant turn, calls or text, and
ends the prompt with it: the model's output starts inside the block
(``{"tool_calls": [...]}``). Ollama looks for the tag anywhere in the output, so a model
that writes ``### Response:`` again gets its calls read there too; llmkit reads both.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parser_support import check_invariants, counting_ids, feed_all, normalized
from piece_cuts import pieces_of

from llmkit.template import Template
from llmkit.tools import ToolCallParser
from llmkit.tools.formats.base import Opener
from llmkit.tools.parser import format_for_template

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# xLAM's shape (no comma between the call objects, as xLAM's own template writes them).
RESPONSE_TAG_TEMPLATE = """\
{{- range .Messages }}
{{- if eq .Role "user" }}### Instruction:
{{ .Content }}
{{ else if .ToolCalls }}### Response:
{"tool_calls": [{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", \
"arguments": {{ .Function.Arguments }}}{{ end }}]}
<|EOT|>
{{ else if eq .Role "assistant" }}### Response:
{{ .Content }}
<|EOT|>
{{ end }}
{{- end }}### Response:"""

# The same, with the tag only before calls: the prompt does not end with it.
TAG_NOT_IN_PROMPT_TEMPLATE = """\
{{- range .Messages }}
{{- if eq .Role "user" }}### Instruction:
{{ .Content }}
{{ else if .ToolCalls }}### Response:
{"tool_calls": [{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", \
"arguments": {{ .Function.Arguments }}}{{ end }}]}
<|EOT|>
{{ else if eq .Role "assistant" }}{{ .Content }}
<|EOT|>
{{ end }}
{{- end }}"""

TOOLS = ["get_weather", "search"]
WEATHER = {"city": "Paris", "days": 3}
SEARCH = {"q": 'quote " backslash \\ ### Response: {"tool_calls": []}'}


def template() -> Template:
    return Template.from_go(RESPONSE_TAG_TEMPLATE)


def block(*calls: tuple[str, dict]) -> str:
    objects = ", ".join(
        json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        for name, arguments in calls
    )
    return '{"tool_calls": [' + objects + "]}"


def parse(pieces: list[str], tmpl: Template | None = None) -> list[tuple]:
    parser = ToolCallParser.for_template(tmpl or template(), TOOLS, id_factory=counting_ids)
    events = feed_all(parser, pieces)
    check_invariants(events, "".join(pieces))
    return normalized(events)


def calls_of(result: list[tuple]) -> list[tuple[str, dict]]:
    return [(e[3], e[4]) for e in result if e[0] == "call"]


def text_of(result: list[tuple]) -> str:
    return "".join(e[1] for e in result if e[0] == "TextChunk")


def test_the_prompt_ends_with_the_tag():
    tmpl = template()
    assert tmpl.tool_call_tag == "### Response:"
    assert tmpl.render([{"role": "user", "content": "hi"}]).endswith("### Response:")
    (opener,) = format_for_template(tmpl).openers
    assert opener.position_bound
    assert opener.pieces == ("{", '"tool_calls"', ":", "[")
    assert opener.prompt_tag == ("###", "Response:")


def test_a_tag_not_in_the_prompt_is_searched_for_as_before():
    tmpl = Template.from_go(TAG_NOT_IN_PROMPT_TEMPLATE)
    assert not tmpl.render([{"role": "user", "content": "hi"}]).endswith("### Response:")
    (opener,) = format_for_template(tmpl).openers
    assert not opener.position_bound and opener.prompt_tag == ()
    assert opener.after_tag is None
    output = "Sure.\n### Response:\n" + block(("get_weather", WEATHER))
    result = parse([output], tmpl)
    assert calls_of(result) == [("get_weather", WEATHER)]


def test_the_opener_after_the_tag_is_the_bound_one_behind_the_tag():
    bound = Opener(("{", '"k"', ":", "["), ("]", "}"), position_bound=True, prompt_tag=("#",))
    assert bound.after_tag == Opener(("#", "{", '"k"', ":", "["), ("]", "}"))


# Each output: what comes back as text, and the calls.
SHAPES = {
    "calls at the very start": (
        block(("get_weather", WEATHER)),
        "",
        [("get_weather", WEATHER)],
    ),
    "calls at the start after blank lines": (
        "\n " + block(("get_weather", WEATHER), ("search", SEARCH)) + "\n<|EOT|>",
        "\n \n<|EOT|>",
        [("get_weather", WEATHER), ("search", SEARCH)],
    ),
    "the tag repeated at the start": (
        "### Response:\n" + block(("get_weather", WEATHER)),
        "",
        [("get_weather", WEATHER)],
    ),
    "the tag repeated after blank space": (
        "\n### Response:\n" + block(("search", SEARCH)) + "\n<|EOT|>",
        "\n\n<|EOT|>",
        [("search", SEARCH)],
    ),
    "the tag later in the output": (
        "Let me look.\n### Response:\n" + block(("get_weather", WEATHER), ("search", SEARCH)),
        "Let me look.\n",
        [("get_weather", WEATHER), ("search", SEARCH)],
    ),
    "calls at the start, then the tag and more calls": (
        block(("get_weather", WEATHER)) + "\n<|EOT|>\n### Response:\n" + block(("search", SEARCH)),
        "\n<|EOT|>\n",
        [("get_weather", WEATHER), ("search", SEARCH)],
    ),
    "the tag, then plain text": (
        "### Response:\nIt is sunny. ### Notes: none",
        "### Response:\nIt is sunny. ### Notes: none",
        [],
    ),
    "plain text only": ("It is sunny.", "It is sunny.", []),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_calls_at_the_start_and_after_the_tag(shape):
    output, text, calls = SHAPES[shape]
    result = parse([output])
    assert calls_of(result) == calls
    assert text_of(result) == text
    assert not [e for e in result if e[0] == "problem"]
    assert parse(list(output)) == result


def test_the_call_s_raw_text_holds_the_repeated_tag():
    output = "Well.\n### Response:\n" + block(("get_weather", WEATHER))
    (call,) = [e for e in parse([output]) if e[0] == "call"]
    assert call[5] == output[len("Well.\n") :]


@SETTINGS
@given(shape=st.sampled_from(sorted(SHAPES)), data=st.data())
def test_both_shapes_in_random_pieces(shape, data):
    output, text, calls = SHAPES[shape]
    whole = parse([output])
    pieces = data.draw(pieces_of(output, max_cuts=20))
    assert parse(pieces) == whole
    assert calls_of(whole) == calls and text_of(whole) == text


@SETTINGS
@given(
    lead=st.sampled_from(["", "\n", "### Response:", "### Response:\n", "Ok. ### Response: "]),
    calls=st.lists(
        st.tuples(
            st.sampled_from(TOOLS),
            st.dictionaries(
                st.sampled_from(["a", "city", "q"]),
                st.text(st.sampled_from('ab "\\#:{}[]\n'), max_size=8),
                max_size=2,
            ),
        ),
        min_size=1,
        max_size=3,
    ),
    tail=st.sampled_from(["", "\n<|EOT|>", " ### Response:", "\n### Response: done"]),
    data=st.data(),
)
def test_generated_outputs_in_random_pieces(lead, calls, tail, data):
    output = lead + block(*calls) + tail
    whole = parse([output])
    assert calls_of(whole) == calls
    assert not [e for e in whole if e[0] == "problem"]
    assert parse(data.draw(pieces_of(output, max_cuts=20))) == whole
