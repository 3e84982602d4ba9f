"""Fuzzing the compiler: random input never crashes it, hangs it, or disagrees with Go.

* Any text: compiling raises nothing but ``TemplateSyntaxError``/``TemplateLimitError``, and
  rendering nothing but ``TemplateExecError``/``TemplateLimitError``, within the limits.
* Random well-formed-ish templates over Ollama's data: llmkit and Go (the reference program)
  agree on success or failure, and on every byte when both succeed.
"""

from __future__ import annotations

import contextlib
import random
import re

from gorender import go_render_many
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmkit.template import (
    Template,
    TemplateError,
    TemplateExecError,
    TemplateLimitError,
    TemplateSyntaxError,
)
from llmkit.template.gotemplate import GoTemplate
from llmkit.template.runtime import Limits

FRAGMENTS = [
    "{{", "}}", "{{-", "-}}", " ", "\n", "if", "else", "end", "range", "with", "define",
    "template", "block", "break", "continue", ".", ".A", ".B.C", "$", "$x", ":=", "=", "|",
    "(", ")", '"s"', "`r`", "'c'", "1", "-2", "0x1F", "1.5e3", "2i", "true", "nil", "and", "or",
    "not", "len", "index", "slice", "print", "printf", "eq", "lt", "html", "js", "urlquery",
    "json", "/*", "*/", "text", ",",
]  # fmt: skip

DATA = {"A": [1.0, "two", None, {"k": "v"}], "B": {"C": 3.0}, "S": "é<&>"}
LIMITS = Limits(max_steps=5_000, max_output=100_000)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40))
def test_any_fragment_soup_fails_cleanly(parts):
    source = "".join(parts)
    try:
        compiled = GoTemplate(source)
    except (TemplateSyntaxError, TemplateLimitError):
        return
    with contextlib.suppress(TemplateExecError, TemplateLimitError):
        compiled.execute(DATA, limits=LIMITS)


def test_a_seeded_fragment_soup_fails_cleanly():
    # A deterministic sweep beside hypothesis: it found a parser loop at end of input.
    rng = random.Random(1)
    for _ in range(3000):
        source = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 40)))
        try:
            compiled = GoTemplate(source)
        except (TemplateSyntaxError, TemplateLimitError):
            continue
        with contextlib.suppress(TemplateExecError, TemplateLimitError):
            compiled.execute(DATA, limits=LIMITS)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_fails_cleanly(source):
    try:
        compiled = GoTemplate(source)
    except (TemplateSyntaxError, TemplateLimitError):
        return
    with contextlib.suppress(TemplateExecError, TemplateLimitError):
        compiled.execute(DATA, limits=LIMITS)


# -- differential fuzzing against Go ---------------------------------------------------

TERMS = [
    ".System", ".Response", ".Prompt", ".Tools", ".Messages", "$.Messages", "(len .Messages)",
    "(index .Messages 0)", "(index .Messages 0).Role", "(index .Messages 0).Content",
    '"x"', '""', "0", "1", "2.5", "1e6", "-0.0", "true", "false", ".Think", ".ThinkLevel",
    ".IsThinkSet", "(slice .System 0 1)", '(printf "%q|%5.2f|%x" .System 3.14159 255)',
    "(json .Messages)", "(json .Tools)", '(eq .System "")', "(not .Tools)", "(print 1 2.0 \"a\")",
    "(html .System)", "(js .System)", "(urlquery .System)", ".Missing", "(len .Tools)",
]  # fmt: skip
IN_MESSAGE = [
    ".Role", ".Content", ".Thinking", ".ToolCalls", ".ToolName", ".ToolCallID", ".Images",
    '(eq .Role "user")', '(eq .Role "assistant" "tool")', "(len .Content)", "$.System", "$i",
    "(json .ToolCalls)",
]  # fmt: skip
IN_CALL = [
    ".Function.Name",
    ".Function.Arguments",
    ".Function.Index",
    ".ID",
    "(json .Function.Arguments)",
    ".Function",
]
IN_TOOL = [
    ".Type", ".Function.Name", ".Function.Description", ".Function", ".Function.Parameters",
    ".Function.Parameters.Properties", ".Function.Parameters.Required", "(json .)", ".",
]  # fmt: skip


def _expr(rng: random.Random, pool: list[str]) -> str:
    roll = rng.random()
    if roll < 0.15:
        return f"(and {rng.choice(pool)} {rng.choice(pool)})"
    if roll < 0.25:
        return f"(or {rng.choice(pool)} {rng.choice(pool)})"
    return rng.choice(pool)


def _block(rng: random.Random, depth: int, pool: list[str], scope: str) -> str:
    out = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        trim_l = "-" if rng.random() < 0.3 else ""
        trim_r = "-" if rng.random() < 0.3 else ""
        if roll < 0.35:
            out.append(rng.choice(["a", " b ", "\n", "<|im|>", "é", "{", "  "]))
        elif roll < 0.65 or depth > 2:
            out.append(f"{{{{{trim_l} {_expr(rng, pool)} {trim_r}}}}}")
        elif roll < 0.75:
            out.append(
                f"{{{{ if {_expr(rng, pool)} }}}}{_block(rng, depth + 1, pool, scope)}"
                f"{{{{ else }}}}{_block(rng, depth + 1, pool, scope)}{{{{ end }}}}"
            )
        elif roll < 0.85 and scope == "top":
            out.append(
                f"{{{{ range $i, $m := .Messages }}}}{_block(rng, depth + 1, IN_MESSAGE, 'msg')}"
                f"{{{{ range .ToolCalls }}}}{_block(rng, depth + 1, IN_CALL, 'call')}{{{{ end }}}}"
                "{{ end }}"
            )
        elif roll < 0.92 and scope == "top":
            out.append(
                f"{{{{ range .Tools }}}}{_block(rng, depth + 1, IN_TOOL, 'tool')}{{{{ end }}}}"
            )
        else:
            out.append(f"{{{{ with {_expr(rng, pool)} }}}}{{{{ . }}}}{{{{ end }}}}")
    return "".join(out)


CONVERSATION = [
    {"role": "system", "content": 'S <&> "q" é'},
    {"role": "user", "content": "hi"},
    {"role": "assistant", "content": "", "thinking": "hmm",
     "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": {"n": 1000000, "x": 0.5,
                                                                         "o": {"b": [1, None]}}}}]},
    {"role": "tool", "content": "42", "tool_name": "f"},
    {"role": "user", "content": ""},
]  # fmt: skip
TOOLS = [{"type": "function", "function": {"name": "f", "description": "d <x>", "parameters": {
    "type": "object", "required": ["n"], "properties": {
        "n": {"type": "integer", "description": "a number"},
        "z": {"type": ["string", "null"], "enum": ["a", "b"]}}}}}]  # fmt: skip


def _addresses(text: str) -> str:
    # Go prints pointers inside values as heap addresses, different on every run.
    return re.sub(r"0x[0-9a-f]{6,}", "0xADDRESS", text)


def test_random_templates_agree_with_go():
    rng = random.Random(20261128)
    templates = [_block(rng, 0, TERMS, "top") for _ in range(1500)]
    cases = [
        {"template": t, "messages": CONVERSATION, "tools": TOOLS if i % 3 else None,
         "think": [None, True, "high"][i % 3], "compat": ["current", "v0.14", "v0.13"][i % 5 % 3],
         "today": "2026-11-28"}
        for i, t in enumerate(templates)
    ]  # fmt: skip
    expected = go_render_many(cases)
    mismatches = []
    for case, want in zip(cases, expected, strict=True):
        try:
            got = Template.from_go(case["template"]).render(
                case["messages"], tools=case["tools"], think=case["think"], compat=case["compat"]
            )
        except TemplateError as exc:
            if "error" not in want:
                mismatches.append((case["template"], f"llmkit failed: {exc}", want["output"]))
            continue
        if "error" in want:
            mismatches.append((case["template"], got, f"go failed: {want['error']}"))
        elif _addresses(got) != _addresses(want["output"]):
            mismatches.append((case["template"], got, want["output"]))
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ; first: {mismatches[0]!r}"
