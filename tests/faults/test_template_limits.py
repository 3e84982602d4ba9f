"""Untrusted Go templates cannot exhaust time or memory: every bound of ``Limits`` holds.

Templates are untrusted input (they come inside model files, and ``llmkit serve``'s
``/api/generate`` takes a ``template`` field).  Each "bomb" below once ran for minutes or
filled gigabytes; here each runs in a child process under an address-space limit
(``RLIMIT_AS``) and a timeout, and must end within seconds with a clear
``TemplateError`` naming the template line and column.  The exact-limit tests pin each
bound to the character: ``max_width`` allowed, one more refused, and so on.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from llmkit.template import (
    Limits,
    Template,
    TemplateCancelledError,
    TemplateError,
    TemplateLimitError,
    TemplateSyntaxError,
)
from llmkit.template.gotemplate import GoTemplate

ADDRESS_SPACE = 1536 * 1024 * 1024  # 1.5 GiB for the whole child, interpreter included
SECONDS = 10.0  # each bomb must be answered within this (the default deadline is 10 s)
MESSAGES = [{"role": "user", "content": "hi"}]

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, threading, time
    spec = json.loads(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (spec["rlimit"], spec["rlimit"]))
    from llmkit.template import Limits, Template, TemplateError

    def peak_kb():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmPeak:"):
                    return int(line.split()[1])
        return 0

    result = {}
    started = time.monotonic()
    try:
        limits = spec["limits"]
        if spec.get("cancel_after") is not None:
            event = threading.Event()
            threading.Timer(spec["cancel_after"], event.set).start()
            limits = dict(limits, cancel=event)
        template = Template.from_go(spec["template"], name="bomb")
        out = template.render(spec["messages"], limits=Limits(**limits))
        result = {"error": None, "output": len(out)}
    except TemplateError as exc:
        result = {
            "error": type(exc).__name__,
            "message": str(exc).splitlines()[0],
            "line": exc.line,
            "column": exc.column,
        }
    except BaseException as exc:  # what must never happen: anything else escapes
        result = {"error": "ESCAPED " + type(exc).__name__, "message": str(exc)[:500]}
    result["seconds"] = time.monotonic() - started
    result["peak_kb"] = peak_kb()
    print(json.dumps(result))
    """
)


def _bomb(
    template: str,
    *,
    limits: dict[str, Any] | None = None,
    rlimit: int = ADDRESS_SPACE,
    cancel_after: float | None = None,
    messages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Render ``template`` in a child under ``rlimit`` bytes of address space."""
    spec = {
        "template": template,
        "limits": limits or {},
        "rlimit": rlimit,
        "cancel_after": cancel_after,
        "messages": MESSAGES if messages is None else messages,
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=SECONDS + 30,
    )
    wall = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not str(result["error"]).startswith("ESCAPED"), result
    assert result["seconds"] < SECONDS, result
    assert wall < SECONDS + 10, (wall, result)
    return result


def _refused(result: dict[str, Any], kind: str, message: str) -> None:
    assert result["error"] == kind, result
    assert message in result["message"], result
    assert result["line"] >= 1 and result["column"] >= 1, result


DOUBLING = '{{ $x := "ab" }}{{ range 40 }}{{ $x = print $x $x }}{{ end }}{{ .Messages }}'
JS_CHAIN = "{{ " + "js (" * 32 + ".Content" + ")" * 32 + " }}{{ .Messages }}"
WIDE = '{{ range 3000 }}{{ printf "%99999d" 1 }}{{ end }}{{ .Messages }}'
BIG = '{{ $b := printf "%100000d" 1 }}{{ range 7 }}{{ $b = print $b $b }}{{ end }}'  # 12.8M


class TestBombs:
    """Each ran unbounded before; each now ends within seconds in bounded memory."""

    def test_variable_doubling(self):
        result = _bomb(DOUBLING)
        _refused(result, "TemplateLimitError", "error calling print: result exceeds 16777216")
        assert (result["line"], result["column"]) == (1, 34)  # at $x = print $x $x

    def test_js_chain(self):
        result = _bomb(JS_CHAIN, messages=[{"role": "user", "content": "<'\"&=>" * 10}])
        _refused(result, "TemplateLimitError", "error calling js: result exceeds 16777216")

    def test_json_chain(self):
        # each json doubles the backslashes (html and urlquery only grow linearly)
        chain = "{{ range .Messages }}{{ " + "json (" * 40 + ".Content" + ")" * 40 + " }}{{ end }}"
        result = _bomb(chain, messages=[{"role": "user", "content": "<'\"&=> é" * 10}])
        _refused(result, "TemplateLimitError", "error calling json: result exceeds 16777216")

    @pytest.mark.parametrize(
        ("action", "message"),
        [
            ('printf "%999999d" 1', "printf width 999999 exceeds 100000"),
            ('printf "%*d" 1000000 1', "printf width 1000000 exceeds 100000"),
            ('printf "%*d" -1000000 1', "printf width -1000000 exceeds 100000"),
            ('printf "%.999999f" 1.0', "printf precision 999999 exceeds 100000"),
            ('printf "%.*f" 1000000 1.0', "printf precision 1000000 exceeds 100000"),
            ('printf "%[2]*[1]d" 1 1000000', "printf width 1000000 exceeds 100000"),
            ('printf "%[1]*.[2]*[3]f" 5 1000000 1.0', "printf precision 1000000 exceeds"),
            ('printf "%999999999999999999999d" 1', "printf width 9999999999"),
        ],
    )
    def test_wide_printf(self, action, message):
        result = _bomb("{{ " + action + " }}{{ .Messages }}")
        _refused(result, "TemplateLimitError", message)
        assert "Limits.max_width" in result["message"]

    def test_many_wide_printfs(self):
        result = _bomb(WIDE)
        _refused(result, "TemplateLimitError", "template output exceeds 16777216 characters")

    def test_huge_complex_literal_is_a_syntax_error(self):
        result = _bomb("{{ 1e999i }}")
        _refused(result, "TemplateSyntaxError", 'illegal number syntax: "1e999i"')
        assert (result["line"], result["column"]) == (1, 4)

    def test_recursion_pinning_big_values(self):
        # every call keeps a new 12.8M string alive: 200 of them would be 2.5 GB
        source = (
            BIG + '{{ define "r" }}{{ template "r" (print (slice . 1) "x") }}{{ end }}'
            '{{ template "r" $b }}{{ .Messages }}'
        )
        result = _bomb(source)
        _refused(result, "TemplateLimitError", "Limits.max_alloc")

    def test_many_variables_pinning_big_values(self):
        keep = "".join(f'{{{{ $v{i} := print $b "{i}" }}}}' for i in range(200))
        result = _bomb(BIG + keep + "{{ .Messages }}")
        _refused(result, "TemplateLimitError", "Limits.max_alloc")

    def test_printf_verbs_repeating_a_big_value(self):
        result = _bomb(BIG + '{{ printf "%[1]s%[1]s%[1]s%[1]s" $b }}{{ .Messages }}')
        _refused(result, "TemplateLimitError", "error calling printf: result exceeds")

    def test_width_applied_to_every_element(self):
        # fmt pads each element of a slice: checked as it is padded, not after
        result = _bomb(
            '{{ range 200 }}{{ printf "%100000v" $.Messages }}{{ end }}',
            messages=[{"role": "user", "content": "x"}] * 200,
        )
        _refused(result, "TemplateLimitError", "exceeds")

    def test_quoting_a_big_value_is_fast(self):
        result = _bomb(BIG + '{{ $q := printf "%q" $b }}{{ $q := printf "%x" $b }}{{ .Messages }}')
        _refused(result, "TemplateLimitError", "exceeds")

    def test_comparing_big_values_meets_the_deadline(self):
        source = (
            BIG + '{{ $a := print $b "x" }}{{ $c := print $b "x" }}'
            "{{ range 1000000 }}{{ if eq $a $c }}{{ end }}{{ end }}{{ .Messages }}"
        )
        result = _bomb(source, limits={"max_seconds": 1.0})
        _refused(result, "TemplateLimitError", "took longer than 1 seconds")
        assert result["seconds"] < 3, result

    def test_straight_line_work_meets_the_deadline(self):
        # no loop at all: the deadline is also checked between straight-line actions
        actions = "{{ if eq $a $c }}{{ end }}" * 5000
        source = BIG + '{{ $a := print $b "x" }}{{ $c := print $b "x" }}' + actions
        result = _bomb(source + "{{ .Messages }}", limits={"max_seconds": 0.5})
        _refused(result, "TemplateLimitError", "Limits.max_seconds")
        assert result["seconds"] < 2.5, result

    def test_huge_range(self):
        result = _bomb("{{ range 100000000 }}{{ end }}{{ .Messages }}")
        _refused(result, "TemplateLimitError", "exceeded 1000000 steps")

    def test_exponential_template_calls(self):
        source = (
            '{{ define "a" }}{{ template "a" . }}{{ template "a" . }}{{ end }}'
            '{{ template "a" . }}{{ .Messages }}'
        )
        result = _bomb(source)
        _refused(result, "TemplateLimitError", "Limits.max_")

    def test_cancel_stops_a_running_render(self):
        source = "{{ range 100000000 }}{{ end }}{{ .Messages }}"
        result = _bomb(source, limits={"max_steps": 10**9}, cancel_after=0.3)
        _refused(result, "TemplateCancelledError", "rendering was cancelled")
        assert result["seconds"] < 2, result

    def test_memory_error_never_escapes(self):
        # limits lifted, address space small: the MemoryError becomes a TemplateLimitError
        limits = {"max_output": 10**12, "max_alloc": 10**13}
        result = _bomb(DOUBLING, limits=limits, rlimit=400 * 1024 * 1024)
        _refused(result, "TemplateLimitError", "ran out of memory")

    def test_legacy_turns_share_one_budget(self):
        # no .Messages: Ollama's legacy path executes the template once per turn
        source = "{{ .Prompt }}{{ range 600000 }}{{ end }}{{ .Response }}"
        turns = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}] * 3
        result = _bomb(source, messages=turns)
        _refused(result, "TemplateLimitError", "exceeded 1000000 steps")


# -- exact limits (in process) -----------------------------------------------------------


def _render(source: str, limits: Limits, messages: list[dict[str, Any]] | None = None) -> str:
    return Template.from_go(source).render(
        MESSAGES if messages is None else messages, limits=limits
    )


class TestExactLimits:
    @pytest.mark.parametrize(
        "action",
        [
            'printf "%{n}d" 1',
            'printf "%-{n}d" 1',
            'printf "%.{n}f" 1.5',
            'printf "%.{n}s" "abc"',
            'printf "%*d" {n} 1',
            'printf "%.*f" {n} 1.5',
            'printf "%[2]*[1]d" 1 {n}',
            'printf "%[2].[1]*[3]f" {n} 0 1.5',
        ],
    )
    def test_width_and_precision(self, action):
        allowed = "{{ if .Messages }}{{ " + action.format(n=100_000) + " }}{{ end }}"
        assert len(_render(allowed, Limits())) >= 3
        refused = "{{ if .Messages }}{{ " + action.format(n=100_001) + " }}{{ end }}"
        with pytest.raises(TemplateLimitError, match=r"exceeds 100000 \(Limits.max_width\)"):
            _render(refused, Limits())

    def test_width_limit_is_configurable(self):
        source = '{{ if .Messages }}{{ printf "%11d" 1 }}{{ end }}'
        with pytest.raises(TemplateLimitError, match="printf width 11 exceeds 10"):
            _render(source, Limits(max_width=10))
        assert _render(source, Limits(max_width=11)) == " " * 10 + "1"

    @pytest.mark.parametrize(
        "source",
        [
            "{{ if .Messages }}{{ end }}" + "x" * 100,  # template text
            '{{ if .Messages }}{{ end }}{{ printf "%100s" "" }}',  # a value
            "{{ if .Messages }}{{ end }}{{ range 10 }}0123456789{{ end }}",  # a loop
            '{{ define "t" }}{{ . }}{{ end }}{{ if .Messages }}{{ template "t" "'
            + "y" * 100
            + '" }}{{ end }}',
            "{{ range .Messages }}{{ .Content }}{{ end }}",
            # text left over at the end of branches and loop turns is counted too
            "{{ if .Messages }}{{ end }}{{ range 10 }}{{ if true }}0123456789{{ end }}{{ end }}",
            "{{ if .Messages }}{{ end }}{{ range 10 }}{{ if false }}x{{ else }}01234{{ end }}"
            "56789{{ end }}",
            '{{ if .Messages }}{{ end }}{{ range 10 }}{{ if true }}01234{{ end }}{{ "56789" }}'
            "{{ end }}",
            "{{ if .Messages }}{{ end }}{{ range $i := 20 }}{{ if ge $i 10 }}{{ break }}"
            "{{ end }}0123456789{{ end }}",
            "{{ if .Messages }}{{ end }}{{ range $i := 20 }}0123456789{{ if ge $i 9 }}"
            "{{ break }}{{ end }}{{ end }}",
        ],
    )
    def test_output(self, source):
        messages = [{"role": "user", "content": "z" * 100}]
        assert len(_render(source, Limits(max_output=100), messages)) == 100
        with pytest.raises(
            TemplateLimitError, match=r"exceeds 99 characters \(Limits.max_output\)"
        ):
            _render(source, Limits(max_output=99), messages)

    def test_output_limit_is_exact_for_any_template(self):
        # every template of the fuzz soup that renders: its own length renders, one less not
        from test_fuzz import DATA, FRAGMENTS

        rng = random.Random(5)
        checked = 0
        for _ in range(3000):
            source = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 40)))
            try:
                compiled = GoTemplate(source)
                out = compiled.execute(DATA)
            except TemplateError:
                continue
            assert compiled.execute(DATA, limits=Limits(max_output=len(out))) == out
            if out:
                with pytest.raises(TemplateLimitError, match="exceeds"):
                    compiled.execute(DATA, limits=Limits(max_output=len(out) - 1))
            checked += 1
        assert checked > 300

    def test_text_only_loop_stops_early(self):
        source = "{{ if .Messages }}{{ end }}{{ range 100000000 }}" + "x" * 100 + "{{ end }}"
        started = time.monotonic()
        with pytest.raises(TemplateLimitError, match="template output exceeds 1000000"):
            _render(source, Limits(max_output=1_000_000, max_steps=10**9))
        assert time.monotonic() - started < 2  # not after 10**8 turns

    def test_output_names_the_action(self):
        source = '{{ if .Messages }}{{ end }}abc\n  {{ "defg" }}'
        with pytest.raises(TemplateLimitError) as info:
            _render(source, Limits(max_output=6))
        assert (info.value.line, info.value.column) == (2, 6)

    def test_output_counts_all_legacy_turns(self):
        source = "{{ .Prompt }}:{{ .Response }};"
        turns = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}] * 3
        assert _render(source, Limits(max_output=11), turns) == "q:a;q:a;q:a"
        with pytest.raises(TemplateLimitError, match="output exceeds 10 characters"):
            _render(source, Limits(max_output=10), turns)

    @pytest.mark.parametrize("function", ["print", 'printf "%s"', "html", "js", "urlquery"])
    def test_value_size(self, function):
        source = "{{ range .Messages }}{{ $v := " + function + " .Content }}{{ len $v }}{{ end }}"
        messages = [{"role": "user", "content": "a" * 1000}]
        assert _render(source, Limits(max_output=1000), messages) == "1000"
        with pytest.raises(TemplateLimitError, match="result exceeds 999 characters"):
            _render(source, Limits(max_output=999), messages)

    def test_value_size_of_other_functions(self):
        source = "{{ range .Messages }}{{ $v := json .Content }}{{ len $v }}{{ end }}"
        messages = [{"role": "user", "content": "a" * 998}]
        assert _render(source, Limits(max_output=1000), messages) == "1000"
        with pytest.raises(TemplateLimitError, match="error calling json: result exceeds 999"):
            _render(source, Limits(max_output=999), messages)

    def test_long_escapes_are_checked_as_they_are_built(self):
        messages = [{"role": "user", "content": "<" * 300_000}]  # js makes 1.8 M characters
        source = "{{ range .Messages }}{{ js .Content }}{{ end }}"
        with pytest.raises(TemplateLimitError, match="error calling js: result exceeds"):
            _render(source, Limits(max_output=1_000_000), messages)
        assert len(_render(source, Limits(), messages)) == 1_800_000

    def test_created_values(self):
        source = "{{ range 10 }}{{ $v := print $.Messages }}{{ end }}"
        size = len(_render("{{ print .Messages }}", Limits()))
        assert _render(source, Limits(max_alloc=10 * size)) == ""
        with pytest.raises(TemplateLimitError, match=f"exceed {10 * size - 1} characters"):
            _render(source, Limits(max_alloc=10 * size - 1))

    def test_steps(self):
        source = "{{ if .Messages }}{{ end }}{{ range 10 }}{{ end }}"
        assert _render(source, Limits(max_steps=10)) == ""
        with pytest.raises(TemplateLimitError, match="exceeded 9 steps"):
            _render(source, Limits(max_steps=9))

    def test_steps_count_template_calls(self):
        source = (
            '{{ define "t" }}{{ end }}{{ if .Messages }}{{ end }}'
            '{{ range 4 }}{{ template "t" . }}{{ end }}'
        )
        assert _render(source, Limits(max_steps=8)) == ""
        with pytest.raises(TemplateLimitError, match="exceeded 7 steps"):
            _render(source, Limits(max_steps=7))

    def test_depth(self):
        chain = "".join(
            f'{{{{ define "t{i}" }}}}{{{{ template "t{i + 1}" . }}}}{{{{ end }}}}' for i in range(5)
        )
        source = (
            chain + '{{ define "t5" }}deep{{ end }}{{ if .Messages }}{{ template "t0" . }}{{ end }}'
        )
        assert _render(source, Limits(max_depth=6)) == "deep"
        with pytest.raises(TemplateLimitError, match="depth"):
            _render(source, Limits(max_depth=5))

    def test_deadline(self):
        started = time.monotonic()
        with pytest.raises(TemplateLimitError, match=r"took longer than 0\.2 seconds"):
            _render(
                "{{ .Messages }}{{ range 100000000 }}{{ end }}",
                Limits(max_steps=10**9, max_seconds=0.2),
            )
        assert time.monotonic() - started < 1.5

    def test_cancel_before_rendering(self):
        event = threading.Event()
        event.set()
        with pytest.raises(TemplateCancelledError, match="cancelled"):
            _render("{{ .Messages }}", Limits(cancel=event))
        with pytest.raises(TemplateCancelledError):
            _render("{{ .Messages }}", Limits(cancel=lambda: True))
        assert _render("{{ .Messages }}", Limits(cancel=lambda: False)) == _render(
            "{{ .Messages }}", Limits()
        )

    def test_cancel_checked_in_straight_line_code(self):
        calls = []

        def cancel() -> bool:
            calls.append(1)
            return len(calls) > 1  # the check before rendering passes, the next one stops

        source = "{{ .Messages }}" + "{{ 1 }}" * 40
        with pytest.raises(TemplateCancelledError) as info:
            _render(source, Limits(cancel=cancel))
        assert info.value.line == 1 and info.value.column > 1

    @pytest.mark.parametrize(
        "kwargs",
        [{"max_steps": -1}, {"max_output": 1.5}, {"max_seconds": 0}, {"max_alloc": "x"}],
    )
    def test_limits_are_validated(self, kwargs):
        with pytest.raises(ValueError, match="Limits"):
            Limits(**kwargs)


class TestGoAgrees:
    """Where Go itself fails, llmkit fails the same way."""

    def test_huge_literals(self):
        for literal in ("1e999i", "1e999", "-1e999", "0x1p99999"):
            with pytest.raises(TemplateSyntaxError, match="illegal number syntax"):
                Template.from_go("{{ " + literal + " }}")

    def test_define_on_the_legacy_path(self):
        import gorender  # the test extra's Go is always there: no Go is a failure

        source = '{{ define "x" }}X{{ end }}{{ template "x" . }}{{ .Prompt }}'
        try:
            gorender.go_render(source, MESSAGES)
        except gorender.GoRenderError as exc:
            assert exc.stage == "execute" and 'template "x" not defined' in exc.message
        else:
            pytest.fail("Go renders it")
        with pytest.raises(Exception, match='template "x" not defined'):
            _render(source, Limits())


def test_limits_do_not_change_plain_renders():
    source = GoTemplate('{{ range . }}{{ printf "%5s|" . }}{{ end }}')
    assert source.execute(["a", "bb"], limits=Limits(max_output=14)) == "    a|   bb|"
