"""Jinja export (``llmkit.template.jinja``): the exported template renders llmkit's bytes.

Every corpus template is listed with its export status.  Exported ones are rendered with
jinja2's ``ImmutableSandboxedEnvironment`` -- configured as Hugging Face configures it
(``trim_blocks``, ``lstrip_blocks``, ``loopcontrols``, its ``tojson``, ``raise_exception``,
``strftime_now``) and bare (defaults, no extension, no filter) -- on Hugging Face style
inputs, and must give exactly what ``Template.render`` gives for the same conversation:
tools, tool calls with nested and numeric arguments, unicode, ``<>&"``, empty content,
collation, thinking, images and the legacy path.  Random templates cover the constructs the
corpus does not use: each either exports and agrees, or is refused with a named construct.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import random
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmkit.chat_template import JinjaChatTemplate
from llmkit.errors import InvalidRequestError
from llmkit.template import Template, TemplateError, gofmt, gojson
from llmkit.template import jinja as jinja_export
from llmkit.template.jinja import JinjaExportError
from llmkit.types.messages import Message, Tool, ToolCall, ToolCallFunction, ToolFunction

HERE = Path(__file__).resolve().parent
#: llmkit's own templates (the conformance suite runs Ollama's corpus the same way).
TEMPLATES = sorted(
    [*(HERE / "fixtures").glob("*.gotmpl"), *(HERE.parent / "data" / "templates").glob("*.gotmpl")]
)
TODAY = dt.date(2026, 11, 28)

WEATHER = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Current weather for a place",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "A city, e.g. Lyon"},
                    "format": {
                        "type": "string",
                        "enum": ["celsius", "fahrenheit"],
                        "description": "Which unit to answer in.",
                    },
                },
                "required": ["location", "format"],
            },
        },
    }
]
NESTED_TOOL = {
    "type": "function",
    "function": {
        "name": "book_trip",
        "description": 'Book a trip <fast> & "cheap"',
        "parameters": {
            "type": "object",
            "required": ["city", "nights"],
            "$defs": {"money": {"type": "number", "minimum": 0.01, "maximum": 1e6}},
            "properties": {
                "nights": {"type": "integer", "description": "nights", "minimum": 1},
                "city": {"type": ["string", "null"], "enum": ["Paris", "Zürich", 3, None]},
                "options": {
                    "type": "object",
                    "properties": {"zeta": {"type": "boolean"}, "alpha\b": {"type": "number"}},
                    "required": ["zeta"],
                },
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
                "either": {"anyOf": [{"type": "string"}, {"type": "integer"}, "junk"]},
                "nothing": {"type": None, "description": ""},
                "bad": 5,
            },
        },
    },
}
ODD_TOOL = {
    "type": "function",
    "items": {"z": 1.5, "a": [True, None]},
    "function": {"name": "odd", "parameters": {"type": "object", "required": [1, None]}},
}
ARGUMENTS = {
    "city": "Zürich",
    "nights": 1000000,
    "ratio": 0.5,
    "tiny": 1e-7,
    "small": 0.0001,
    "neg": -3,
    "big": 1e21,
    "exact": 9007199254740993,
    "half": 123456.5,
    "options": {"b": [1, 2.5, None, True, "x"], "a": {"deep": '<x> & "y"'}, "c": {}},
}
CONVERSATIONS: dict[str, dict[str, Any]] = {
    "empty": {"messages": []},
    "plain": {"messages": [{"role": "user", "content": "Hello"}]},
    "system-multi": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "SYSTEM", "content": "Be kind."},
            {"role": "user", "content": "Hi"},
            {"role": "User", "content": "again"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"},
        ]
    },
    "escapes-unicode": {
        "messages": [
            {"role": "system", "content": "{{ not jinja }} {% raw %} {# x #}"},
            {"role": "user", "content": 'a <b> & "c" \\ \t é 日本 😀 \u2028 \x00'},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": None},
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
                        "function": {"index": 1, "name": "book_trip", "arguments": ARGUMENTS},
                    },
                    {"id": "call_3", "function": {"name": "odd", "arguments": {}}},
                    {"id": "call_4", "function": {"name": "odd"}},
                ],
            },
            {"role": "tool", "content": "22", "tool_name": "get_current_weather"},
            {"role": "tool", "content": '{"ok": true}', "tool_call_id": "call_2"},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [*WEATHER, NESTED_TOOL, ODD_TOOL],
    },
    "tool-last": {
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [{"function": {"name": "get_current_weather", "arguments": {}}}],
            },
            {"role": "tool", "content": "sunny"},
        ],
        "tools": WEATHER,
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
    "think-off": {"messages": [{"role": "user", "content": "q"}], "think": False},
    "images": {
        "messages": [
            {"role": "user", "content": "what is [img] this?", "images": ["aGVsbG8="]},
            {"role": "user", "content": "and these", "images": ["aGk=", "eW8="]},
        ]
    },
    "only-system": {"messages": [{"role": "system", "content": "Alone."}]},
    "unknown-role": {
        "messages": [
            {"role": "critic", "content": "hm"},
            {"role": "user", "content": "ok"},
            {"role": "assistant", "content": "a1"},
            {"role": "assistant", "content": "a2"},
            {"role": "system", "content": "late system"},
            {"role": "user", "content": "u2"},
        ]
    },
}


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def _hf_tojson(value: Any, ensure_ascii: bool = False, indent: Any = None, **kwargs: Any) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, **kwargs)


def _strftime_now(fmt: str) -> str:
    return TODAY.strftime(fmt)


def hf_environment() -> ImmutableSandboxedEnvironment:
    """As transformers compiles chat templates."""
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _hf_tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


def bare_environment() -> ImmutableSandboxedEnvironment:
    """Jinja's defaults: no whitespace options, no extension, no extra filter."""
    env = ImmutableSandboxedEnvironment()
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


ENVIRONMENTS = {"hf": hf_environment(), "bare": bare_environment()}


def render_go(template: Template, values: dict[str, Any]) -> str | None:
    """What llmkit renders, or ``None`` where it fails."""
    try:
        return template.render(
            values["messages"], tools=values.get("tools"), think=values.get("think"), today=TODAY
        )
    except (TemplateError, InvalidRequestError):
        return None


@functools.lru_cache(maxsize=256)
def _compiled(source: str, env: str) -> jinja2.Template:
    return ENVIRONMENTS[env].from_string(source)  # a syntax error fails the test


@functools.lru_cache(maxsize=64)
def _corpus_template(path: Path) -> Template:
    return Template.from_file(path)


def render_jinja(source: str, values: dict[str, Any], env: str = "hf") -> str | None:
    """What the exported template renders with Hugging Face's inputs, or ``None``."""
    template = _compiled(source, env)
    inputs = {
        "messages": values["messages"],
        "tools": values.get("tools"),
        "add_generation_prompt": values.get("add_generation_prompt", True),
        "bos_token": "<s>",
        "eos_token": "</s>",
    }
    if "think" in values:
        inputs["think"] = values["think"]
    try:
        return template.render(**inputs)
    except jinja2.TemplateError as exc:
        if isinstance(exc, jinja2.TemplateSyntaxError):
            raise
        return None


# -- llmkit's own templates ------------------------------------------------------------


def _compiles(path: Path) -> bool:
    try:
        _corpus_template(path)
    except TemplateError:
        return False
    return True


COMPILING = [p for p in TEMPLATES if _compiles(p)]


def test_the_fixtures_are_there():
    assert len(COMPILING) >= 10


@pytest.mark.parametrize("path", COMPILING, ids=lambda p: p.name)
def test_each_template_exports_exactly_or_is_refused_by_construct(path):
    """Every conversation renders the same bytes through the export, or the export is
    refused with the construct named (the corpus suite pins which templates export)."""
    template = _corpus_template(path)
    try:
        source = template.to_jinja()
    except JinjaExportError as exc:
        assert exc.construct, str(exc)
        return
    assert source == template.to_jinja(), "the export must be deterministic"
    for name, values in CONVERSATIONS.items():
        for env in ENVIRONMENTS:
            expected = render_go(template, values)
            assert render_jinja(source, values, env) == expected, (name, env)


def test_the_chatml_and_tool_templates_export():
    for name in ("chatml.gotmpl", "llama3-tools.gotmpl"):
        path = HERE.parent / "data" / "templates" / name
        source = _corpus_template(path).to_jinja()
        values = CONVERSATIONS["tools"]
        rendered = render_jinja(source, values)
        assert rendered is not None and rendered == render_go(_corpus_template(path), values)
    llama = render_jinja(
        _corpus_template(HERE.parent / "data" / "templates" / "llama3-tools.gotmpl").to_jinja(),
        CONVERSATIONS["tools"],
    )
    assert llama is not None
    assert '"description":"Book a trip \\u003cfast\\u003e \\u0026 \\"cheap\\""' in llama
    assert '"properties":{"zeta":{"type":"boolean"},"alpha\\u0008":{"type":"number"}}' in llama


def test_llmkit_jinja_chat_template_renders_the_export():
    """llmkit's own Hugging Face renderer (no loopcontrols) takes the export as it is."""
    messages, tools = jinja_chat_template_inputs()
    for path in (HERE.parent / "data" / "templates").glob("*.gotmpl"):
        template = _corpus_template(path)
        exported = JinjaChatTemplate(template.to_jinja(), bos_token="<s>")
        assert exported.render(messages, tools=tools) == template.render(messages, tools=tools)


def jinja_chat_template_inputs() -> tuple[list[Message], list[Tool]]:
    messages = [
        Message(role="system", content="S"),
        Message(role="user", content="Weather <Paris> & co?"),
        Message(
            role="assistant",
            tool_calls=[
                ToolCall(
                    id="c1",
                    function=ToolCallFunction(
                        name="w", arguments={"city": "Paris", "n": 1000000, "x": 0.5}
                    ),
                )
            ],
        ),
        Message(role="tool", content="22", tool_call_id="c1"),
        Message(role="user", content="ok"),
    ]
    tools = [
        Tool(
            function=ToolFunction(
                name="w",
                description="weather",
                parameters={"type": "object", "properties": {"city": {"type": "string"}}},
            )
        )
    ]
    return messages, tools


def test_enable_thinking_is_read_when_think_is_not_given():
    template = Template.from_go(
        "{{ range .Messages }}{{ .Content }}{{ end }}|{{ .Think }}|{{ .ThinkLevel }}|"
        "{{ .IsThinkSet }}"
    )
    source = template.to_jinja()
    messages = [{"role": "user", "content": "q"}]
    env = hf_environment()
    assert env.from_string(source).render(messages=messages) == "q|false||false"
    assert env.from_string(source).render(messages=messages, enable_thinking=True) == (
        template.render(messages, think=True)
    )
    assert env.from_string(source).render(messages=messages, think="low") == (
        template.render(messages, think="low")
    )


# -- numbers ------------------------------------------------------------------------------

NUMBERS = [
    0, 1, -1, 10, 255, 1000000, 123456, 1234567, 99999999, 2**53, 2**53 + 1, 10**20, 10**21,
    0.0, -0.0, 0.5, -0.5, 0.1, 1 / 3, 2.5, 1e6, 1e-7, 1e-6, 1e-5, 1e-4, 0.0001234, 123456.5,
    1234567.5, 1e15, 1e16, 1e17, 1.5e20, 1e20, 1e21, 1.5e21, 1e22, 1e100, -1e-100, 5e-324,
    1.7976931348623157e308, 12345678901234567890, 6.02214076e23, 299792458.0, 3.14159,
]  # fmt: skip


def _numbers() -> list[float | int]:
    rng = random.Random(20261128)
    extra: list[float | int] = []
    for _ in range(300):
        digits = rng.randint(1, 17)
        mantissa = rng.randint(1, 10**digits - 1)
        exponent = rng.randint(-30, 30)
        extra.append(float(f"{mantissa}e{exponent}") * rng.choice([1, -1]))
        extra.append(rng.randint(-(10**12), 10**12))
    return NUMBERS + extra


def test_numbers_print_as_go_prints_float64():
    """Arguments are float64 in Go: text is %v (1e+06), JSON is encoding/json's form."""
    template = Template.from_go(
        "{{ range .Messages }}{{ range .ToolCalls }}{{ range $k, $v := .Function.Arguments }}"
        "{{ $v }}|{{ json $v }};{{ end }}{{ end }}{{ end }}"
    )
    source = template.to_jinja()
    numbers = _numbers()
    arguments = {f"n{i:04d}": x for i, x in enumerate(numbers)}
    messages = [
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": arguments}}]}
    ]
    got = hf_environment().from_string(source).render(messages=messages).split(";")[:-1]
    for x, line in zip(numbers, got, strict=True):
        # Go's own printing, as llmkit's gofmt module writes it (its reference-checked slow path).
        expected = f"{gofmt.format_float(float(x))}|{gojson._json_float(float(x))}"
        assert line == expected, x


def test_large_integers_print_as_go():
    """Go keeps the shortest digits of the float64 and pads with zeros (reference doc §5).

    Checked against Go's own text/template (tests/template/go): it prints exactly this.
    """
    template = Template.from_go(
        "{{ range .Messages }}{{ range .ToolCalls }}{{ .Function.Arguments }} "
        "{{ .Function.Arguments.n }}{{ end }}{{ end }}"
    )
    messages = [
        {
            "role": "assistant",
            "tool_calls": [{"function": {"name": "f", "arguments": {"n": 12345678901234567890}}}],
        }
    ]
    got = hf_environment().from_string(template.to_jinja()).render(messages=messages)
    assert got == '{"n":12345678901234567000} 1.2345678901234567e+19'


def test_nan_in_json_is_a_documented_limit():
    """Go's json fails on NaN and Ollama prints nothing; the export raises instead."""
    assert "NaN" in (jinja_export.__doc__ or "")
    template = Template.from_go(
        "{{ range .Messages }}{{ range .ToolCalls }}{{ .Function.Arguments }}{{ end }}{{ end }}"
    )
    messages = [
        {
            "role": "assistant",
            "tool_calls": [{"function": {"name": "f", "arguments": {"x": math.nan}}}],
        }
    ]
    assert template.render(messages) == ""
    with pytest.raises(jinja2.TemplateError, match="unsupported value"):
        hf_environment().from_string(template.to_jinja()).render(messages=messages)


# -- the legacy path, dates, Ollama's request checks ----------------------------------------


LEGACY = [
    "{{ if .System }}<|system|>{{ .System }}{{ end }}{{ if .Prompt }}<|user|>{{ .Prompt }}"
    "{{ end }}<|assistant|>{{ .Response }}<|end|>",
    "{{ .Prompt }}",
    '{{- $x := printf "%s/%s" .System .Prompt }}[{{ $x }}]{{ .Response }}!{{ .Response }}',
    "{{ range $i, $c := .Prompt }}{{ end }}{{ .Prompt | len }}:{{ .Response }}",
    "{{ with .System }}S={{ . }};{{ else }}none;{{ end }}{{ .Prompt }}>{{ .Response }}<",
]


@pytest.mark.parametrize("source", LEGACY)
@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
def test_legacy_templates(source, conversation):
    template = Template.from_go(source)
    values = CONVERSATIONS[conversation]
    try:
        exported = template.to_jinja()
    except JinjaExportError:
        assert "range" in source  # ranging over a string fails in Go
        return
    assert render_jinja(exported, values) == render_go(template, values)


def test_legacy_final_turn_without_functions_is_refused():
    with pytest.raises(JinjaExportError, match="without its functions") as info:
        Template.from_go("{{ json .Prompt }}").to_jinja()
    assert info.value.construct == "{{ json .Prompt }}"
    assert info.value.line == 1


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (dt.date(2024, 3, 1), "2024-03-01|2024-02-29"),
        (dt.date(2023, 3, 1), "2023-03-01|2023-02-28"),
        (dt.date(2023, 1, 1), "2023-01-01|2022-12-31"),
        (dt.date(2023, 5, 17), "2023-05-17|2023-05-16"),
    ],
)
def test_current_and_yesterday_date(today, expected):
    template = Template.from_go(
        '{{ currentDate }}|{{ yesterdayDate "ignored" }}{{ range .Messages }}{{ end }}'
    )
    assert template.render([], today=today) == expected
    env = bare_environment()
    env.globals["strftime_now"] = today.strftime
    assert env.from_string(template.to_jinja()).render(messages=[]) == expected


@pytest.mark.parametrize(
    "values",
    [
        {"messages": [{"role": "user", "content": "x"}], "think": "extreme"},
        {
            "messages": [
                {"role": "assistant", "tool_calls": [{"function": {"arguments": '{"a": 1}'}}]}
            ]
        },
    ],
)
def test_requests_ollama_rejects_fail_in_jinja_too(values):
    template = Template.from_file(HERE.parent / "tools" / "data" / "templates" / "qwen3.gotmpl")
    assert render_go(template, values) is None
    assert render_jinja(template.to_jinja(), values) is None


# -- refusals ------------------------------------------------------------------------------

REFUSED = [
    ("{{ range .Messages }}{{ js .Content }}{{ end }}", "{{ js .Content }}", 1, "js escaping"),
    ("{{ .Messages }}", "{{ .Messages }}", 1, "heap addresses"),
    ("{{ range .Messages }}\n{{ . }}{{ end }}", "{{ . }}", 2, "whole message"),
    ('{{ printf "%q" .System }}{{ .Messages }}', '{{ printf "%q" .System }}', 1, "verb %q"),
    ("{{ slice .System 1 }}{{ .Messages }}", "{{ slice .System 1 }}", 1, "slice of string"),
    (
        "{{ range .Messages }}{{ range .ToolCalls }}\n\n"
        "{{ if eq .Function.Arguments.x 1 }}1{{ end }}{{ end }}{{ end }}",
        "{{ if eq .Function.Arguments.x 1 }}",
        3,
        "JSON value of unknown type",
    ),
    ("{{ .Messages }}{{ call .System }}", "{{ .Messages }}", 1, "heap addresses"),
    ("{{ range .Messages }}{{ call .Role }}{{ end }}", "{{ call .Role }}", 1, "function call"),
    (
        '{{ define "a" }}{{ template "a" . }}{{ end }}{{ template "a" . }}{{ .Messages }}',
        '{{ template "a" . }}',
        1,
        "calls itself",
    ),
    ("{{ range .Tools }}{{ .Function.Parameters.Properties.x }}{{ end }}{{ .Messages }}",
     "{{ .Function.Parameters.Properties.x }}", 1, "field x"),
    ("{{ len .Missing }}{{ .Messages }}", "{{ len .Missing }}", 1, "fails in Go"),
    ("{{ range .Messages }}{{ .Foo }}{{ end }}", "{{ .Foo }}", 1, "can't evaluate field Foo"),
    ('{{ .Messages | len }}{{ eq .System 1 }}', "{{ eq .System 1 }}", 1, "incompatible types"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "construct", "line", "reason"), REFUSED)
def test_refusals_name_the_construct_and_line(source, construct, line, reason):
    with pytest.raises(JinjaExportError) as info:
        Template.from_go(source, name="t.gotmpl").to_jinja()
    error = info.value
    assert isinstance(error, TemplateError)
    assert error.construct == construct
    assert error.line == line
    assert reason in str(error)
    assert f"t.gotmpl:{line}:" in str(error)


def test_template_text_cannot_break_out_of_its_literals():
    nasty = "x' ~ raise_exception('boom') ~ '\\' {% for %} {# #} {%- raw %} }} %}\r\n\t"
    template = Template.from_go(
        nasty + '{{ "{{ 1/0 }}" }}{{ range .Messages }}{{ .Content }}{{ .Role }}{{ end }}'
    )
    for env in ENVIRONMENTS:
        out = render_jinja(template.to_jinja(), CONVERSATIONS["plain"], env)
        assert out == nasty + "{{ 1/0 }}Hellouser"


# -- random templates ---------------------------------------------------------------------

TOP = [
    ".System", ".Tools", "(len .Messages)", "(len .Tools)", '"x"', '""', "1", "2.5", "true",
    ".Think", ".ThinkLevel", ".IsThinkSet", ".Prompt", ".Response", "(json .Tools)",
    '(eq .System "")', "(not .Tools)", '(print 1 2.0 "a" .System)', "(html .System)",
    "(urlquery .System)", "$v", '(printf "%s-%d-%v" .System 3 .Think)', "(json .Messages)",
    "(index .Messages 0).Role", "(slice .Messages 1)", "(len (slice .Messages 1 2))",
    "(currentDate)", "(json .System)", '(println "a" 1)',
]  # fmt: skip
IN_MESSAGE = [
    ".Role", ".Content", ".Thinking", ".ToolCalls", ".ToolName", ".ToolCallID",
    '(eq .Role "user")', '(eq .Role "assistant" "tool")', "(len .Content)", "$.System", "$i",
    "(json .ToolCalls)", "(eq (len (slice $.Messages $i)) 1)", "(index $.Messages $i).Content",
    "(json .)", "$v", "(len .ToolCalls)", "(lt $i 2)", ".Images", "(len .Images)",
]  # fmt: skip
IN_CALL = [
    ".Function.Name", ".Function.Arguments", "(json .Function.Arguments)", ".Function.Index",
    ".ID", ".Function", "(json .Function)", ".Function.Arguments.city",
    "(json .Function.Arguments.options)", "(index .Function.Arguments \"ratio\")", ".",
]  # fmt: skip
IN_TOOL = [
    ".Type", ".Function.Name", ".Function.Description", ".Function", ".Function.Parameters",
    ".Function.Parameters.Properties", ".Function.Parameters.Required", "(json .)", ".",
    "(json .Function.Parameters)", ".Items", ".Function.Parameters.Defs",
]  # fmt: skip
IN_PROPERTY = [
    "$n", "$p.Type", "$p.Description", "$p.Enum", "(toTypeScriptType $p)", "(json $p)",
    "$p.Items", "(json $p.AnyOf)", "(json $p.Properties)", "$p.Required",
]  # fmt: skip


def _expr(rng: random.Random, pool: list[str]) -> str:
    roll = rng.random()
    if roll < 0.12:
        return f"(and {rng.choice(pool)} {rng.choice(pool)})"
    if roll < 0.22:
        return f"(or {rng.choice(pool)} {rng.choice(pool)})"
    return rng.choice(pool)


def _block(rng: random.Random, depth: int, pool: list[str], scope: str) -> str:
    out = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        trim_l = "-" if rng.random() < 0.3 else ""
        trim_r = "-" if rng.random() < 0.3 else ""
        if roll < 0.3:
            out.append(rng.choice(["a", " b ", "\n", "<|im|>", "é", "}", "  ", "'\\", '{{"{{"}}']))
        elif roll < 0.55 or depth > 2:
            out.append(f"{{{{{trim_l} {_expr(rng, pool)} {trim_r}}}}}")
        elif roll < 0.65:
            out.append(
                f"{{{{ if {_expr(rng, pool)} }}}}{_block(rng, depth + 1, pool, scope)}"
                f"{{{{ else if {_expr(rng, pool)} }}}}{_block(rng, depth + 1, pool, scope)}"
                f"{{{{ else }}}}{_block(rng, depth + 1, pool, scope)}{{{{ end }}}}"
            )
        elif roll < 0.7:
            out.append(f'{{{{ $v = printf "%s{depth}" $v }}}}')
        elif roll < 0.75 and scope != "top":
            word = rng.choice(["continue", "break"])
            out.append(f"{{{{ if {_expr(rng, pool)} }}}}{{{{ {word} }}}}{{{{ end }}}}")
        elif roll < 0.85 and scope == "top":
            out.append(
                f"{{{{ range $i, $m := .Messages }}}}{_block(rng, depth + 1, IN_MESSAGE, 'msg')}"
                f"{{{{ range .ToolCalls }}}}{_block(rng, depth + 1, IN_CALL, 'call')}{{{{ end }}}}"
                "{{ else }}no messages{{ end }}"
            )
        elif roll < 0.92 and scope == "top":
            out.append(
                f"{{{{ range .Tools }}}}{_block(rng, depth + 1, IN_TOOL, 'tool')}"
                "{{ range $n, $p := .Function.Parameters.Properties }}"
                f"{_block(rng, depth + 1, IN_PROPERTY, 'prop')}{{{{ end }}}}{{{{ end }}}}"
            )
        else:
            out.append(f"{{{{ with {_expr(rng, pool)} }}}}{{{{ . }}}}{{{{ end }}}}")
    return "".join(out)


def test_random_templates_export_exactly_or_are_refused():
    rng = random.Random(20261129)
    conversations = [CONVERSATIONS[c] for c in ("tools", "system-multi", "empty", "thinking")]
    exported = refused = 0
    mismatches = []
    for number in range(300):
        source = '{{- $v := "" }}{{- $n := len .Messages }}' + _block(rng, 0, TOP, "top")
        if rng.random() < 0.2:  # some legacy templates too
            source = source.replace(".Messages", ".Prompt")
        try:
            template = Template.from_go(source)
        except TemplateError:
            continue
        try:
            exported_source = template.to_jinja()
        except JinjaExportError as exc:
            assert exc.construct, source
            refused += 1
            continue
        exported += 1
        env = ("hf", "bare")[number % 2]
        for values in conversations:
            expected = render_go(template, values)
            got = render_jinja(exported_source, values, env)
            if got != expected:
                mismatches.append((source, values["messages"][:1], expected, got))
    assert not mismatches, f"{len(mismatches)} differ; first: {mismatches[0]!r}"
    assert exported > 2 * refused, (exported, refused)
