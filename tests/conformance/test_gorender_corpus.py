"""The Go reference renderer (tests/template/gorender.py) against Ollama's own expected
renders: the template and tool test data of Ollama's corpus, in every compatibility mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from corpus_location import OLLAMA_TEMPLATES as CORPUS
from gorender import go_render_many

INPUTS = json.loads((CORPUS / "testdata-inputs.json").read_text())
TEMPLATE_DIR = CORPUS / "template"
TOOLS_DIR = CORPUS / "tools" / "testdata"

TEMPLATE_NAMES = sorted(p.name.removesuffix(".gotmpl") for p in TEMPLATE_DIR.glob("*.gotmpl"))
CONVERSATIONS = sorted(INPUTS["conversations"])
TOOLS_NAMES = sorted(p.name.removesuffix(".gotmpl") for p in TOOLS_DIR.glob("*.gotmpl"))
FUNCTION_STRUCT_PRINTERS = {"qwen2.5", "qwen3", "llama3-groq-tool-use"}
TOOL_STRUCT_PRINTERS_V014 = {"llama3.2", "nemotron"}
COMPATS = ("current", "v0.14", "v0.13")


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def test_corpus_complete() -> None:
    assert len(TEMPLATE_NAMES) == 20
    assert len(list((TEMPLATE_DIR / "testdata").glob("*.gotmpl/*"))) == 60
    assert len(TOOLS_NAMES) == 9


# --- (1) Ollama's template/testdata expected renders --------------------------------------


@pytest.fixture(scope="module")
def testdata_renders() -> dict[tuple[str, str, str], dict[str, Any]]:
    keys = [(n, c, k) for n in TEMPLATE_NAMES for c in CONVERSATIONS for k in COMPATS]
    cases = [
        {
            "template": _read(TEMPLATE_DIR / f"{n}.gotmpl"),
            "messages": INPUTS["conversations"][c],
            "compat": k,
        }
        for n, c, k in keys
    ]
    return dict(zip(keys, go_render_many(cases), strict=True))


@pytest.mark.parametrize("compat", COMPATS)
@pytest.mark.parametrize("conversation", CONVERSATIONS)
@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_template_testdata(
    testdata_renders: dict[tuple[str, str, str], dict[str, Any]],
    name: str,
    conversation: str,
    compat: str,
) -> None:
    result = testdata_renders[(name, conversation, compat)]
    assert "error" not in result, result
    got = result["output"]
    if name in INPUTS["strip_one_trailing_space"] and got.endswith(" "):
        got = got[:-1]
    expected = _read(TEMPLATE_DIR / "testdata" / f"{name}.gotmpl" / conversation)
    assert got == expected


# --- (2) tools/testdata (mid-2025 Ollama = compat v0.13) -----------------------------------

TOOLS_MESSAGES = json.loads(_read(TOOLS_DIR / "messages.json"))
TOOLS_TOOLS = json.loads(_read(TOOLS_DIR / "tools.json"))


@pytest.fixture(scope="module")
def tools_renders() -> dict[tuple[str, str], dict[str, Any]]:
    keys = [(n, k) for n in TOOLS_NAMES for k in COMPATS]
    cases = [
        {
            "template": _read(TOOLS_DIR / f"{n}.gotmpl"),
            "messages": TOOLS_MESSAGES,
            "tools": TOOLS_TOOLS,
            "compat": k,
        }
        for n, k in keys
    ]
    return dict(zip(keys, go_render_many(cases), strict=True))


@pytest.mark.parametrize("name", TOOLS_NAMES)
def test_tools_testdata_v013(tools_renders: dict[tuple[str, str], Any], name: str) -> None:
    result = tools_renders[(name, "v0.13")]
    assert result == {"output": _read(TOOLS_DIR / f"{name}.out")}


# {{ .Function }} prints Go struct syntax since v0.14 (Ollama issue #14601); a tool printed with
# {{ . }} (llama3.2, nemotron) is JSON again since v0.30 but Go struct syntax in v0.14-v0.29.
FUNCTION_JSON = (
    '{"name":"get_current_weather","description":"Get the current weather",'
    '"parameters":{"type":"object","required":["location","format"],"properties":'
    '{"format":{"type":"string","description":"The temperature unit to use. '
    'Infer this from the user\'s location.","enum":["celsius","fahrenheit"]},'
    '"location":{"type":"string","description":"The city and state, e.g. San Francisco, '
    'CA"}}}}'
)
FUNCTION_STRUCT = (
    "{get_current_weather Get the current weather {object <nil> <nil> [location format] "
    '{"format":{"type":"string","description":"The temperature unit to use. '
    'Infer this from the user\'s location.","enum":["celsius","fahrenheit"]},'
    '"location":{"type":"string","description":"The city and state, e.g. San Francisco, '
    'CA"}}}}'
)
TOOL_JSON = '{"type":"function","function":' + FUNCTION_JSON + "}"
TOOL_STRUCT = "{function <nil> " + FUNCTION_STRUCT + "}"


@pytest.mark.parametrize("compat", ["current", "v0.14"])
@pytest.mark.parametrize("name", TOOLS_NAMES)
def test_tools_testdata_current(
    tools_renders: dict[tuple[str, str], Any], name: str, compat: str
) -> None:
    got = tools_renders[(name, compat)]["output"]
    expected = _read(TOOLS_DIR / f"{name}.out")
    if name in FUNCTION_STRUCT_PRINTERS:
        assert expected.count(FUNCTION_JSON) == 1
        expected = expected.replace(FUNCTION_JSON, FUNCTION_STRUCT)
    elif compat == "v0.14" and name in TOOL_STRUCT_PRINTERS_V014:
        assert expected.count(TOOL_JSON) == 1
        expected = expected.replace(TOOL_JSON, TOOL_STRUCT)
    assert got == expected
