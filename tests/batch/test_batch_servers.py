"""500-line batches against ``llmkit serve`` and llama-cpp-python's server, killed and resumed.

The CLI runs in a subprocess; the resume test kills it with SIGKILL at a random
point, then runs the same command again and checks that every line has exactly one
result and that the lines finished before the kill are kept byte for byte.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

# 500 lines, as the issue asks; LLMKIT_BATCH_LINES makes a quicker check on a busy machine.
LINES = int(os.environ.get("LLMKIT_BATCH_LINES", "500"))
# Generous limits: a run takes ~50 ms a line on an idle 2-core machine, seconds on a busy one.
RUN_LIMIT = 120 + LINES * 5
pytestmark = [pytest.mark.model, pytest.mark.timeout(3 * RUN_LIMIT)]


def batch_file(path, count=LINES):
    """An OpenAI Batch API file: every fifth line a chat completion, the rest completions."""
    lines = []
    for n in range(count):
        if n % 5 == 0:
            body = {
                "model": "smollm2",
                "max_tokens": 3,
                "temperature": 0,
                "messages": [{"role": "user", "content": f"Say {n}."}],
            }
            url = "/v1/chat/completions"
        else:
            body = {
                "model": "smollm2",
                "prompt": f"{n} plus {n} is",
                "max_tokens": 3,
                "temperature": 0,
            }
            url = "/v1/completions"
        lines.append({"custom_id": f"req-{n}", "method": "POST", "url": url, "body": body})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def command(source, out, url):
    backend = "openai://" + url.removeprefix("http://") + "/v1"
    return [
        sys.executable,
        "-m",
        "llmkit",
        "batch",
        str(source),
        "-o",
        str(out),
        "-b",
        backend,
        "-q",
    ]


def records(out):
    return [json.loads(line) for line in out.read_bytes().splitlines()]


def check_complete(out, count=LINES):
    found = records(out)
    ids = [r["custom_id"] for r in found]
    assert len(ids) == count and set(ids) == {f"req-{n}" for n in range(count)}
    assert all(r["error"] is None and r["response"]["status_code"] == 200 for r in found)
    return {r["custom_id"]: r for r in found}


def kill_and_resume(source, out, url, seed):
    """Run, SIGKILL after a random number of results, resume; the bytes written before the kill."""
    rng = random.Random(seed)
    target = rng.randint(max(2, LINES // 20), LINES - max(2, LINES // 10))
    process = subprocess.Popen(command(source, out, url), stderr=subprocess.PIPE)
    deadline = time.monotonic() + RUN_LIMIT
    while time.monotonic() < deadline:
        if out.exists() and out.read_bytes().count(b"\n") >= target:
            break
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    before = out.read_bytes()
    finished = before[: before.rfind(b"\n") + 1]
    assert finished.count(b"\n") >= target
    resumed = subprocess.run(
        command(source, out, url), capture_output=True, text=True, timeout=RUN_LIMIT
    )
    assert resumed.returncode == 0, resumed.stderr
    done = finished.count(b"\n")
    assert f"{done} already done" in resumed.stderr, resumed.stderr
    after = out.read_bytes()
    assert after.startswith(finished), "a line finished before the kill was changed"
    return done


def texts(by_id):
    out = {}
    for custom_id, record in by_id.items():
        choice = record["response"]["body"]["choices"][0]
        out[custom_id] = choice["message"]["content"] if "message" in choice else choice["text"]
    return out


def run_both(tmp_path, url, seed):
    source = batch_file(tmp_path / "in.jsonl")
    whole = tmp_path / "whole.jsonl"
    result = subprocess.run(
        command(source, whole, url), capture_output=True, text=True, timeout=RUN_LIMIT
    )
    assert result.returncode == 0, result.stderr
    full = check_complete(whole)
    killed = tmp_path / "killed.jsonl"
    done = kill_and_resume(source, killed, url, seed)
    resumed = check_complete(killed)
    first, second = texts(full), texts(resumed)
    same = sum(first[key] == second[key] for key in first)
    print(f"\n{url}: killed after {done} results; {same}/{LINES} texts equal across the runs")
    return same


def test_500_lines_against_llmkit_serve_and_a_sigkill_resume(tmp_path, llmkit_server):
    same = run_both(tmp_path, llmkit_server, seed=time.time_ns())
    # one slot, every prompt read whole (see the fixture): greedy output is deterministic
    assert same == LINES


def test_500_lines_against_llama_cpp_python_server_and_a_sigkill_resume(tmp_path, llama_cpp_server):
    same = run_both(tmp_path, llama_cpp_server, seed=time.time_ns())
    assert same >= LINES * 0.95  # its prefix reuse of the KV cache may shift a rare greedy pick


def test_bad_lines_against_a_real_server(tmp_path, llmkit_server):
    good = {"model": "smollm2", "max_tokens": 3, "temperature": 0}
    lines = [
        json.dumps(
            {"custom_id": "ok-1", "url": "/v1/completions", "body": {**good, "prompt": "Hi"}}
        ),
        '{"custom_id": "json", "url": ',
        json.dumps(
            {
                "custom_id": "opt",
                "url": "/v1/completions",
                "body": {**good, "prompt": "Hi", "temprature": 0},
            }
        ),
        json.dumps(
            {
                "custom_id": "nomodel",
                "url": "/v1/completions",
                "body": {"prompt": "Hi", "max_tokens": 3},
            }
        ),
        json.dumps(
            {
                "custom_id": "404",
                "url": "/v1/completions",
                "body": {**good, "model": "no-such-model", "prompt": "Hi"},
            }
        ),
        json.dumps(
            {
                "custom_id": "ok-2",
                "url": "/v1/chat/completions",
                "body": {**good, "messages": [{"role": "user", "content": "Hi"}]},
            }
        ),
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = subprocess.run(command(source, out, llmkit_server), capture_output=True, text=True)
    assert result.returncode == 3, result.stderr
    for number in (2, 3, 4, 5):
        assert f"failed: line {number}: " in result.stderr, result.stderr
    by_id = {r["custom_id"]: r for r in records(out)}
    assert len(records(out)) == 6
    assert by_id["ok-1"]["error"] is None and by_id["ok-2"]["error"] is None
    assert by_id["opt"]["error"]["param"] == "temprature"
    assert by_id["nomodel"]["error"]["param"] == "model"
    assert by_id["404"]["error"]["code"] == "model_not_found"
    assert by_id["404"]["error"]["status_code"] == 404


def test_two_different_servers_share_one_batch(
    tmp_path, tmp_path_factory, llmkit_server, llama_cpp_server
):
    # llama-cpp-python's servers log each request; count those answered during the run
    base = tmp_path_factory.getbasetemp()
    logs = {path.resolve() for path in base.glob("llama-cpp-server*/server.log")}
    assert logs

    def answered_there():
        return sum(log.read_text().count('"POST /v1/') for log in logs)

    count = 40
    source = batch_file(tmp_path / "in.jsonl", count=count)
    out = tmp_path / "out.jsonl"
    other = "openai://" + llama_cpp_server.removeprefix("http://") + "/v1"
    before = answered_there()
    shared = [*command(source, out, llmkit_server), "-b", other]
    result = subprocess.run(shared, capture_output=True, text=True, timeout=RUN_LIMIT)
    assert result.returncode == 0, result.stderr
    check_complete(out, count)  # every line once, whichever server answered it
    there = answered_there() - before
    assert 0 < there < count, f"llama-cpp-python answered {there} of {count} lines"
