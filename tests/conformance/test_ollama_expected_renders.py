"""Ollama's own expected renders, byte for byte."""

import json

import pytest
from corpus_location import OLLAMA_TEMPLATES as CORPUS

from llmkit.template import Template

CASES = sorted(
    (d.name[: -len(".gotmpl")], conv.name)
    for d in (CORPUS / "template" / "testdata").glob("*.gotmpl")
    for conv in d.iterdir()
)
TOOL_TEMPLATES = sorted(p.stem for p in (CORPUS / "tools" / "testdata").glob("*.gotmpl"))
#: Since Ollama v0.14 `{{ .Function }}` prints Go struct syntax (issue #14601), so current
#: Ollama no longer renders these three as the mid-2025 .out files show.
STRUCT_SYNTAX_SINCE_V014 = {"qwen2.5", "qwen3", "llama3-groq-tool-use"}


def test_the_corpus_is_complete():
    assert len(CASES) == 60
    assert len(TOOL_TEMPLATES) == 9


@pytest.mark.parametrize(("name", "conversation"), CASES)
def test_builtin_template_renders(name, conversation, corpus_inputs):
    template = Template.from_file(CORPUS / "template" / f"{name}.gotmpl")
    rendered = template.render(corpus_inputs["conversations"][conversation])
    if name in corpus_inputs["strip_one_trailing_space"]:
        rendered = rendered.removesuffix(" ")
    expected = (CORPUS / "template" / "testdata" / f"{name}.gotmpl" / conversation).read_text()
    assert rendered == expected


@pytest.mark.parametrize("name", TOOL_TEMPLATES)
def test_tool_template_renders_as_current_ollama(name):
    folder = CORPUS / "tools" / "testdata"
    messages = json.loads((folder / "messages.json").read_text())
    tools = json.loads((folder / "tools.json").read_text())
    rendered = Template.from_file(folder / f"{name}.gotmpl").render(messages, tools=tools)
    expected = (folder / f"{name}.out").read_text()
    if name in STRUCT_SYNTAX_SINCE_V014:
        assert rendered != expected
        struct_syntax = (
            "{get_current_weather Get the current weather {object <nil> <nil> [location format] {"
        )
        assert struct_syntax in rendered
    else:
        assert rendered == expected


@pytest.mark.parametrize("name", TOOL_TEMPLATES)
def test_tool_template_renders_as_ollama_v013(name):
    folder = CORPUS / "tools" / "testdata"
    messages = json.loads((folder / "messages.json").read_text())
    tools = json.loads((folder / "tools.json").read_text())
    template = Template.from_file(folder / f"{name}.gotmpl")
    rendered = template.render(messages, tools=tools, compat="v0.13")
    assert rendered == (folder / f"{name}.out").read_text()
