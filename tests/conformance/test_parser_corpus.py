"""The tool-call parser on Ollama's own templates: the checks of
``tests/tools/test_parser_templates.py`` run on every corpus template, and every recorded
output that names a template parses the same with Ollama's template as with llmkit's."""

from __future__ import annotations

import pytest
from corpus_location import OLLAMA_TEMPLATES
from parser_support import RECORDED, counting_ids, feed_all, normalized
from test_parser_templates import (
    CALL_SETS,
    EXPECTED_FORMATS,
    check_a_template_without_tool_calls,
    check_parses_exactly_what_the_template_renders,
    check_what_is_learnt_from_the_template,
)

from llmkit.template import Template
from llmkit.tools import ToolCallParser

TOOLS_DIR = OLLAMA_TEMPLATES / "tools" / "testdata"
TOOL_CALL_TEMPLATES = [
    *sorted(TOOLS_DIR.glob("*.gotmpl")),
    OLLAMA_TEMPLATES / "template" / "command-r.gotmpl",
]
PLAIN_TEMPLATES = sorted(
    p for p in (OLLAMA_TEMPLATES / "template").glob("*.gotmpl") if p.stem != "command-r"
)


def test_every_corpus_tool_template_has_an_expected_format():
    assert sorted(p.stem for p in TOOL_CALL_TEMPLATES) == sorted(EXPECTED_FORMATS)


@pytest.mark.parametrize("path", TOOL_CALL_TEMPLATES, ids=lambda p: p.stem)
@pytest.mark.parametrize("call_set", sorted(CALL_SETS))
def test_parses_exactly_what_the_corpus_template_renders(path, call_set):
    check_parses_exactly_what_the_template_renders(path, call_set)


@pytest.mark.parametrize("path", TOOL_CALL_TEMPLATES, ids=lambda p: p.stem)
def test_what_is_learnt_from_each_corpus_template(path):
    check_what_is_learnt_from_the_template(path)


@pytest.mark.parametrize("path", PLAIN_TEMPLATES, ids=lambda p: p.stem)
def test_corpus_templates_without_tool_calls_read_json_at_the_start(path):
    check_a_template_without_tool_calls(path)


TEMPLATE_CASES = [case for case in RECORDED["cases"] if "template" in case]


@pytest.mark.parametrize("case", TEMPLATE_CASES, ids=lambda c: c["id"])
def test_recorded_outputs_read_with_ollama_s_own_template(case):
    """The recorded outputs that name a template read as expected with Ollama's template too,
    whole and one character at a time."""
    template = Template.from_file(TOOLS_DIR / f"{case['template']}.gotmpl")
    tools = RECORDED["tool_names"]
    result = ToolCallParser.for_template(template, tools, id_factory=counting_ids).parse(
        case["output"]
    )
    expect = case["expect"]
    assert [[call.name, call.arguments] for call in result.calls] == expect["calls"]
    assert result.text == expect["text"]
    assert [problem.kind for problem in result.problems] == expect["problems"]
    parser = ToolCallParser.for_template(template, tools, id_factory=counting_ids)
    whole = ToolCallParser.for_template(template, tools, id_factory=counting_ids)
    assert normalized(feed_all(parser, list(case["output"]))) == normalized(
        feed_all(whole, [case["output"]])
    )
