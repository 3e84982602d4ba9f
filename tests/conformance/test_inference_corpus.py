"""The tags Ollama infers from its own templates: the tool-call tag of each."""

import pytest
from corpus_location import OLLAMA_TEMPLATES as CORPUS

from llmkit.template import Template

TOOLS = CORPUS / "tools" / "testdata"

# The reference lists these results for every tool template of the corpus.
EXPECTED_TAGS = {
    "qwen2.5": "<tool_call>",
    "qwen3": "<tool_call>",
    "llama3-groq-tool-use": "<tool_call>",
    "nemotron": "<toolcall>",
    "mistral": "[TOOL_CALLS] [",
    "firefunction": "functools[",
    "command-r-plus": "Action: ```json\n[",
    "xlam": "### Response:",
    "llama3.2": "{",
}


@pytest.mark.parametrize(("name", "tag"), sorted(EXPECTED_TAGS.items()))
def test_tool_call_tag_of_each_tool_template(name, tag):
    assert Template.from_file(TOOLS / f"{name}.gotmpl").tool_call_tag == tag


def test_command_r_builtin_template():
    assert Template.from_file(CORPUS / "template" / "command-r.gotmpl").tool_call_tag == (
        "Action: ```json\n["
    )


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (CORPUS / "template").glob("*.gotmpl") if p.stem != "command-r"),
    ids=lambda p: p.stem,
)
def test_templates_without_tool_calls_use_a_brace(path):
    assert Template.from_file(path).tool_call_tag == "{"
