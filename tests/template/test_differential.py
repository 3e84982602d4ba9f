"""llmkit's renders against Go's own text/template running Ollama's data model.

The reference (``go/ollamarender``, built with Debian's Go) renders every template in the
corpus and the seed with conversations covering tools, tool calls with nested and numeric
arguments, images, thinking, unicode, ``<>&"`` and empty content; llmkit must produce the
same bytes, or fail where Go fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gorender import go_json_short_bf, go_render_many

from llmkit.template import Template, TemplateError

SHARED = Path(__file__).resolve().parents[3] / "shared"
CORPUS = SHARED / "corpus"
TEMPLATES = sorted(
    [*(CORPUS / "ollama-templates" / "template").glob("*.gotmpl"),
     *(CORPUS / "ollama-templates" / "tools" / "testdata").glob("*.gotmpl"),
     *(CORPUS / "seed").glob("*.gotmpl")]
)  # fmt: skip

WEATHER = json.loads(
    (CORPUS / "ollama-templates" / "tools" / "testdata" / "tools.json").read_text()
)
NESTED_TOOL = {
    "type": "function",
    "function": {
        "name": "book_trip",
        "description": 'Book a trip <fast> & "cheap"',
        "parameters": {
            "type": "object",
            "required": ["city", "nights"],
            "properties": {
                "nights": {"type": "integer", "description": "nights", "minimum": 1},
                "city": {"type": ["string", "null"], "enum": ["Paris", "Zürich"]},
                "options": {
                    "type": "object",
                    "properties": {"zeta": {"type": "boolean"}, "alpha": {"type": "number"}},
                },
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
            },
        },
    },
}
CONVERSATIONS: dict[str, dict] = {
    "plain": {"messages": [{"role": "user", "content": "Hello"}]},
    "system-multi": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Hi"},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"},
        ]
    },
    "escapes-unicode": {
        "messages": [
            {"role": "user", "content": 'a <b> & "c" \\ \t é 日本 😀 \u2028'},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": ""},
        ]
    },
    "prefill": {
        "messages": [
            {"role": "user", "content": "Write a poem"},
            {"role": "assistant", "content": "Roses are"},
        ]
    },
    "tools": {
        "messages": [
            {"role": "system", "content": "You call tools."},
            {"role": "user", "content": "Weather in Paris and a trip?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "function": {
                            "name": "get_current_weather",
                            "arguments": {"location": "Paris", "format": "celsius"},
                        }
                    },
                    {
                        "id": "call_2",
                        "function": {
                            "index": 1,
                            "name": "book_trip",
                            "arguments": {
                                "city": "Zürich",
                                "nights": 1000000,
                                "ratio": 0.5,
                                "tiny": 1e-7,
                                "options": {"b": [1, 2.5, None, True], "a": {"deep": "<x>"}},
                            },
                        },
                    },
                ],
            },
            {"role": "tool", "content": "22", "tool_name": "get_current_weather"},
            {"role": "tool", "content": '{"ok": true}', "tool_call_id": "call_2"},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [*WEATHER, NESTED_TOOL],
    },
    "empty-tools": {"messages": [{"role": "user", "content": "x"}], "tools": []},
    "thinking": {
        "messages": [
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4", "thinking": "add them"},
            {"role": "user", "content": "3+3?"},
        ],
        "think": True,
    },
    "think-level": {"messages": [{"role": "user", "content": "q"}], "think": "high"},
    "images": {
        "messages": [
            {"role": "user", "content": "what is [img] this?", "images": ["aGVsbG8="]},
            {"role": "user", "content": "and these", "images": ["aGk=", "eW8="]},
        ]
    },
    "fim": {"messages": [], "prompt": "def add(a, b):", "suffix": "return c"},
}


COMPAT = ("current", "v0.14", "v0.13")


def _cases():
    for compat in COMPAT:
        for path in TEMPLATES:
            for conversation in CONVERSATIONS:
                yield path, conversation, compat


CASES = list(_cases())


@pytest.fixture(scope="module")
def reference():
    payload = []
    for path, conversation, compat in CASES:
        values = CONVERSATIONS[conversation]
        payload.append({
            "template": path.read_text(),
            "messages": values["messages"],
            "tools": values.get("tools"),
            "think": values.get("think"),
            "prompt": values.get("prompt"),
            "suffix": values.get("suffix"),
            "compat": compat,
            "today": "2026-11-28",
        })  # fmt: skip
    return go_render_many(payload)


def _normalise_go(text: str) -> str:
    # Debian's Go 1.19 writes \u0008 and \u000c; the Go Ollama is built with writes \b and \f.
    if go_json_short_bf():
        return text
    return text.replace("\\u0008", "\\b").replace("\\u000c", "\\f")


@pytest.mark.parametrize(
    ("index", "template", "conversation", "compat"),
    [(i, p.name, c, m) for i, (p, c, m) in enumerate(CASES)],
)
def test_same_bytes_as_go(index, template, conversation, compat, reference):
    import datetime as dt

    path, _, _ = CASES[index]
    values = CONVERSATIONS[conversation]
    expected = reference[index]
    try:
        rendered = Template.from_file(path).render(
            values["messages"],
            tools=values.get("tools"),
            think=values.get("think"),
            prompt=values.get("prompt") or "",
            suffix=values.get("suffix") or "",
            image_tags=True,
            today=dt.date(2026, 11, 28),
            compat=compat,
        )
    except TemplateError as exc:
        assert "error" in expected, f"llmkit failed where Go rendered: {exc}"
        return
    assert "error" not in expected, f"Go failed ({expected.get('error')}) where llmkit rendered"
    assert rendered == _normalise_go(expected["output"])
