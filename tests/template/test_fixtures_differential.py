"""llmkit against Go's text/template on the project's own template fixtures.

``fixtures/*.gotmpl`` are small templates written for llmkit that together exercise every
construct Ollama's chat templates use (see ``CONSTRUCTS``). Each one is rendered with every
conversation in ``conversations.py`` and every compatibility mode by the Go reference
(``go/ollamarender``, one batched run) and by llmkit; the bytes must be identical, or both
must fail at the same stage (parse or execute). Nothing here reads outside the repository.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conversations import CONVERSATIONS
from gorender import go_render_many, go_version

from llmkit.errors import InvalidRequestError
from llmkit.template import Template, TemplateExecError, TemplateSyntaxError

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
FIXTURES = sorted(FIXTURES_DIR.glob("*.gotmpl"))
COMPAT = ("current", "v0.14", "v0.13")
TODAY = dt.date(2026, 11, 28)

CASES = [
    (path.name, conversation, compat)
    for path in FIXTURES
    for conversation in CONVERSATIONS
    for compat in COMPAT
]


@functools.cache
def _source(name: str) -> str:
    return (FIXTURES_DIR / name).read_text(encoding="utf-8")


@functools.cache
def _compiled(name: str) -> Template | TemplateSyntaxError:
    try:
        return Template.from_go(_source(name), name=name)
    except TemplateSyntaxError as exc:
        return exc


def _go_at_least(major: int, minor: int) -> bool:
    found = re.match(r"go(\d+)\.(\d+)", go_version())
    return found is not None and (int(found[1]), int(found[2])) >= (major, minor)


@pytest.fixture(scope="module")
def reference() -> dict[tuple[str, str, str], dict]:
    # The fixtures use {{ else with }} (Go 1.23) and range over integers (1.22), as Ollama's Go
    # (1.26) allows; an older Go fails to parse them, so it cannot be the reference here.
    assert _go_at_least(1, 23), f"the reference needs Go >= 1.23, not {go_version()}"
    payload = []
    for name, conversation, compat in CASES:
        values = CONVERSATIONS[conversation]
        payload.append({
            "template": _source(name),
            "messages": values["messages"],
            "tools": values.get("tools"),
            "think": values.get("think"),
            "prompt": values.get("prompt"),
            "suffix": values.get("suffix"),
            "compat": compat,
            "today": TODAY.isoformat(),
        })  # fmt: skip
    return dict(zip(CASES, go_render_many(payload), strict=True))


def _render(name: str, conversation: str, compat: str) -> tuple[str, str]:
    """("output", text) or (stage, message) where stage is Go's name for where it failed."""
    compiled = _compiled(name)
    if isinstance(compiled, TemplateSyntaxError):
        return "parse", str(compiled)
    values = CONVERSATIONS[conversation]
    try:
        return "output", compiled.render(
            values["messages"],
            tools=values.get("tools"),
            think=values.get("think"),
            prompt=values.get("prompt") or "",
            suffix=values.get("suffix") or "",
            image_tags=True,
            today=TODAY,
            compat=compat,
        )
    except TemplateExecError as exc:
        return "execute", str(exc)
    except InvalidRequestError as exc:
        return "request", str(exc)


@pytest.mark.parametrize(
    ("name", "conversation", "compat"),
    [pytest.param(n, c, m, id=f"{n.removesuffix('.gotmpl')}-{c}-{m}") for n, c, m in CASES],
)
def test_same_bytes_as_go(name, conversation, compat, reference):
    expected = reference[name, conversation, compat]
    kind, rendered = _render(name, conversation, compat)
    if "error" in expected:
        assert kind == expected["stage"], (
            f"Go failed at {expected['stage']} ({expected['error']}); llmkit gave {kind}: "
            f"{rendered!r}"
        )
        return
    assert kind == "output", f"llmkit failed ({kind}: {rendered}) where Go rendered"
    assert rendered == expected["output"]


# -- coverage of the fixtures -------------------------------------------------------------

_COMMENT = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.S)
_QUOTED = r'"(?:[^"\\]|\\.)*"|`[^`]*`|\'(?:[^\'\\]|\\.)*\''
_ACTION = re.compile(r"\{\{-?\s*((?:" + _QUOTED + r"|[^\"`'}]|\}(?!\}))*?)\s*-?\}\}", re.S)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')
_BLOCKS = ("if", "range", "with", "define", "block")


class _Scan:
    """What the fixture sources contain, read without llmkit's parser."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources
        self.code = {name: _COMMENT.sub("", text) for name, text in sources.items()}
        self.actions = [a for code in self.code.values() for a in _ACTION.findall(code)]
        self.strings = [s for a in self.actions for s in _STRING.findall(a)]
        bare = [_STRING.sub('""', a) for a in self.actions]
        self.words = {w for a in bare for w in re.findall(r"[$.\w]+|[|()]|:?=", a)}
        self.blocks: set[str] = set()
        for code in self.code.values():
            self._blocks(code)

    def _blocks(self, code: str) -> None:
        """Which branch forms occur: "range/else", "with/else", "else with", break in range..."""
        stack: list[str] = []
        for action in _ACTION.findall(code):
            words = _STRING.sub('""', action).split()
            if not words:
                continue
            if words[0] in _BLOCKS:
                stack.append(words[0])
                self.blocks.add(words[0])
            elif words[0] == "end" and stack:
                stack.pop()
            elif words[0] == "else" and stack:
                self.blocks.add(f"{stack[-1]}/else")
                if len(words) > 1 and words[1] in _BLOCKS:
                    self.blocks.add(f"else {words[1]}")
                    stack[-1] = words[1]
            elif words[0] in ("break", "continue") and "range" in stack:
                self.blocks.add(f"{words[0]} in range")

    def code_matches(self, pattern: str) -> bool:
        return any(re.search(pattern, code, re.S) for code in self.code.values())

    def fixture(self, predicate: Callable[[str], bool]) -> bool:
        return any(predicate(code) for code in self.code.values())


def _legacy(code: str) -> bool:
    return ".Messages" not in code and ".Prompt" in code and ".Response" in code


FUNCTIONS = (
    "index", "len", "slice", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "print",
    "printf", "println", "html", "js", "urlquery", "json", "currentDate", "yesterdayDate",
)  # fmt: skip
VERBS = ("%s", "%d", "%q", "%v", "%x", "%5.2f", "%-8s", "%t", "%%")
FIELDS = (
    ".Messages", ".Role", ".Content", ".System", ".Tools", ".ToolCalls", ".Function.Name",
    ".Function.Arguments", ".ToolCallID", ".ToolName", ".Prompt", ".Response", ".Suffix",
    ".Think", ".ThinkLevel", ".IsThinkSet", ".Thinking", ".Images",
)  # fmt: skip


def _has_word(word: str) -> Callable[[_Scan], bool]:
    return lambda scan: word in scan.words


def _has_verb(verb: str) -> Callable[[_Scan], bool]:
    return lambda scan: any(verb in text for text in scan.strings)


def _all_start_with_a_comment(scan: _Scan) -> bool:
    return all(text.lstrip().startswith(("{{/*", "{{- /*")) for text in scan.sources.values())


CONSTRUCTS: dict[str, Callable[[_Scan], bool]] = {
    # ranges, conditions and blocks
    "range $i, $m := .Messages": lambda s: s.code_matches(r"range \$\w+, \$\w+ := \.Messages"),
    "range over $.Tools": lambda s: s.code_matches(r"range \$\.Tools"),
    "range over a map ($name, $prop)": lambda s: s.code_matches(
        r"range \$\w+, \$\w+ := \.Function\.Parameters\.Properties"
    ),
    "range over an integer": lambda s: s.code_matches(r"range (\$\w+ := )?(\d+|len )"),
    "range/else": lambda s: "range/else" in s.blocks,
    "break": lambda s: "break in range" in s.blocks,
    "continue": lambda s: "continue in range" in s.blocks,
    "if/else if/else": lambda s: "else if" in s.blocks and "if/else" in s.blocks,
    "with/else": lambda s: "with/else" in s.blocks,
    "else with": lambda s: "else with" in s.blocks,
    "define": lambda s: "define" in s.blocks,
    "template with dot": lambda s: s.code_matches(r'\{\{-? template "\w+" \.'),
    "block": lambda s: "block" in s.blocks,
    # variables and pipelines
    "$x := declaration": lambda s: s.code_matches(r"\$\w+ :="),
    "$x = assignment": lambda s: s.code_matches(r"\$\w+ = "),
    "$ root variable": lambda s: s.code_matches(r"\$\.\w+"),
    "chained | pipelines": lambda s: s.code_matches(r"\{\{[^}]*\|[^}]*\|[^}]*\}\}"),
    "parenthesised arguments": lambda s: s.code_matches(r"\(\w+ [^)]*\(\w+ "),
    # functions and Ollama's data
    **{f"function {name}": _has_word(name) for name in FUNCTIONS},
    **{f"printf {verb}": _has_verb(verb) for verb in VERBS},
    "json .Tools": lambda s: s.code_matches(r"json \.Tools"),
    "json .Function.Arguments": lambda s: s.code_matches(r"json \.Function\.Arguments"),
    "json of a whole message": lambda s: s.code_matches(r"range \.Messages \}\}[^{]*\{\{ json \. "),
    **{f"field {name}": _has_word(name) for name in FIELDS},
    "legacy path (.Prompt/.Response, no .Messages)": lambda s: s.fixture(_legacy),
    "legacy path with .Response appended": lambda s: s.fixture(
        lambda code: ".Messages" not in code and ".Response" not in code and ".Prompt" in code
    ),
    "fill-in-the-middle (.Suffix with .Prompt)": lambda s: s.fixture(
        lambda code: ".Suffix" in code and ".Prompt" in code
    ),
    "[img] tags": lambda s: s.code_matches(r"\[img\]") and ".Images" in s.words,
    # syntax
    "comments": _all_start_with_a_comment,
    "trim markers": lambda s: s.code_matches(r"\{\{- ") and s.code_matches(r" -\}\}"),
    "raw strings": lambda s: any(text.startswith("`") for text in s.strings),
    "character constants": lambda s: s.code_matches(r"\{\{[^}]* '(\\.|[^'\\])+'"),
    # model families, written for this project
    "ChatML": lambda s: s.code_matches(r"<\|im_start\|>\{\{ \.Role \}\}"),
    "Llama-3.1-style tools": lambda s: s.code_matches(r"<\|start_header_id\|>ipython"),
    "Phi-3-style legacy": lambda s: s.fixture(lambda code: _legacy(code) and "<|end|>" in code),
}


def test_fixtures_cover_the_constructs():
    # Only templates that render count: a construct must be exercised, not merely parsed.
    working = {p.name: _source(p.name) for p in FIXTURES if not p.name.startswith("error_")}
    scan = _Scan(working)
    missing = [name for name, present in CONSTRUCTS.items() if not present(scan)]
    assert not missing, f"no fixture covers: {missing}"
    assert len(working) >= 15
    assert len(FIXTURES) - len(working) >= 3
    assert _all_start_with_a_comment(_Scan({p.name: _source(p.name) for p in FIXTURES}))


def test_error_fixtures_fail_in_go_and_the_others_render(reference):
    """error_* fixtures fail in Go for a plain chat (both at parse and at execute time among
    them); every other fixture renders with most conversations, so its bytes are compared."""
    stages = set()
    for path in FIXTURES:
        results = [reference[path.name, c, m] for c in CONVERSATIONS for m in COMPAT]
        rendered = sum("output" in result for result in results)
        expected = reference[path.name, "plain", "current"]
        if path.name.startswith("error_"):
            assert "error" in expected, f"{path.name} was meant to fail: {expected}"
            stages.add(expected["stage"])
        else:
            assert rendered >= len(results) * 9 // 10, f"{path.name} renders {rendered} times"
    assert stages == {"parse", "execute"}
