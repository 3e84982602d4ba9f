"""llmkit's renders against Go's own text/template running Ollama's data model, on Ollama's
template corpus and the founding seed.

The reference (``tests/template/go/ollamarender``, built with the Go of the test extra)
renders every template of the corpus and the seed with the conversations of
``tests/template/conversations.py`` (tools, tool calls with nested and numeric arguments,
images, thinking, unicode, ``<>&"`` and empty content); llmkit must produce the same bytes, or
fail where Go fails. ``tests/template/test_fixtures_differential.py`` does the same with
llmkit's own templates.
"""

from __future__ import annotations

import datetime as dt

import pytest
from conversations import CONVERSATIONS
from corpus_location import OLLAMA_TEMPLATES, SEED
from gorender import go_json_short_bf, go_render_many

from llmkit.template import Template, TemplateError

TEMPLATES = sorted(
    [*(OLLAMA_TEMPLATES / "template").glob("*.gotmpl"),
     *(OLLAMA_TEMPLATES / "tools" / "testdata").glob("*.gotmpl"),
     *SEED.glob("*.gotmpl")]
)  # fmt: skip


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
