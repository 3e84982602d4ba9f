"""The reference's statements, checked against llmkit rather than Go.

``test_gorender_selfcheck.py`` proves the Go reference program faithful to Ollama with one
small test per statement of ``ollama-template-semantics.md``. The same tests run here with
llmkit's renderer in the reference's place, so every statement is checked for llmkit too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import test_gorender_selfcheck as selfcheck
from gorender import GoRenderError

from llmkit.errors import InvalidRequestError
from llmkit.template import Template, TemplateExecError, TemplateSyntaxError

STATEMENT_TESTS = [
    name
    for name in dir(selfcheck)
    if name.startswith("test_")
    and name not in {"test_go_version_reported", "test_corpus_complete"}
    and not hasattr(getattr(selfcheck, name), "pytestmark")  # the corpus ones run elsewhere
]


def llmkit_render(
    template: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    *,
    think: Any = None,
    prompt: str | None = None,
    suffix: str | None = None,
    compat: str = "current",
    today: str = "2026-11-28",
) -> str:
    """``gorender.go_render``'s contract, served by llmkit."""
    try:
        compiled = Template.from_go(template)
    except TemplateSyntaxError as exc:
        raise GoRenderError(str(exc), "parse") from exc
    try:
        return compiled.render(
            messages,
            tools=tools,
            think=think,
            prompt=prompt or "",
            suffix=suffix or "",
            image_tags=True,
            today=dt.date.fromisoformat(today),
            compat=compat,
        )
    except TemplateExecError as exc:
        raise GoRenderError(str(exc), "execute") from exc
    except InvalidRequestError as exc:
        raise GoRenderError(str(exc), "request") from exc


@pytest.mark.parametrize("name", STATEMENT_TESTS)
def test_statement_holds_for_llmkit(name, monkeypatch):
    monkeypatch.setattr(selfcheck, "go_render", llmkit_render)
    monkeypatch.setattr(selfcheck, "go_json_short_bf", lambda: True)
    getattr(selfcheck, name)()
