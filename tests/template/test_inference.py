"""The tags Ollama infers from a template: the tool-call tag and the thinking tags."""

from pathlib import Path

import pytest

from llmkit.template import Template

TOOL_TEMPLATES = Path(__file__).resolve().parents[1] / "tools" / "data" / "templates"
DATA_TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "templates"

#: The tags of llmkit's test templates, one per family of call syntax (the conformance suite
#: checks Ollama's own templates of those families give the same).
EXPECTED_TAGS = {
    "qwen2.5": "<tool_call>",
    "qwen3": "<tool_call>",
    "llama3-groq-tool-use": "<tool_call>",
    "nemotron": "<toolcall>",
    "mistral": "[TOOL_CALLS] [",
    "firefunction": "functools[",
    "command-r-plus": "Action: ```json\n[",
    "command-r": "Action: ```json\n[",
    "xlam": "### Response:",
    "llama3.2": "{",
}


@pytest.mark.parametrize(("name", "tag"), sorted(EXPECTED_TAGS.items()))
def test_tool_call_tag_of_each_tool_template(name, tag):
    assert Template.from_file(TOOL_TEMPLATES / f"{name}.gotmpl").tool_call_tag == tag


def test_every_tool_template_has_its_tag_listed():
    assert sorted(p.stem for p in TOOL_TEMPLATES.glob("*.gotmpl")) == sorted(EXPECTED_TAGS)


@pytest.mark.parametrize("path", sorted(DATA_TEMPLATES.glob("*.gotmpl")), ids=lambda p: p.stem)
def test_templates_without_a_tag_before_their_calls_use_a_brace(path):
    assert Template.from_file(path).tool_call_tag == "{"


@pytest.mark.parametrize(
    ("source", "tag"),
    [
        ("{{ if .ToolCalls }}<tc>{{ end }}", "<tc>"),
        ('{{ if .X }}{{ else if .ToolCalls }}\r\n [CALL] {"a"{{ end }}', "[CALL]"),
        ("{{ if and .ToolCalls .Y }}  {{ .Z }}<late>{{ end }}", "{"),
        (
            "{{ range .Messages }}{{ if .ToolCalls }}{{ if .A }}<a>{{ end }}{{ end }}{{ end }}",
            "<a>",
        ),
        ("{{ if $.ToolCalls }}<no>{{ end }}", "{"),
        ("{{ range .ToolCalls }}<no>{{ end }}", "{"),
    ],
)
def test_tool_call_tag_rules(source, tag):
    assert Template.from_go(source).tool_call_tag == tag


@pytest.mark.parametrize(
    ("source", "tags"),
    [
        (
            "{{ range .Messages }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}"
            "{{ .Content }}{{ end }}",
            ("<think>", "</think>"),
        ),
        ("{{ range .Messages }}{{ .Content }}{{ end }}", ("", "")),
        ("{{ range .Tools }}<t>{{ .Thinking }}</t>{{ end }}", ("", "")),
        ("{{ .Thinking }}", ("", "")),
    ],
)
def test_thinking_tags(source, tags):
    assert Template.from_go(source).thinking_tags == tags
