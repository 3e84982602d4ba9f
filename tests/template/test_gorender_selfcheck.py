"""Self-check of the Go reference renderer (gorender.py): one small test per *(checked)*
statement of Ollama's template semantics (the reference's ``ollama-template-semantics.md``).
``test_reference_statements.py`` runs the same tests with llmkit in Go's place; the
conformance suite also holds the renderer against Ollama's own expected renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gorender import (  # pytest puts this folder on sys.path (rootdir-relative imports)
    GoRenderError,
    go_json_short_bf,
    go_render,
    go_render_many,
    go_version,
)

COMPATS = ("current", "v0.14", "v0.13")


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def test_go_version_reported() -> None:
    assert go_version().startswith("go1.")


# --- (3) statements of the reference -------------------------------------------------------

USER = [{"role": "user", "content": "hi"}]
# A template that mentions .Messages takes the messages path (System, Messages, Tools, ...).
M = "{{ $_ := .Messages }}"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get weather",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string"}},
        },
    },
}


def _call(arguments: Any = None, **function: Any) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": "f", **function}
    if arguments is not None:
        fn["arguments"] = arguments
    return {"role": "assistant", "content": "", "tool_calls": [{"function": fn}]}


ARGS_TEXT = "{{ range .Messages }}{{ range .ToolCalls }}{{ .Function.Arguments }}{{ end }}{{ end }}"


def test_number_printing() -> None:
    numbers = {
        "a": 10,
        "b": 0.5,
        "c": 123456,
        "d": 123456.5,
        "e": 1000000,
        "f": 1234567.5,
        "g": 0.0001,
        "h": 1e-5,
        "i": 12345678901234567890,
        "j": -0.0,
    }
    tmpl = (
        "{{ range .Messages }}{{ range .ToolCalls }}"
        "{{ range $k, $v := .Function.Arguments }}{{ $k }}={{ $v }};{{ end }}"
        "{{ end }}{{ end }}"
    )
    got = go_render(tmpl, [_call(numbers)])
    assert got == (
        "a=10;b=0.5;c=123456;d=123456.5;e=1e+06;f=1.2345675e+06;g=0.0001;h=1e-05;"
        "i=1.2345678901234567e+19;j=-0;"
    )
    # JSON: exponent form only below 1e-6 or from 1e21; precision lost beyond 2**53.
    args = {"a": 1000000, "b": 1e-7, "c": 1e21, "d": 12345678901234567890, "e": 1e-6}
    got = go_render(ARGS_TEXT, [_call(args)])
    assert got == '{"a":1000000,"b":1e-7,"c":1e+21,"d":12345678901234567000,"e":0.000001}'


def test_nested_values_print_as_go_syntax() -> None:
    args = {"m": {"z": 1, "a": [1, "x", None]}, "n": None}
    tmpl = (
        "{{ range .Messages }}{{ range .ToolCalls }}"
        "{{ range $k, $v := .Function.Arguments }}{{ $k }}={{ $v }};{{ end }}"
        "{{ end }}{{ end }}"
    )
    assert go_render(tmpl, [_call(args)]) == "m=map[a:[1 x <nil>] z:1];n=<no value>;"


def test_messages_path_has_no_prompt() -> None:
    tmpl = (
        "{{ range .Messages }}{{ .Content }}{{ end }}"
        "|{{ .Prompt }}|{{ if .Prompt }}y{{ else }}n{{ end }}"
    )
    assert go_render(tmpl, USER) == "hi|<no value>|n"
    with pytest.raises(GoRenderError) as err:
        go_render("{{ .Messages }}{{ len .Prompt }}", USER)
    assert err.value.stage == "execute"


def test_fim_path_has_no_messages() -> None:
    tmpl = (
        "{{ if .Suffix }}<PRE>{{ .Prompt }}<SUF>{{ .Suffix }}<MID>"
        "{{ else }}{{ .Messages }}{{ end }}"
    )
    assert go_render(tmpl, USER, prompt="a", suffix="b") == "<PRE>a<SUF>b<MID>"
    with pytest.raises(GoRenderError) as err:
        go_render("{{ len .Messages }}", USER, prompt="a", suffix="b")
    assert err.value.stage == "execute"


def test_collation_and_system() -> None:
    messages = [
        {"role": "system", "content": "s1"},
        {"role": "system", "content": "s2"},
        {"role": "user", "content": "u1", "images": ["aGk="]},
        {"role": "user", "content": "u2", "images": ["aGk="]},
        _call({"x": 1}),
        {"role": "assistant", "content": "more", "tool_calls": [{"function": {"name": "g"}}]},
        {"role": "tool", "content": "t1"},
        {"role": "tool", "content": "t2"},
    ]
    tmpl = (
        "[{{ .System }}]{{ range .Messages }}<{{ .Role }}|{{ .Content }}|{{ len .Images }}"
        "|{{ len .ToolCalls }}>{{ end }}"
    )
    assert go_render(tmpl, messages) == (
        "[s1\n\ns2]<system|s1\n\ns2|0|0><user|[img-0]u1\n\n[img-1]u2|1|0>"
        "<assistant|\n\nmore|0|1><tool|t1|0|0><tool|t2|0|0>"
    )


def test_image_tags() -> None:
    messages = [
        {"role": "user", "content": "text", "images": ["aGk=", "aGk="]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "a [img] b [img] c [img]", "images": ["aGk=", "aGk="]},
    ]
    tmpl = "{{ range .Messages }}{{ .Content }}|{{ end }}"
    assert go_render(tmpl, messages) == "[img-0][img-1]text|ok|a [img-2] b [img-3] c [img]|"


def test_roles_lower_cased() -> None:
    tmpl = "{{ range .Messages }}{{ .Role }}{{ end }}"
    assert go_render(tmpl, [{"role": "USER", "content": "x"}]) == "user"


def test_response_appended_and_legacy_concatenation() -> None:
    messages = [
        {"role": "user", "content": "user1"},
        {"role": "assistant", "content": "assistant1"},
        {"role": "user", "content": "user2"},
    ]
    assert go_render("{{ .Prompt }}", messages) == "user1assistant1user2"
    # Prefill: the cut copy keeps .Response and drops what follows it.
    tmpl = "{{ if .System }}S:{{ .System }};{{ end }}U:{{ .Prompt }};A:{{ .Response }};END;"
    messages = [{"role": "system", "content": "sys"}, *messages[:2]]
    assert go_render(tmpl, messages, compat="v0.13") == "S:sys;U:user1;A:assistant1"
    # The last turn runs without the FuncMap.
    with pytest.raises(GoRenderError) as err:
        go_render("{{ json .Prompt }}", messages)
    assert err.value.stage == "execute"
    assert "not a defined function" in err.value.message
    # .Response inside a branch body that has an else: Ollama's cut panics.
    with pytest.raises(GoRenderError) as err:
        go_render("{{ if .Prompt }}{{ .Response }}{{ else }}x{{ end }}", messages)
    assert err.value.stage == "execute"


def test_template_without_pipeline_is_parse_error() -> None:
    with pytest.raises(GoRenderError) as err:
        go_render('{{ define "x" }}a{{ end }}{{ template "x" }}{{ .Messages }}', USER)
    assert err.value.stage == "parse"
    assert "undefined template specified" in err.value.message


def test_template_message_printing() -> None:
    assert go_render("{{ range .Messages }}{{ . }}{{ end }}", USER) == "{user hi  [] []  }"
    got = go_render("{{ json .Messages }}", USER)
    assert got == (
        '[{"Role":"user","Content":"hi","Thinking":"","Images":null,"ToolCalls":null,'
        '"ToolName":"","ToolCallID":""}]'
    )
    got = go_render("{{ json .Messages }}", USER, compat="v0.13")
    assert got == '[{"role":"user","content":"hi"}]'


def test_arguments_printing_by_compat() -> None:
    tmpl = (
        "{{ range .Messages }}{{ range .ToolCalls }}{{ .Function.Arguments }}|"
        "{{ json .Function.Arguments }}{{ end }}{{ end }}"
    )
    assert go_render(tmpl, [_call()]) == "{}|null"
    assert go_render(tmpl, [_call()], compat="v0.14") == "{}|null"
    assert go_render(tmpl, [_call()], compat="v0.13") == "null|null"
    args = {"b": 1, "a": {"d": 1, "c": 2}}
    for compat in COMPATS:
        got = go_render(tmpl, [_call(args)], compat=compat)
        assert got == '{"a":{"c":2,"d":1},"b":1}|{"a":{"c":2,"d":1},"b":1}'


def test_null_and_invalid_arguments() -> None:
    tmpl = (
        "{{ range .Messages }}{{ range .ToolCalls }}{{ .Function.Arguments }}|"
        "{{ json .Function.Arguments }}{{ end }}{{ end }}"
    )
    null_call = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "f", "arguments": None}}],
    }
    assert go_render(tmpl, [null_call]) == "{}|null"
    assert go_render(tmpl, [null_call], compat="v0.13") == "null|null"
    for compat in COMPATS:
        with pytest.raises(GoRenderError) as err:
            go_render(tmpl, [_call('{"a": 1}')], compat=compat)
        assert err.value.stage == "request"


def test_nested_property_keys_use_easyjson_escaping() -> None:
    # Nested properties are marshalled by the ordered map (easyjson key writer): \b stays
    # \u0008 even with Go >= 1.22; top-level properties go through encoding/json.
    tool = {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {
                "type": "object",
                "properties": {
                    "o\b<": {"type": "object", "properties": {"i\b<": {"type": "string"}}}
                },
            },
        },
    }
    top = "\\b" if go_json_short_bf() else "\\u0008"
    got = go_render(M + "{{ .Tools }}", USER, [tool])
    assert got == (
        '[{"type":"function","function":{"name":"f","description":"","parameters":'
        '{"type":"object","properties":{"o' + top + '\\u003c":{"type":"object",'
        '"properties":{"i\\u0008\\u003c":{"type":"string"}}}}}}}]'
    )


def test_tools_printing() -> None:
    tmpl = M + "{{ .Tools }}"
    assert go_render(tmpl, USER) == "null"
    assert go_render(tmpl + "{{ if .Tools }}y{{ else }}n{{ end }}", USER, []) == "[]n"
    # Without .Messages the legacy path has no .Tools at all.
    assert go_render("{{ .Tools }}", USER, [WEATHER_TOOL]) == "<no value>"
    function_json = (
        '{"name":"get_weather","description":"Get weather",'
        '"parameters":{"type":"object","required":["city"],"properties":'
        '{"city":{"type":"string"}}}}'
    )
    tool_json = '{"type":"function","function":' + function_json + "}"
    for compat in COMPATS:
        assert go_render(tmpl, USER, [WEATHER_TOOL], compat=compat) == f"[{tool_json}]"
    each = M + "{{ range .Tools }}{{ . }}{{ end }}"
    assert go_render(each, USER, [WEATHER_TOOL]) == tool_json
    assert go_render(each, USER, [WEATHER_TOOL], compat="v0.13") == tool_json
    assert go_render(each, USER, [WEATHER_TOOL], compat="v0.14") == (
        "{function <nil> {get_weather Get weather {object <nil> <nil> [city] "
        '{"city":{"type":"string"}}}}}'
    )
    fn = M + "{{ range .Tools }}{{ .Function }}{{ end }}"
    struct = '{get_weather Get weather {object <nil> <nil> [city] {"city":{"type":"string"}}}}'
    assert go_render(fn, USER, [WEATHER_TOOL]) == struct
    assert go_render(fn, USER, [WEATHER_TOOL], compat="v0.14") == struct
    assert go_render(fn, USER, [WEATHER_TOOL], compat="v0.13") == function_json
    json_fn = M + "{{ range .Tools }}{{ json .Function }}{{ end }}"
    assert go_render(json_fn, USER, [WEATHER_TOOL]) == function_json


def test_property_and_parameters_printing() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {
                "type": "object",
                "required": ["a"],
                "properties": {
                    "a": {"type": "array", "items": {"type": "string", "b": 1}, "enum": ["x", 2]}
                },
            },
        },
    }
    tmpl = M + (
        "{{ range .Tools }}{{ .Function.Parameters }}|"
        "{{ range $k, $p := .Function.Parameters.Properties }}{{ $p.Enum }}|{{ $p.Items }}"
        "{{ end }}{{ end }}"
    )
    struct = '{object <nil> <nil> [a] {"a":{"type":"array","items":{"b":1,"type":"string"},'
    struct += '"enum":["x",2]}}}'
    tail = "|[x 2]|map[b:1 type:string]"
    assert go_render(tmpl, USER, [tool]) == struct + tail
    assert go_render(tmpl, USER, [tool], compat="v0.14") == struct + tail
    as_json = (
        '{"type":"object","required":["a"],"properties":{"a":{"type":"array",'
        '"items":{"b":1,"type":"string"},"enum":["x",2]}}}'
    )
    assert go_render(tmpl, USER, [tool], compat="v0.13") == as_json + tail


def test_tool_schema_normalisation() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "f",
            "parameters": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "z": {
                        "type": "object",
                        "title": "Z",
                        "properties": {
                            "y": {"type": "string", "default": "q"},
                            "x": {"type": ["string", "null"], "minimum": 1},
                        },
                        "required": ["y"],
                    },
                    "a": {"type": ["string", "null"], "format": "date", "enum": ["p", None]},
                    "n": {"type": None},
                },
            },
        },
    }
    current = (
        '[{"type":"function","function":{"name":"f","description":"","parameters":'
        '{"type":"object","properties":{"a":{"type":["string","null"],"enum":["p",null]},'
        '"n":{"type":""},'
        '"z":{"type":"object","properties":{"y":{"type":"string"},'
        '"x":{"type":["string","null"]}},"required":["y"]}}}}}]'
    )
    assert go_render(M + "{{ .Tools }}", USER, [tool]) == current
    v013 = (
        '[{"type":"function","function":{"name":"f","parameters":'
        '{"type":"object","properties":{"a":{"type":["string","null"],"enum":["p",null]},'
        '"n":{"type":""},'
        '"z":{"type":"object","properties":{"x":{"type":["string","null"]},'
        '"y":{"type":"string"}}}}}}}]'
    )
    assert go_render(M + "{{ .Tools }}", USER, [tool], compat="v0.13") == v013
    types = (
        M + "{{ range .Tools }}{{ range $k, $p := .Function.Parameters.Properties }}"
        "{{ $k }}:{{ $p.Type }}:{{ toTypeScriptType $p }};{{ end }}{{ end }}"
    )
    for compat in COMPATS:
        assert go_render(types, USER, [tool], compat=compat) == (
            "a:[string null]:string | null;n::any;z:object:Record<string, any>;"
        )
    empty = {"type": "function", "function": {"name": "g", "parameters": {"type": "object"}}}
    assert go_render(M + "{{ .Tools }}", USER, [empty]) == (
        '[{"type":"function","function":{"name":"g","description":"","parameters":'
        '{"type":"object","properties":null}}}]'
    )
    props = M + "{{ range .Tools }}{{ .Function.Parameters.Properties }}{{ end }}"
    assert go_render(props, USER, [empty]) == "{}"
    assert go_render(props, USER, [WEATHER_TOOL]) == '{"city":{"type":"string"}}'
    assert go_render(props, USER, [WEATHER_TOOL], compat="v0.13") == (
        "map[city:{[] string <nil>  [] map[]}]"
    )


def test_json_escapes() -> None:
    text = 'q" \\ \n\r\t \x01 <>& \u2028\u2029 / \x7f é'
    got = go_render("{{ json .Prompt }}", USER, prompt=text, suffix="s")
    assert got == ('"q\\" \\\\ \\n\\r\\t \\u0001 \\u003c\\u003e\\u0026 \\u2028\\u2029 / \x7f é"')
    got = go_render("{{ json .Prompt }}", USER, prompt="\b\f", suffix="s")
    assert got == ('"\\b\\f"' if go_json_short_bf() else '"\\u0008\\u000c"')


def test_think_values() -> None:
    tmpl = "{{ .Messages | len }}|{{ .Think }}|{{ .ThinkLevel }}|{{ .IsThinkSet }}"
    assert go_render(tmpl, USER) == "1|false||false"
    assert go_render(tmpl, USER, think=False) == "1|false||true"
    assert go_render(tmpl, USER, think=True) == "1|true|medium|true"
    assert go_render(tmpl, USER, think="high") == "1|true|high|true"
    with pytest.raises(GoRenderError) as err:
        go_render(tmpl, USER, think="extreme")
    assert err.value.stage == "request"


def test_dates() -> None:
    tmpl = '{{ .Messages | len }} {{ currentDate }} {{ yesterdayDate }} {{ currentDate "%Y" }}'
    assert go_render(tmpl, USER, today="2026-03-01") == "1 2026-03-01 2026-02-28 2026-03-01"


def test_missing_struct_field_is_execute_error() -> None:
    with pytest.raises(GoRenderError) as err:
        go_render("{{ range .Messages }}{{ .Nope }}{{ end }}", USER)
    assert err.value.stage == "execute"
    assert "can't evaluate field Nope" in err.value.message


def test_batch_mixes_results_and_errors() -> None:
    results = go_render_many(
        [
            {"template": "{{ .Prompt }}", "messages": USER},
            {"template": "{{ .Messages ", "messages": USER},
            {"template": "{{ .System }}", "messages": USER, "compat": "v0.13"},
        ]
    )
    assert results[0] == {"output": "hi"}
    assert results[1]["stage"] == "parse"
    # Legacy path: .System starts empty (the collated system is not used).
    assert results[2] == {"output": ""}
