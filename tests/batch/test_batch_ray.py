"""The Ray executor on a local Ray instance: every line once, the local executor's texts."""

from __future__ import annotations

import json

import pytest
import ray

from llmkit.batch import BatchRunner

pytestmark = [pytest.mark.model, pytest.mark.timeout(900)]
LINES = 40


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def lines():
    return [
        {
            "custom_id": f"r{n}",
            "url": "/v1/completions",
            "body": {
                "model": "smollm2",
                "prompt": f"{n} apples and",
                "max_tokens": 4,
                "temperature": 0,
            },
        }
        for n in range(LINES)
    ]


def texts(path):
    records = [json.loads(line) for line in path.read_text().splitlines()]
    ids = [r["custom_id"] for r in records]
    assert len(ids) == len(set(ids)) == LINES
    assert all(r["error"] is None for r in records)
    return {r["custom_id"]: r["response"]["body"]["choices"][0]["text"] for r in records}


def test_the_ray_executor_answers_every_line_once_with_the_local_texts(
    tmp_path, llmkit_server, local_ray
):
    backend = "openai://" + llmkit_server.removeprefix("http://") + "/v1"
    local, distributed = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    BatchRunner(backend).run(lines(), local)
    summary = BatchRunner(backend, executor="ray", ray_workers=2).run(lines(), distributed)
    assert summary.succeeded == LINES and summary.completed
    assert texts(distributed) == texts(local)


def test_the_ray_executor_resumes_what_an_earlier_run_left(tmp_path, llmkit_server, local_ray):
    backend = "openai://" + llmkit_server.removeprefix("http://") + "/v1"
    out = tmp_path / "out.jsonl"
    BatchRunner(backend).run(lines()[: LINES // 2], out)
    half = out.read_bytes()
    summary = BatchRunner([backend, backend], executor="ray").run(lines(), out)
    assert summary.skipped == LINES // 2 and summary.succeeded == LINES - LINES // 2
    assert out.read_bytes().startswith(half)
    texts(out)
