"""The Jinja export's function table (``llmkit.template.jinja._functions.FUNCTIONS``)."""

from __future__ import annotations

import pytest

from llmkit.template import Template
from llmkit.template.codegen import FUNCTION_ARITY
from llmkit.template.gotemplate import BUILTINS
from llmkit.template.jinja import JinjaExportError
from llmkit.template.jinja._functions import FUNCTIONS
from llmkit.template.ollama import OLLAMA_FUNCTIONS


def test_every_go_function_but_call_is_exported():
    go_functions = set(BUILTINS) | set(OLLAMA_FUNCTIONS) | set(FUNCTION_ARITY)
    assert set(FUNCTIONS) == go_functions - {"call"}


def test_call_is_refused_by_name():
    with pytest.raises(JinjaExportError, match="the function call cannot be expressed"):
        Template.from_go("{{ range .Messages }}{{ call .Role }}{{ end }}").to_jinja()
