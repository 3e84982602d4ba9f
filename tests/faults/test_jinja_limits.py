"""Hostile Jinja chat templates (they ship inside model files) against the render limits.

Each bomb runs in a child ``python -c`` under a 1.5 GiB address-space limit and a timeout:
it must be refused within a few seconds with a ``ChatTemplateError`` naming the limit that
stopped it (running out of memory instead would fail the test: the message would say so).
The exact-limit tests run in-process with small limits; the equivalence tests check that
the bounded environment renders what jinja2's plain sandbox renders.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmkit.chat_template import (
    ChatTemplateError,
    ChatTemplateLimits,
    JinjaChatTemplate,
    hf_messages,
    hf_tools,
)
from llmkit.types import Message, Tool

ADDRESS_SPACE = 1536 << 20
CHILD_TIMEOUT = 60  # seconds; the bombs must be answered far sooner (FAST)
FAST = 10.0

STEPS = "ChatTemplateLimits.max_steps = 1000000"
OUTPUT = "ChatTemplateLimits.max_output = 16777216"
PROMPT = "the rendered prompt went past ChatTemplateLimits.max_output = 16777216"
ALLOC = "ChatTemplateLimits.max_alloc = 134217728"
RANGE = "ChatTemplateLimits.max_range = 100000"
BITS = "an integer would have more than 16384 bits"
RECURSION = "recursion too deep"
SECONDS = "ChatTemplateLimits.max_seconds = 5 seconds"

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from llmkit.chat_template import ChatTemplateError, ChatTemplateLimits, JinjaChatTemplate
    from llmkit.types import Message
    source, limits = json.loads(sys.stdin.read())
    start = time.monotonic()
    try:
        template = JinjaChatTemplate(source, limits=ChatTemplateLimits(**limits))
        prompt = template.render([Message(role="user", content="hi")])
        outcome = {{"error": None, "length": len(prompt)}}
    except ChatTemplateError as exc:
        outcome = {{"error": "ChatTemplateError", "message": str(exc)}}
    except BaseException as exc:
        outcome = {{"error": type(exc).__name__, "message": str(exc)[:500]}}
    outcome["seconds"] = time.monotonic() - start
    # This process's own peak (VmHWM): ru_maxrss would carry the forking parent's over exec.
    with open("/proc/self/status") as status:
        peaks = [line.split()[1] for line in status if line.startswith("VmHWM:")]
    outcome["peak_mib"] = int(peaks[0]) / 1024
    print(json.dumps(outcome))
    """
).format(limit=ADDRESS_SPACE)


def run_isolated(source: str, **limits) -> dict:
    """Compile and render ``source`` in a child process with bounded address space."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps([source, limits]),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


BOMBS = {
    # loops
    "nested-range-loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        STEPS,
    ),
    "loop-over-huge-string": (
        '{% set s = "x" * 10000000 %}{% for c in s %}{% endfor %}',
        STEPS,
    ),
    "loop-over-filter-generator": (
        "{% for i in range(100000) %}{% for x in range(100000)|select %}{% endfor %}{% endfor %}",
        STEPS,
    ),
    "huge-range": ("{% for i in range(10**12) %}{% endfor %}", RANGE),
    "slice-into-a-billion-lists": ("{{ [1]|slice(1000000000)|list|length }}", STEPS),
    # one huge value
    "string-repetition": ('{{ "x" * 10**9 }}', OUTPUT),
    "list-repetition": ("{{ [0] * 10**9 }}", OUTPUT),
    "power-tower": ("{{ 10 ** (10 ** 10) }}", BITS),
    "integer-squaring": (
        "{% set ns = namespace(x=10) %}{% for i in range(64) %}{% set ns.x = ns.x * ns.x %}"
        "{% endfor %}",
        BITS,
    ),
    "center-filter": ('{{ "x"|center(1000000000) }}', OUTPUT),
    "center-method": ('{{ "x".center(1000000000) }}', OUTPUT),
    "indent-filter": ('{{ ("\\n" * 1000000)|indent(1000) }}', OUTPUT),
    "str-format-width": ('{{ "{:>1000000000}".format(1) }}', OUTPUT),
    "printf-width": ('{{ "%1000000000d" % 1 }}', OUTPUT),
    "format-filter-width": ('{{ "%1000000000d"|format(1) }}', OUTPUT),
    "replace-amplifies": ('{% set x = "x" * 1000000 %}{{ x|replace("", x) }}', OUTPUT),
    "join-amplifies": ('{% set x = "x" * 1000000 %}{{ x|list|join(x) }}', OUTPUT),
    "translate-amplifies": ('{% set x = "a" * 100000 %}{{ x.translate({97: x}) }}', OUTPUT),
    "expandtabs-amplifies": ('{% set x = "\\t" * 100000 %}{{ x.expandtabs(100000) }}', OUTPUT),
    # doubling
    "concat-doubling-in-loop": (
        '{% set ns = namespace(s="x") %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}'
        "{% endfor %}",
        OUTPUT,
    ),
    "plus-doubling-in-loop": (
        '{% set ns = namespace(s="x") %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}'
        "{% endfor %}",
        OUTPUT,
    ),
    "set-x-to-x-tilde-x": ('{% set x = "x" %}' + "{% set x = x ~ x %}" * 60, OUTPUT),
    "block-set-doubling": (
        '{% set ns = namespace(s="x") %}{% for i in range(100) %}{% set t %}{{ ns.s }}{{ ns.s }}'
        "{% endset %}{% set ns.s = t %}{% endfor %}",
        OUTPUT,
    ),
    "block-set-of-a-long-loop": (
        "{% set t %}{% for i in range(100000) %}" + "A" * 1000 + "{% endfor %}{% endset %}",
        OUTPUT,
    ),
    # streamed output
    "streamed-output": ('{% for i in range(99999) %}{{ "x" * 99999 }}{% endfor %}', PROMPT),
    # shared references printed in full
    "nested-references-printed": (
        '{% set a = ["x" * 1000] * 1000 %}{% set b = [a] * 1000 %}{{ b }}',
        OUTPUT,
    ),
    "nested-references-tojson": (
        '{% set a = ["x" * 1000] * 1000 %}{% set b = [a] * 1000 %}{{ b|tojson }}',
        OUTPUT,
    ),
    "nested-references-tojson-indented": (
        '{% set a = ["x" * 1000] * 1000 %}{% set b = [a] * 1000 %}{{ b|tojson(indent=2) }}',
        OUTPUT,
    ),
    "tojson-huge-indent": ("{{ [[[1]]]|tojson(indent=1000000000) }}", OUTPUT),
    "nested-references-concat": (
        '{% set a = ["x" * 1000] * 1000 %}{% set b = [a] * 1000 %}{{ "" ~ b }}',
        OUTPUT,
    ),
    "nested-references-format-repr": (
        '{% set a = ["x" * 1000] * 1000 %}{% set b = [a] * 1000 %}{{ "{!r}".format(b) }}',
        OUTPUT,
    ),
    "nested-references-printf": (
        '{% set a = ["x" * 1000] * 1000 %}{% set b = [a] * 1000 %}{{ "%s" % (b,) }}',
        OUTPUT,
    ),
    "nested-references-join-separator": (
        '{% set a = ["x" * 1000] * 1000 %}{% set b = [a] * 1000 %}{{ [1, 2]|join(b) }}',
        OUTPUT,
    ),
    "nested-list-literals-joined": (
        '{% set a = "x" * 1000 %}'
        + "{% set a = [a, a, a, a, a, a, a, a, a, a] %}" * 10
        + "{{ a|string }}",
        OUTPUT,
    ),
    # many copies kept alive
    "live-copies": (
        '{% set ns = namespace(l=[]) %}{% set big = "x" * 1000000 %}{% for i in range(100000) %}'
        "{% set ns.l = ns.l + [big ~ i] %}{% endfor %}",
        ALLOC,
    ),
    # recursion
    "macro-calls-itself": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", RECURSION),
    "macro-branching-recursion": (
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
        (STEPS, SECONDS),  # a macro call is a few microseconds: either limit may come first
    ),
    "recursive-loop-over-a-cycle": (
        "{% set ns = namespace() %}{% set ns.me = [ns] %}{% for n in [ns] recursive %}"
        "{{ loop(n.me) }}{% endfor %}",
        RECURSION,
    ),
}


@pytest.mark.parametrize(("source", "limit"), BOMBS.values(), ids=BOMBS.keys())
def test_bombs_are_refused_fast_with_bounded_memory(source, limit):
    outcome = run_isolated(source)
    assert outcome["error"] == "ChatTemplateError", outcome
    limits = limit if isinstance(limit, tuple) else (limit,)
    assert any(each in outcome["message"] for each in limits), outcome
    assert outcome["seconds"] < FAST, outcome
    assert outcome["peak_mib"] < 1024, outcome


def test_quadratic_sum_of_lists_runs_in_linear_time():
    outcome = run_isolated("{{ range(100000)|batch(1)|sum(start=[])|length }}")
    assert outcome["error"] is None, outcome
    assert outcome["seconds"] < FAST, outcome


def test_running_out_of_memory_is_a_chat_template_error():
    # Limits raised past what the child may allocate: the MemoryError itself is reported.
    outcome = run_isolated('{{ ("x" * 4000000000)|length }}', max_output=10**10, max_alloc=10**11)
    assert outcome["error"] == "ChatTemplateError", outcome
    assert "out of memory" in outcome["message"], outcome


# -- in-process: every limit, to the exact value --------------------------------------

USER = [Message(role="user", content="hi")]


def render(source, messages=USER, **limits):
    return JinjaChatTemplate(source, limits=ChatTemplateLimits(**limits)).render(messages)


def refused(source, limit, messages=USER, **limits):
    with pytest.raises(ChatTemplateError) as caught:
        render(source, messages, **limits)
    assert limit in str(caught.value)
    return str(caught.value)


def test_defaults_are_documented_values():
    limits = ChatTemplateLimits()
    assert limits.max_template_size == 256 * 1024
    assert limits.max_steps == 1_000_000
    assert limits.max_output == 16 * 1024 * 1024
    assert limits.max_alloc is None
    assert limits.alloc_limit == 8 * limits.max_output
    assert limits.max_range == 100_000
    assert limits.max_seconds == 5.0
    assert JinjaChatTemplate("x").limits == limits


@pytest.mark.parametrize(
    "bad",
    [
        {"max_steps": -1},
        {"max_output": 1.5},
        {"max_range": True},
        {"max_template_size": None},
        {"max_alloc": "1"},
        {"max_seconds": 0},
        {"max_seconds": -1.0},
    ],
)
def test_limits_are_validated(bad):
    with pytest.raises(ValueError, match="ChatTemplateLimits"):
        ChatTemplateLimits(**bad)


def test_deadline_can_be_turned_off():
    assert render("{{ 1 }}", max_seconds=math.inf) == "1"


def test_template_size_exact():
    JinjaChatTemplate("x" * 100, limits=ChatTemplateLimits(max_template_size=100))
    with pytest.raises(ChatTemplateError, match=r"max_template_size = 100$"):
        JinjaChatTemplate("x" * 101, limits=ChatTemplateLimits(max_template_size=100))


def test_output_exact():
    loop = "{% for i in range(N) %}0123456789{% endfor %}"
    assert len(render(loop.replace("N", "10"), max_output=100)) == 100
    refused(loop.replace("N", "11"), "ChatTemplateLimits.max_output = 100", max_output=100)


def test_output_exact_counts_the_messages():
    chatml = "{% for m in messages %}{{ m.content }}{% endfor %}"
    fits = [Message(role="user", content="x" * 50), Message(role="user", content="y" * 50)]
    assert len(render(chatml, fits, max_output=100)) == 100
    over = [*fits, Message(role="user", content="z")]
    refused(chatml, "ChatTemplateLimits.max_output = 100", over, max_output=100)


@pytest.mark.parametrize(
    "build",
    [
        '"x" * {n}',
        '"x" ~ "x" * ({n} - 1)',
        '"x" + "x" * ({n} - 1)',
        '"x".ljust({n})',
        '"x"|center({n})',
        '"%{n}s" % "x"',
        '"{{:{n}}}".format("x")',
        "[0] * {n}",
        "range({n})|list",
    ],
)
def test_value_size_exact(build):
    assert render("{{ (" + build.format(n=100) + ")|length }}", max_output=100) == "100"
    refused(
        "{{ (" + build.format(n=101) + ")|length }}",
        "ChatTemplateLimits.max_output = 100",
        max_output=100,
    )


def test_steps_exact_for_range_loops():
    # range() is a call (1 step), its 9 items are 9 more.
    assert render("{% for i in range(9) %}{% endfor %}ok", max_steps=10) == "ok"
    refused(
        "{% for i in range(10) %}{% endfor %}", "ChatTemplateLimits.max_steps = 10", max_steps=10
    )


def test_steps_count_loops_over_messages_strings_and_dicts():
    five = [Message(role="user", content=str(i)) for i in range(5)]
    assert render("{% for m in messages %}{% endfor %}ok", five, max_steps=5) == "ok"
    refused("{% for m in messages %}{% endfor %}", "max_steps = 4", five, max_steps=4)
    assert render("{% for c in 'abcd' %}{% endfor %}ok", max_steps=4) == "ok"
    refused("{% for c in 'abcde' %}{% endfor %}", "max_steps = 4", max_steps=4)
    assert render("{% for k in {'a': 1, 'b': 2} %}{% endfor %}ok", max_steps=2) == "ok"
    refused("{% for k in {'a': 1, 'b': 2, 'c': 3} %}{% endfor %}", "max_steps = 2", max_steps=2)


def test_steps_count_every_item_of_a_generator():
    # selectattr is one step; it yields the 3 user messages one by one.
    four = [Message(role=role, content="x") for role in ("user", "assistant", "user", "user")]
    loop = "{% for m in messages|selectattr('role', 'equalto', 'user') %}{% endfor %}ok"
    assert render(loop, four, max_steps=4) == "ok"
    refused(loop, "max_steps = 3", four, max_steps=3)


def test_steps_count_calls_filters_and_nested_loops():
    # 1 (range) + 3 iterations + 3 method calls + 3 filters
    source = "{% for i in range(3) %}{{ 'a'.upper()|lower }}{% endfor %}"
    assert render(source, max_steps=10) == "aaa"
    refused(source, "max_steps = 9", max_steps=9)
    nested = "{% for i in 'ab' %}{% for j in 'abc' %}{% endfor %}{% endfor %}ok"
    assert render(nested, max_steps=8) == "ok"  # 2 + 2 * 3
    refused(nested, "max_steps = 7", max_steps=7)


def test_steps_count_recursive_loops():
    tree = "{% set t = [{'c': [{'c': []}, {'c': [{'c': []}]}]}] %}"
    source = tree + "{% for n in t recursive %}.{{ loop(n.c) }}{% endfor %}"
    assert render(source, max_steps=8) == "...."  # 4 items + 4 loop() calls
    refused(source, "max_steps = 7", max_steps=7)


def test_range_exact():
    assert render("{{ range(100)|length }}", max_range=100) == "100"
    refused("{{ range(101)|length }}", "ChatTemplateLimits.max_range = 100", max_range=100)
    refused("{{ range(0, 202, 2)|length }}", "max_range = 100", max_range=100)


def test_alloc_exact():
    source = '{% set a = "x" * 60 %}{% set b = "y" * {n} %}ok'
    assert render(source.replace("{n}", "40"), max_alloc=100) == "ok"
    refused(source.replace("{n}", "41"), "ChatTemplateLimits.max_alloc = 100", max_alloc=100)


def test_deadline():
    slow = (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(30) }}"
    )
    start = time.monotonic()
    refused(slow, "ChatTemplateLimits.max_seconds = 0.2 seconds", max_seconds=0.2, max_steps=10**9)
    assert time.monotonic() - start < 2.0


def test_errors_name_the_template_line():
    message = refused("ok\n{{ 'x' * 101 }}", "max_output = 100", max_output=100)
    assert "(template line 2)" in message


def test_recursion_is_a_chat_template_error():
    refused("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", RECURSION)


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ 1 + 'a' }}", "TypeError"),
        ("{{ 2.0 ** 100000 }}", "OverflowError"),
        ("{{ 'x'.encode('no-such-codec') }}", "LookupError"),
    ],
)
def test_python_errors_are_chat_template_errors(source, name):
    refused(source, name)


@pytest.mark.parametrize(
    "source",
    [
        "{% if true %}" * 200 + "{% endif %}" * 200,
        "{% for i in [1] %}" * 30 + "{% endfor %}" * 30,
        "{{ " + "(" * 10000 + "1" + ")" * 10000 + " }}",
    ],
    ids=["nested-ifs", "nested-fors", "nested-parentheses"],
)
def test_too_deeply_nested_templates_do_not_compile(source):
    with pytest.raises(ChatTemplateError, match="could not be compiled"):
        JinjaChatTemplate(source)


def test_raise_exception_message_is_shortened():
    with pytest.raises(ChatTemplateError) as caught:
        render("{{ raise_exception('x' * 100000) }}")
    assert len(str(caught.value)) < 1000


def test_budgets_are_per_render_and_per_thread():
    # 60 steps a render: 8 threads x 20 renders would pass max_steps=100 if shared.
    template = JinjaChatTemplate(
        "{% for i in range(59) %}{% endfor %}ok", limits=ChatTemplateLimits(max_steps=100)
    )
    results: list[str] = []

    def work() -> None:
        results.extend(template.render(USER) for _ in range(20))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["ok"] * 160


# -- the sandbox still holds --------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.append(1) }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ range.__self__.__init__.__globals__ }}",
        "{{ range(3).__class__.__init__.__globals__ }}",
        "{{ ''.format.__globals__['sys'] }}",
        "{{ '{0.__class__.__mro__}'.format('')|length > 5 and raise_exception('leak') }}",
        "{{ (''|safe).format('{0.__class__}', 'x').__class__.__mro__ }}",
        "{{ strftime_now.__globals__['datetime'] }}",
        "{{ raise_exception.__globals__['jinja2'] }}",
        "{{ self._TemplateReference__context.environment.globals }}",
        "{% set ns = namespace() %}{{ ns._Namespace__attrs.update({}) }}",
    ],
)
def test_untrusted_templates_still_cannot_reach_python(attack):
    with pytest.raises(ChatTemplateError):
        render(attack)


# -- the bounds change nothing a template prints ------------------------------------

MESSAGES = [
    Message(role="system", content="S"),
    Message(role="user", content="U1 <tag> é"),
    Message(role="assistant", content="A"),
    Message.model_validate(
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}
    ),
    Message(role="tool", content='{"r": 2}'),
    Message(role="user", content="U2"),
]
TOOLS = [
    Tool.model_validate(
        {
            "function": {
                "name": "f",
                "description": "d",
                "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}},
            }
        }
    )
]

SNIPPETS = [
    "{{ 1 + 2 + 3 }}|{{ 'a' + 'b' + 'c' }}|{{ [1] + [2] + [3] }}|{{ (1, 2) + (3,) }}|{{ 1.5 + 2 }}",
    "{{ 'a' + ('b' + 'c') }}|{{ 2 * 3 }}|{{ 'ab' * 3 }}|{{ 3 * 'ab' }}|{{ [0] * 3 }}|{{ 2 ** 10 }}"
    "|{{ 2 ** -1 }}|{{ 7 % 3 }}|{{ 7 // 2 }}|{{ 7 / 2 }}",
    "{{ '%s-%05d' % ('a', 42) }}|{{ '%(a)s' % {'a': 1} }}|{{ '%s'|format('x') }}"
    "|{{ '%d%%' % 5 }}|{{ '%-4s|' % 'a' }}|{{ '%.3s' % 'abcdef' }}|{{ '%*d' % (4, 1) }}",
    "{{ '{}-{}'.format(1, 2) }}|{{ '{a}'.format_map({'a': 1}) }}"
    "|{{ '{:>5}|{:.2f}'.format('x', 3.14159) }}",
    "{{ 'a' ~ 1 ~ none ~ [1] }}|{% set x = 'q' %}{{ x ~ x }}|{{ ('<b>'|safe) ~ '<i>' }}"
    "|{{ ('<b>'|safe) + '<i>' }}",
    "{% for i in range(3) %}{{ i }}{{ loop.index }}{{ loop.length }}{{ loop.last }}"
    "{{ loop.cycle('a', 'b') }}{% endfor %}",
    "{{ range(5)|list }}|{{ range(3)|join(',') }}|{{ range(10)[2:5]|list }}|{{ 3 in range(5) }}"
    "|{{ range(5)|length }}|{{ range(5)|reverse|list }}|{{ range(5)|sum }}|{{ range(5)|last }}"
    "|{{ range(5)|first }}|{{ range(2, 10, 3)|list }}",
    "{% for m in messages %}{{ m.role }}:{{ m['content'] }};{% else %}none{% endfor %}",
    "{% for m in messages if m.role == 'user' %}{{ loop.index }}{{ m.content }}{% endfor %}",
    "{% for m in messages|selectattr('role', 'equalto', 'user') %}{{ loop.length }}"
    "{{ loop.last }}{{ m.content }}{% endfor %}",
    "{% for c in 'abc' %}{{ c }}{% endfor %}|{% for k, v in {'a': 1, 'b': 2}.items() %}"
    "{{ k }}={{ v }}{% endfor %}|{% for k in {'a': 1} %}{{ k }}{% endfor %}",
    "{% set tree = [{'n': 'a', 'c': [{'n': 'b', 'c': []}, {'n': 'c', 'c': [{'n': 'd', 'c': []}]}]}]"
    " %}{% for i in tree recursive %}{{ i.n }}{% if i.c %}({{ loop(i.c) }}){% endif %}{% endfor %}",
    "{% macro f(x, y='d') %}<{{ x }}{{ y }}{{ caller() if caller else '' }}>{% endmacro %}"
    "{{ f(1) }}{% call f(2, 'e') %}body{% endcall %}",
    "{% set t %}a{{ 1 }}b{% endset %}{{ t }}|{% filter upper %}abc{{ 'd' }}{% endfilter %}"
    "|{% set ns = namespace(a=1) %}{% set ns.a = ns.a + 1 %}{{ ns.a }}",
    "{{ messages|tojson }}|{{ tools|tojson(indent=2) }}|{{ {'é': [1, 2.5, none, true]}|tojson }}",
    "{{ [1, 2]|join(',') }}|{{ messages|join(', ', attribute='role') }}"
    "|{{ messages|map(attribute='role')|join }}|{{ [[1], [2]]|sum(start=[]) }}|{{ [1, 2]|sum }}",
    "{{ 'abc'[::-1] }}|{{ messages[1:]|length }}|{{ 'Hello'|center(11) }}"
    "|{{ 'a\\nb'|indent(2, true) }}|{{ 'x y z'|wordwrap(3) }}|{{ 'aaa'|replace('a', 'bb', 2) }}"
    "|{{ 'ab'|list }}|{{ [3, 1, 2]|sort }}|{{ 'ab'.center(6, '*') }}|{{ 'a\\tb'.expandtabs(4) }}"
    "|{{ 'a'.zfill(3) }}|{{ ','.join(['a', 'b']) }}|{{ 'abc'.translate({97: 'xy'}) }}",
    "{{ [1, 'a', {'b': (1, 2)}] }}|{{ {'a': [1]} }}|{{ namespace(a=1).a }}|{{ dict(a=1) }}"
    "|{{ [1, 2]|batch(3, 0)|list }}|{{ [1, 2, 3]|slice(2)|list }}"
    "|{{ 'abcdefgh'|truncate(5, leeway=0) }}"
    "|{{ {'a': 1}|dictsort }}|{{ [1, 1, 2]|unique|list }}",
    "{{ undefined_var }}|{% for x in undefined_var %}{{ x }}{% endfor %}|{{ messages[0].nope }}"
    "|{{ 'a' if messages else 'b' }}|{{ messages|length }}|{{ messages|first|tojson }}",
    "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}"
    "|{% set j = joiner('/') %}{{ j() }}x{{ j() }}y",
    "{% autoescape true %}{{ '<a>' ~ 'b' }}{{ '<a>' + 'b' }}{% endautoescape %}|{{ '<x>'|e }}"
    "|{{ '<x>'|escape ~ '<y>' }}",
    "{{ 'abc'.upper() }}{{ 'a,b'.split(',') }}{{ ' a '.strip() }}{{ 'abc'.startswith('a') }}"
    "{{ 'aXb'.replace('X', '--') }}{{ 'a'.ljust(3, '.') }}",
    # assignments in a loop or block make jinja2 pass _loop_vars / _block_vars to calls
    "{% for m in messages %}{% set x = m.role %}{{ m.role.startswith('u') }}{{ x.upper() }}"
    "{{ '{}'.format(x) }}{{ '{a}'.format_map({'a': x}) }}{{ {'k': x}.get('k') }}"
    "{{ x.center(9, '-') }}{% endfor %}",
    "{% block b %}{% set y = 'q' %}{{ y.upper() }}{{ '{}!'.format(y) }}{{ y.ljust(3, '.') }}"
    "{% endblock %}",
    "{{ bos_token }}{% for m in messages %}{% if m.tool_calls %}{% for c in m.tool_calls %}"
    "{{ c.function.name }}{{ c.function.arguments|tojson }}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<gen>{% endif %}{{ eos_token }}",
]


def reference_render(source: str) -> str:
    """``source`` in jinja2's plain sandbox, set up as chat_template did before the limits."""
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.Undefined
    )
    env.globals["raise_exception"] = lambda message: None
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.filters["tojson"] = lambda value, indent=None, ensure_ascii=False: json.dumps(
        value, indent=indent, ensure_ascii=ensure_ascii
    )
    return env.from_string(source).render(
        messages=hf_messages(MESSAGES),
        tools=hf_tools(TOOLS),
        add_generation_prompt=True,
        bos_token="<s>",
        eos_token="</s>",
    )


@pytest.mark.parametrize("source", SNIPPETS)
def test_bounded_rendering_prints_what_jinja2_prints(source):
    template = JinjaChatTemplate(source, bos_token="<s>", eos_token="</s>")
    assert template.render(MESSAGES, tools=TOOLS) == reference_render(source)
