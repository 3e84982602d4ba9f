"""The Jinja export on Ollama's template corpus: every template's export status is pinned, and
each exported one renders llmkit's bytes under Hugging Face's and a bare Jinja environment for
every conversation of ``tests/template/test_jinja_export.py``."""

from __future__ import annotations

import pytest
from corpus_location import CORPUS
from test_jinja_export import (
    CONVERSATIONS,
    ENVIRONMENTS,
    _compiled,
    _corpus_template,
    jinja_chat_template_inputs,
    render_go,
    render_jinja,
)

from llmkit.chat_template import JinjaChatTemplate
from llmkit.template import Template
from llmkit.template.jinja import JinjaExportError, to_jinja

TEMPLATES = sorted(
    [*(CORPUS / "ollama-templates" / "template").glob("*.gotmpl"),
     *(CORPUS / "ollama-templates" / "tools" / "testdata").glob("*.gotmpl"),
     *(CORPUS / "seed").glob("*.gotmpl")]
)  # fmt: skip

#: Every corpus template and whether it exports: ``None``, or the reason it is refused.
EXPORT_STATUS: dict[str, str | None] = {
    "alfred.gotmpl": None,
    "alpaca.gotmpl": None,
    "chatml.gotmpl": None,
    "chatqa.gotmpl": None,
    "codellama-70b-instruct.gotmpl": None,
    "command-r.gotmpl": None,
    "falcon-instruct.gotmpl": None,
    "gemma-instruct.gotmpl": None,
    "gemma3-instruct.gotmpl": None,
    "granite-instruct.gotmpl": None,
    "llama2-chat.gotmpl": None,
    "llama3-instruct.gotmpl": None,
    "magicoder.gotmpl": None,
    "mistral-instruct.gotmpl": None,
    "openchat.gotmpl": None,
    "phi-3.gotmpl": None,
    "solar-instruct.gotmpl": None,
    "starcoder2-instruct.gotmpl": None,
    "vicuna.gotmpl": None,
    "zephyr.gotmpl": None,
    # tools/testdata
    "command-r-plus.gotmpl": None,
    "firefunction.gotmpl": None,
    "llama3-groq-tool-use.gotmpl": None,  # {{ .Function }}: Go struct syntax, emulated
    "llama3.2.gotmpl": None,
    "mistral.gotmpl": None,
    "nemotron.gotmpl": None,
    "qwen2.5.gotmpl": None,  # {{ .Function }}: Go struct syntax, emulated
    "qwen3.gotmpl": None,  # {{ .Function }}: Go struct syntax, emulated
    "xlam.gotmpl": None,
    # seed
    "llama3.1.gotmpl": None,
    "phi3.gotmpl": None,  # legacy path (.System/.Prompt/.Response)
}


# -- the corpus ------------------------------------------------------------------------


def test_every_corpus_template_has_a_status():
    assert sorted(p.name for p in TEMPLATES) == sorted(EXPORT_STATUS)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_corpus_export_status(path):
    expected = EXPORT_STATUS[path.name]
    template = Template.from_file(path)
    if expected is None:
        source = template.to_jinja()
        assert source == to_jinja(template._compiled)
        assert source == template.to_jinja(), "the export must be deterministic"
    else:
        with pytest.raises(JinjaExportError) as info:
            template.to_jinja()
        assert expected in str(info.value)


@pytest.fixture(scope="module")
def exports() -> dict[str, str]:
    return {
        p.name: Template.from_file(p).to_jinja() for p in TEMPLATES if not EXPORT_STATUS[p.name]
    }


CASES = [
    (p.name, c, env)
    for p in TEMPLATES
    if EXPORT_STATUS[p.name] is None
    for c in CONVERSATIONS
    for env in ENVIRONMENTS
]


@pytest.mark.parametrize(("name", "conversation", "env"), CASES)
def test_corpus_renders_the_same_bytes(name, conversation, env, exports):
    path = next(p for p in TEMPLATES if p.name == name)
    values = CONVERSATIONS[conversation]
    expected = render_go(_corpus_template(path), values)
    assert expected is not None, "the test conversations are valid for every corpus template"
    assert render_jinja(exports[name], values, env) == expected


def test_tool_templates_show_tools_and_calls(exports):
    """A sanity check that the comparisons above exercise the interesting parts."""
    values = CONVERSATIONS["tools"]
    qwen = render_jinja(exports["qwen3.gotmpl"], values)
    assert qwen is not None
    assert (
        '{"type": "function", "function": {book_trip Book a trip <fast> & "cheap" {object ' in qwen
    )
    assert '"nights":1000000' in qwen and '"tiny":1e-7' in qwen and '"big":1e+21' in qwen
    assert '"deep":"\\u003cx\\u003e \\u0026 \\"y\\""' in qwen
    llama = render_jinja(exports["llama3.1.gotmpl"], values)
    assert llama is not None
    assert '"description":"Book a trip \\u003cfast\\u003e \\u0026 \\"cheap\\""' in llama
    assert '"properties":{"alpha\\u0008":{"type":"number"},"zeta":' not in llama  # request order
    assert '"properties":{"zeta":{"type":"boolean"},"alpha\\u0008":{"type":"number"}}' in llama


def test_add_generation_prompt_and_bos_token_are_not_used(exports):
    values = CONVERSATIONS["system-multi"]
    for source in exports.values():
        template = _compiled(source, "hf")
        base = template.render(messages=values["messages"])
        assert template.render(messages=values["messages"], add_generation_prompt=False) == base
        assert "<BOS>" not in template.render(messages=values["messages"], bos_token="<BOS>")


def test_llmkit_jinja_chat_template_renders_the_export():
    """llmkit's own Hugging Face renderer (no loopcontrols) takes the export as it is."""
    messages, tools = jinja_chat_template_inputs()
    for path in TEMPLATES:
        template = _corpus_template(path)
        exported = JinjaChatTemplate(template.to_jinja(), bos_token="<s>")
        assert exported.render(messages, tools=tools) == template.render(messages, tools=tools)
