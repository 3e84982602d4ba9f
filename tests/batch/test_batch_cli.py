"""``llmkit batch`` on the mock backend: results, bad lines by number, exit status, resume."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llmkit._cli_app import app

GOOD = {
    "custom_id": "g1",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]},
}


def write(path, lines):
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    )
    return path


def test_bad_lines_are_reported_by_number_and_the_good_ones_finish(tmp_path):
    source = write(
        tmp_path / "in.jsonl",
        [
            GOOD,
            '{"custom_id": "broken"',
            {**GOOD, "custom_id": "u", "body": {**GOOD["body"], "frobnicate": True}},
            {**GOOD, "custom_id": "m", "body": {"messages": GOOD["body"]["messages"]}},
            {"custom_id": "g2", "prompt": "second good line"},
        ],
    )
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["batch", str(source), "-o", str(out), "-b", "mock", "-q"])
    assert result.exit_code == 3, result.output
    for number in (2, 3, 4):
        assert f"failed: line {number}: " in result.stderr
    assert "2 done, 3 failed" in result.stderr
    records = {r["llmkit"]["line"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert sorted(records) == [1, 2, 3, 4, 5]
    assert records[1]["response"]["body"]["choices"][0]["message"]["content"] == "hello"
    assert records[5]["response"]["body"]["response"] == "second good line"
    assert records[2]["error"]["code"] == "invalid_json"
    assert records[3]["error"]["param"] == "frobnicate"
    assert records[4]["error"]["param"] == "model"
    again = CliRunner().invoke(app, ["batch", str(source), "-o", str(out), "-b", "mock", "-q"])
    assert again.exit_code == 3 and "5 already done (3 of them failed)" in again.stderr
    assert len(out.read_text().splitlines()) == 5


def test_a_clean_batch_exits_zero_and_log_progress_reports(tmp_path):
    source = write(tmp_path / "in.jsonl", [{"prompt": f"line {n}"} for n in range(30)])
    out = tmp_path / "sub" / "out.jsonl"
    result = CliRunner().invoke(
        app, ["batch", str(source), "-o", str(out), "-b", "mock", "--progress", "log", "-c", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "30 done, 0 failed" in result.stderr
    assert len(out.read_text().splitlines()) == 30


def test_a_missing_input_file_is_an_error(tmp_path):
    result = CliRunner().invoke(
        app, ["batch", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o"), "-b", "mock"]
    )
    assert result.exit_code == 2 and "cannot read the batch input" in result.stderr


@pytest.mark.model
def test_with_no_backend_named_the_default_local_model_answers(tmp_path, smollm2_path):
    # a file prepared for OpenAI's Batch API (model gpt-4o-mini) runs unchanged on SmolLM2
    line = {**GOOD, "body": {**GOOD["body"], "max_tokens": 4, "temperature": 0}}
    source = write(tmp_path / "in.jsonl", [line])
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["batch", str(source), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(text) for text in out.read_text().splitlines()]
    assert record["error"] is None and record["response"]["status_code"] == 200
    body = record["response"]["body"]
    assert body["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] <= 4
