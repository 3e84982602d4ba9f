"""The lexer, parser and code generator on their own: Go's language, Go's errors."""

import datetime as dt

import pytest

from llmkit.template import Template, TemplateExecError, TemplateLimitError, TemplateSyntaxError
from llmkit.template.gotemplate import GoTemplate
from llmkit.template.runtime import Limits


def run(source, data=None, **kwargs):
    return GoTemplate(source).execute(data if data is not None else {}, **kwargs)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a {{- ` b ` -}} c", "a b c"),
        ("{{/* comment */}}x{{- /* trimmed */ -}} y", "xy"),
        ('{{ "\\u00e9\\x41\\n" }}', "éA\n"),
        ("{{ 'a' }} {{ '\\n' }}", "97 10"),
        ("{{ 0x1F }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }}", "31 15 15 5 1000"),
        ("{{ 1.5 }} {{ 1e3 }} {{ 0x1p-2 }} {{ 1e6 }}", "1.5 1000 0.25 1e+06"),
        ("{{ 2i }} {{ 1+2i }}", "(0+2i) (1+2i)"),
        ("{{ true }} {{ false }}", "true false"),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"),
        ("{{ if 0 }}a{{ else if 1 }}b{{ else }}c{{ end }}", "b"),
        ("{{ with .A }}{{ . }}{{ else with .B }}B{{ . }}{{ else }}none{{ end }}", "B2"),
        ("{{ range $i, $e := .L }}{{ $i }}={{ $e }};{{ end }}", "0=a;1=b;"),
        ("{{ range .M }}{{ . }}{{ end }}", "123"),
        ("{{ range $k, $v := .M }}{{ $k }}{{ end }}", "abc"),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        ("{{ range .Empty }}x{{ else }}empty{{ end }}", "empty"),
        ('{{ range .L }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}', "a"),
        ('{{ range .L }}{{ if eq . "a" }}{{ continue }}{{ end }}{{ . }}{{ end }}', "b"),
        ('{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" .B }}', "[2]"),
        ('{{ block "b" . }}default {{ .B }}{{ end }}', "default 2"),
        ('{{ and 1 0 }} {{ or 0 "" 3 }} {{ not 0 }}', "0 3 true"),
        ("{{ and 0 .Missing.Deep }}", "0"),
        ("{{ eq 1 2 3 1 }} {{ ne 1 2 }} {{ lt 1 2 }} {{ ge 2.5 2.5 }}", "true true true true"),
        ('{{ len .L }} {{ len "héllo" }} {{ index .L 1 }} {{ index .M "b" }}', "2 6 b 2"),
        ('{{ slice "abcdef" 1 3 }} {{ slice .L 1 }}', "bc [b]"),
        ("{{ .Missing }}|{{ .M.zz }}|{{ (.Missing) }}", "<no value>|<no value>|<no value>"),
        ("{{ .F }} {{ .G }} {{ .H }}", "1e+06 0.5 1e-05"),
        ("{{ .M }} {{ .L }}", "map[a:1 b:2 c:3] [a b]"),
        ('{{ .B | printf "%03d" }}', "002"),
        ('{{ printf "%s-%d-%v-%q" "a" 1 true "q" }}', 'a-1-true-"q"'),
        ('{{ print 1 2 "a" "b" 3 }}', "1 2ab3"),
        ('{{ html "<a&b>" }} {{ urlquery "a b&c" }}', "&lt;a&amp;b&gt; a+b%26c"),
    ],
)
def test_go_semantics(source, expected):
    data = {
        "A": 0, "B": 2, "L": ["a", "b"], "M": {"b": 2, "a": 1, "c": 3}, "Empty": [],
        "F": 1000000.0, "G": 0.5, "H": 1e-5,
    }  # fmt: skip
    assert run(source, data) == expected


@pytest.mark.parametrize(
    ("source", "message", "line", "column"),
    [
        ("{{ if }}", "missing value for if", 1, 7),
        ("a\n{{ end }}", "unexpected <end>", 2, 8),
        ("{{ $x }}", 'undefined variable "$x"', 1, 4),
        ("{{ nosuch 1 }}", 'function "nosuch" not defined', 1, 4),
        ("{{ break }}", "{{break}} outside {{range}}", 1, 4),
        ("{{ 1 | 2 }}", "non executable command in pipeline stage 2", 1, 8),
        ("x\n\n  {{ .A", "unclosed action", 3, 3),
        ("{{ range .L }}", "unexpected EOF", 1, 15),
        ('{{ "abc }}', "unterminated quoted string", 1, 4),
        ("{{ 1.2.3 }}", 'unexpected ".3" in operand', 1, 7),
        ("{{ 12ab }}", 'bad number syntax: "12ab"', 1, 4),
        ('{{ define "a" }}x{{ end }}{{ define "a" }}y{{ end }}', "multiple definition", 1, 0),
    ],
)
def test_syntax_errors_name_line_and_column(source, message, line, column):
    with pytest.raises(TemplateSyntaxError) as info:
        GoTemplate(source)
    assert message in str(info.value)
    assert info.value.line == line
    if column:
        assert info.value.column == column
    assert info.value.source_line in source


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ len .Missing }}", "error calling len: len of nil pointer"),
        ("{{ .Missing.Deep }}", "nil pointer evaluating interface {}.Deep"),
        ("{{ .B.X }}", "can't evaluate field X in type int"),
        ('{{ lt 1 "a" }}', "incompatible types for comparison"),
        ("{{ index .L 5 }}", "index out of range: 5"),
        ('{{ template "nope" }}', 'template "nope" not defined'),
        ("{{ .B 1 }}", "B is not a method but has arguments"),
        ("{{ 1 2 }}", "can't give argument to non-function 1"),
        ("{{ nil }}", "nil is not a command"),
        ("{{ range .B }}{{ end }}{{ range 1.5 }}{{ end }}", "range can't iterate over 1.5"),
    ],
)
def test_execution_errors(source, message):
    with pytest.raises(TemplateExecError) as info:
        run(source, {"B": 2, "L": ["a"]})
    assert message in str(info.value)
    assert info.value.line == 1


def test_execution_error_points_at_the_action():
    with pytest.raises(TemplateExecError) as info:
        run("line one\n  {{ len .Missing }}", {})
    assert (info.value.line, info.value.column) == (2, 6)
    assert "executing" in str(info.value) and "len .Missing" in str(info.value)


def test_python_source_is_deterministic():
    source = (
        '{{ range $i, $m := .Messages }}{{ if eq $m.Role "user" }}{{ $m.Content }}{{ end }}'
        "{{ end }}"
    )
    assert Template.from_go(source).python_source == Template.from_go(source).python_source
    assert "def _t0(rt, dot)" in Template.from_go(source).python_source


class TestUntrustedTemplates:
    def test_huge_range_stops(self):
        with pytest.raises(TemplateLimitError, match="steps"):
            run("{{ range 100000000 }}x{{ end }}", limits=Limits(max_steps=10_000))

    def test_exponential_template_calls_stop(self):
        source = (
            '{{ define "a" }}{{ template "a" . }}{{ template "a" . }}{{ end }}{{ template "a" . }}'
        )
        with pytest.raises(TemplateLimitError):
            run(source)

    def test_deep_recursion_stops(self):
        with pytest.raises(TemplateLimitError, match="depth"):
            run('{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}')

    def test_output_is_bounded(self):
        with pytest.raises(TemplateLimitError, match="output"):
            run(
                "{{ range 100000 }}" + "x" * 1000 + "{{ end }}", limits=Limits(max_output=1_000_000)
            )

    def test_huge_printf_width_is_refused(self):
        with pytest.raises(TemplateLimitError):
            run('{{ printf "%999999999d" 1 }}')

    def test_deep_nesting_is_a_clean_error(self):
        source = "{{ if 1 }}" * 5000 + "{{ end }}" * 5000
        with pytest.raises((TemplateSyntaxError, TemplateLimitError)):
            GoTemplate(source)

    @pytest.mark.parametrize(
        "source",
        [
            "{{ .__class__ }}",
            "{{ .Content.__class__.__mro__ }}",
            '{{ index . "__class__" }}',
            '{{ printf "%s" .__globals__ }}',
        ],
    )
    def test_no_python_attribute_is_reachable(self, source):
        out = Template.from_go(source).render([{"role": "user", "content": "x"}])
        assert "class" not in out.lower() or out == "<no value>"

    def test_template_text_cannot_inject_code(self):
        evil = '{{ "\\"); import os; os.system(\\"echo pwned\\") #" }}'
        assert run(evil) == '"); import os; os.system("echo pwned") #'


def test_legacy_final_turn_has_no_ollama_functions():
    # Ollama runs the last turn of a legacy template without its FuncMap.
    with pytest.raises(TemplateExecError, match='"currentDate" is not a defined function'):
        Template.from_go("{{ currentDate }}").render([{"role": "user", "content": "x"}])


def test_current_date_is_fixed_by_today():
    template = Template.from_go(
        "{{ currentDate }} {{ yesterdayDate }}{{ range .Messages }}{{ end }}"
    )
    assert template.render([], today=dt.date(2026, 3, 1)) == "2026-03-01 2026-02-28"


def test_json_of_large_integral_floats_uses_go_shortest_digits():
    template = Template.from_go(
        "{{ range .Messages }}{{ range .ToolCalls }}{{ json .Function.Arguments }}"
        "{{ end }}{{ end }}"
    )
    call = {"function": {"name": "f", "arguments": {"a": 12345678901234567890, "b": 1e20}}}
    rendered = template.render([{"role": "assistant", "content": "", "tool_calls": [call]}])
    assert rendered == '{"a":12345678901234567000,"b":100000000000000000000}'


def test_render_request_takes_llmkit_requests():
    from llmkit.types import ChatRequest, GenerateRequest

    template = Template.from_go(
        "{{ if .Suffix }}<PRE>{{ .Prompt }}<SUF>{{ .Suffix }}<MID>{{ else }}"
        "{{ range .Messages }}[{{ .Role }}]{{ .Content }}{{ end }}{{ end }}"
    )
    chat = ChatRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})
    assert template.render_request(chat) == "[user]hi"
    generate = GenerateRequest(prompt="p", system="s")
    assert template.render_request(generate) == "[system]s[user]p"
    assert template.render_request(GenerateRequest(prompt="a", suffix="b")) == "<PRE>a<SUF>b<MID>"


def test_model_level_system_prompt_goes_first_unless_the_chat_has_one():
    template = Template.from_go("{{ .System }}|{{ range .Messages }}[{{ .Role }}]{{ end }}")
    user = [{"role": "user", "content": "hi"}]
    assert template.render(user, system="model says") == "model says|[system][user]"
    own = [{"role": "system", "content": "mine"}, *user]
    assert template.render(own, system="model says") == "mine|[system][user]"


def test_image_tags_are_optional():
    template = Template.from_go("{{ range .Messages }}{{ .Content }}{{ end }}")
    message = [{"role": "user", "content": "look", "images": ["aGk="]}]
    assert template.render(message) == "look"
    assert template.render(message, image_tags=True) == "[img-0]look"
