import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmkit._cli_app import app
from llmkit._cli_helpers import parse_option_value


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def test_chat_streams_from_the_mock_backend(run):
    result = run("chat", "-b", "mock", "hello there")
    assert result.exit_code == 0
    assert result.output == "hello there\n"


def test_chat_json_prints_the_final_response(run):
    result = run("chat", "-b", "mock", "--json", "--num-predict", "1", "a b c")
    body = json.loads(result.output)
    assert body["message"]["content"] == "a " and body["done_reason"] == "length"


def test_dash_o_takes_any_option_and_errors_name_the_field(run):
    assert run("chat", "-b", "mock", "-o", 'stop=["c"]', "a b c d").output == "a b \n"
    result = run("chat", "-b", "mock", "-o", "temprature=1", "hi")
    assert result.exit_code == 2
    assert "options.temprature: unknown field" in result.output


def test_bad_option_syntax(run):
    result = CliRunner().invoke(app, ["chat", "-b", "mock", "-o", "novalue", "hi"])
    assert result.exit_code == 2 and "key=value" in result.output


def test_option_values_parse_as_json_when_they_can():
    assert parse_option_value("0.5") == 0.5
    assert parse_option_value("true") is True
    assert parse_option_value('["a"]') == ["a"]
    assert parse_option_value("user:") == "user:"


def test_backends_lists_plugins(run):
    names = run("backends").output.split()
    assert "mock" in names and "llamacpp" in names


def test_list_and_rm_on_an_empty_store(run, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_MODELS", str(tmp_path))
    assert "smollm2" in run("list").output
    result = CliRunner().invoke(app, ["rm", "smollm2"])
    assert result.exit_code == 1 and "not in the store" in result.output


def test_unknown_model_pull_fails_clearly(run, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMKIT_MODELS", str(tmp_path))
    result = CliRunner().invoke(app, ["pull", "nonesuch"])
    assert result.exit_code == 1 and "no model named 'nonesuch'" in result.output


@pytest.mark.model
def test_the_readme_command_streams_from_the_real_default_model(smollm2_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmkit",
            "chat",
            "--temperature",
            "0",
            "--num-predict",
            "30",
            "Why is the sky blue? Use one sentence in your answer.",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) > 5


@pytest.mark.model
def test_pull_an_already_stored_model_is_quick(smollm2_path):
    result = CliRunner().invoke(app, ["pull", "smollm2"])
    assert result.exit_code == 0 and str(smollm2_path) in result.output


CHATML = Path(__file__).resolve().parent / "data" / "templates" / "chatml.gotmpl"


def test_template_render_prints_the_prompt(run):
    result = run(
        "template", "render", str(CHATML), "--messages", '[{"role": "user", "content": "Hi"}]'
    )
    assert result.output == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_template_render_reads_json_files_and_reports_template_errors(tmp_path):
    messages = tmp_path / "chat.json"
    messages.write_text('[{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]')
    result = CliRunner().invoke(
        app, ["template", "render", str(CHATML), "--messages", f"@{messages}"]
    )
    assert result.exit_code == 0 and result.output.startswith("<|im_start|>system\nS<|im_end|>")
    bad = tmp_path / "bad.gotmpl"
    bad.write_text("ok\n{{ if }}")
    result = CliRunner().invoke(app, ["template", "render", str(bad)])
    assert result.exit_code == 2 and "bad.gotmpl:2:7: missing value for if" in result.output


def test_template_show(run):
    assert "def _t0(rt, dot)" in run("template", "show", str(CHATML)).output
    assert json.loads(run("template", "show", str(CHATML), "--tags").output) == {
        "tool_call": "{",
        "thinking": ["", ""],
    }
