"""The conformance suite is opt-in: without a corpus it is not collected (nothing skipped)
and the pytest header says so; a corpus location that is not one is a usage error."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pytest_run(*args, corpus=None):
    env = {k: v for k, v in os.environ.items() if k != "LLMKIT_CORPUS"}
    if corpus is not None:
        env["LLMKIT_CORPUS"] = str(corpus)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--co", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_a_corpus_the_suite_is_not_collected_and_the_header_says_so():
    result = pytest_run("tests/template/test_inference.py")
    assert "llmkit conformance suite: off" in result.stdout
    assert "conformance/" not in result.stdout and result.returncode == 0


def test_naming_the_suite_without_a_corpus_is_a_usage_error():
    result = pytest_run("tests/conformance")
    assert result.returncode == 4
    assert "needs the corpus" in result.stderr


def test_a_folder_that_is_not_a_corpus_is_a_usage_error(tmp_path):
    result = pytest_run("tests/conformance", corpus=tmp_path)
    assert result.returncode == 4
    assert "lacks ollama-templates" in result.stderr
