"""The README's code, the examples and the generated option table are all kept true."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


@pytest.mark.model
def test_readme_python_blocks_run_in_order(smollm2_path):
    namespace: dict[str, object] = {"__name__": "__readme__"}
    code = blocks(README, "python")
    assert len(code) >= 4
    for block in code:
        exec(compile(block, "README.md", "exec"), namespace)


def test_readme_setup_commands_are_what_ci_runs():
    commands = [b.strip() for b in blocks(README, "bash")]
    assert len(commands) == 2, "the set-up is two commands"
    ci = (ROOT / ".ci" / "run").read_text()
    for command in commands:
        assert command in ci, command


@pytest.mark.model
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, smollm2_path):
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert {"sync_chat.py", "async_streaming.py", "options.py", "temperature.py"} <= names


def test_option_table_in_docs_is_generated_from_the_backend():
    from llmkit_llamacpp.options import options_table

    text = (ROOT / "docs" / "options.md").read_text()
    match = re.search(
        r"<!-- llamacpp-options:start -->\n(.*?)<!-- llamacpp-options:end -->", text, re.S
    )
    assert match, "docs/options.md lost its generated-table markers"
    assert match.group(1) == options_table(), (
        "regenerate with llmkit_llamacpp.options.options_table()"
    )


def test_every_ollama_option_is_in_the_docs_table():
    from llmkit.types import OLLAMA_OPTION_NAMES

    text = (ROOT / "docs" / "options.md").read_text()
    for name in OLLAMA_OPTION_NAMES:
        assert f"`{name}`" in text


def test_architecture_page_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    for path in sorted((ROOT / "src" / "llmkit").rglob("*.py")):
        if path.name == "__init__.py":
            continue
        assert path.stem in text, f"docs/architecture.md does not mention {path.relative_to(ROOT)}"


def test_the_sync_twins_are_generated_from_their_async_sources():
    result = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "unasync.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_generator_fails_on_a_rule_that_matched_nothing(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("unasync", ROOT / ".ci" / "unasync.py")
    assert spec is not None and spec.loader is not None
    unasync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(unasync)
    monkeypatch.setattr(unasync, "RULES", (*unasync.RULES, (r"\bno_such_name\b", "x")))
    assert unasync.main(["--check"]) == 1
    assert r"\bno_such_name\b" in capsys.readouterr().err
