"""The runner on scripted backends: bounded concurrency, retries, order, resume, sync and async."""

from __future__ import annotations

import json

import anyio
import pytest

import llmkit
from llmkit.backends.http.retry import RetryPolicy
from llmkit.batch import BatchRunner
from llmkit.batch.runner import DEFAULT_HTTP_CONCURRENCY, default_concurrency
from llmkit.errors import ConnectionFailedError, HTTPStatusError, InvalidRequestError
from llmkit.types import Done, TextDelta, Usage

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0)


class ScriptedBackend:
    """An async backend that answers a prompt with itself, upper-cased, after ``delay(prompt)``.

    It fails a prompt's first ``failures[prompt]`` attempts with ``errors[prompt]``, counts
    the requests in flight, and remembers every prompt it was asked.
    """

    name = "scripted"

    def __init__(
        self, *, delay=lambda prompt: 0.0, failures=None, errors=None, max_concurrency=None
    ):
        self.delay = delay
        self.failures = dict(failures or {})
        self.errors = dict(errors or {})
        self.in_flight = 0
        self.most_in_flight = 0
        self.asked: list[str] = []
        self.closed = False
        if max_concurrency is not None:
            self.max_concurrency = max_concurrency

    async def _events(self, prompt):
        self.asked.append(prompt)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await anyio.sleep(self.delay(prompt))
            if self.failures.get(prompt, 0) > 0:
                self.failures[prompt] -= 1
                raise self.errors.get(prompt) or ConnectionFailedError("connection refused")
            yield TextDelta(text=prompt.upper())
            yield Done(usage=Usage(prompt_eval_count=2, eval_count=1))
        finally:
            self.in_flight -= 1

    def generate(self, request):
        return self._events(request.prompt)

    def chat(self, request):
        return self._events(request.messages[-1].content)

    async def embed(self, request):
        raise NotImplementedError

    async def aclose(self):
        self.closed = True


def prompts(count):
    return [{"custom_id": f"id{n}", "prompt": f"p{n}"} for n in range(count)]


async def test_at_most_concurrency_requests_are_in_flight():
    backend = ScriptedBackend(delay=lambda prompt: 0.01)
    summary = await BatchRunner(backend, concurrency=3).arun(prompts(20))
    assert summary.succeeded == 20 and backend.most_in_flight == 3
    assert not backend.closed  # the caller's backend stays open


async def test_the_default_concurrency_comes_from_the_backend():
    backend = ScriptedBackend(delay=lambda prompt: 0.01, max_concurrency=5)
    await BatchRunner(backend).arun(prompts(20))
    assert backend.most_in_flight == 5
    assert default_concurrency(ScriptedBackend()) == 1

    class Remote(ScriptedBackend):
        session = object()

    assert default_concurrency(Remote()) == DEFAULT_HTTP_CONCURRENCY


async def test_passing_failures_are_retried_and_lasting_ones_recorded():
    backend = ScriptedBackend(
        failures={"p1": 1, "p2": 5, "p3": 1},
        errors={"p3": HTTPStatusError("bad", status_code=400)},
    )
    results = {}
    async with BatchRunner(backend, retry=FAST).open(prompts(4)) as run:
        async for result in run:
            results[result.custom_id] = result
    assert results["id0"].record["llmkit"]["attempts"] == 1
    assert results["id1"].ok and results["id1"].record["llmkit"]["attempts"] == 2
    assert not results["id2"].ok and results["id2"].record["llmkit"]["attempts"] == 3
    assert results["id2"].error["code"] == "connection_failed"
    assert results["id2"].record["llmkit"]["retryable"] is True
    assert results["id3"].record["llmkit"]["attempts"] == 1  # a 400 is not retried
    assert results["id3"].error["status_code"] == 400
    assert run.summary.failed == 2 and run.summary.succeeded == 2
    assert run.summary.prompt_tokens == 4 and run.summary.completion_tokens == 2


async def test_results_come_in_completion_or_input_order():
    def delay(prompt):
        return 0.05 - int(prompt[1:]) * 0.01  # later lines finish first

    runner = BatchRunner(ScriptedBackend(delay=delay), concurrency=5)
    async with runner.open(prompts(5), order="completion") as run:
        completion = [result.line async for result in run]
    async with runner.open(prompts(5), order="input") as run:
        ordered = [result.line async for result in run]
    assert completion == [5, 4, 3, 2, 1] and ordered == [1, 2, 3, 4, 5]


async def test_a_stopped_run_resumes_without_loss_duplication_or_recomputation(tmp_path):
    out = tmp_path / "out.jsonl"
    first = ScriptedBackend()
    async with BatchRunner(first).open(prompts(10), out) as run:
        async for result in run:
            if result.line == 4:
                break  # leaving early stops the batch, like Ctrl-C
    before = out.read_bytes()
    written = len(before.splitlines())  # the writer may be ahead of the reader
    assert 4 <= written < 10
    out.write_bytes(before + b'{"id": "torn')  # what kill -9 mid-write leaves
    second = ScriptedBackend()
    summary = await BatchRunner(second).arun(prompts(10), out)
    assert summary.skipped == written and summary.succeeded == 10 - written
    assert second.asked == [f"p{n}" for n in range(written, 10)]
    after = out.read_bytes()
    assert after.startswith(before)
    keys = [json.loads(line)["custom_id"] for line in after.splitlines()]
    assert sorted(keys) == sorted(f"id{n}" for n in range(10))


async def test_a_changed_request_is_run_again_and_its_old_result_dropped(tmp_path):
    out = tmp_path / "out.jsonl"
    await BatchRunner(ScriptedBackend()).arun(prompts(3), out)
    changed = prompts(3)
    changed[1]["prompt"] = "new"
    backend = ScriptedBackend()
    summary = await BatchRunner(backend).arun(changed, out)
    assert backend.asked == ["new"] and summary.dropped == 1 and summary.skipped == 2
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3
    assert {r["custom_id"]: r["response"]["body"]["response"] for r in records}["id1"] == "NEW"


async def test_retryable_failures_are_rerun_on_resume_and_final_ones_kept(tmp_path):
    out = tmp_path / "out.jsonl"
    lines = [*prompts(2), {"custom_id": "bad", "prompt": "x", "options": {"nope": 1}}]
    await BatchRunner(ScriptedBackend(failures={"p1": 9}), retry=RetryPolicy.none()).arun(
        lines, out
    )
    backend = ScriptedBackend()
    summary = await BatchRunner(backend).arun(lines, out)
    assert backend.asked == ["p1"] and summary.skipped == 2 and summary.skipped_failed == 1
    assert [line for line, _ in summary.failures] == [3]


async def test_openai_lines_get_openai_answers_and_ollama_lines_ollama_answers():
    lines = [
        {
            "custom_id": "a",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        },
        {"custom_id": "b", "url": "/v1/completions", "body": {"model": "m", "prompt": "yo"}},
        {"custom_id": "c", "url": "/api/generate", "body": {"model": "m", "prompt": "ok"}},
    ]
    async with BatchRunner(ScriptedBackend()).open(lines, order="input") as run:
        a, b, c = [result.record async for result in run]
    assert a["response"]["body"]["object"] == "chat.completion"
    assert a["response"]["body"]["choices"][0]["message"]["content"] == "HI"
    assert a["response"]["body"]["usage"] == {
        "prompt_tokens": 2,
        "completion_tokens": 1,
        "total_tokens": 3,
    }
    assert b["response"]["body"]["choices"][0]["text"] == "YO"
    assert c["response"]["body"]["response"] == "OK" and c["response"]["body"]["done"] is True
    assert a["id"].startswith("batch_req_") and a["error"] is None


def test_the_sync_api_and_llmkit_batch_run(tmp_path):
    out = tmp_path / "out.jsonl"
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in prompts(5)) + "\n\n")
    texts = [result.text for result in BatchRunner("mock").results(source)]
    assert texts == [f"p{n}" for n in range(5)]
    summary = llmkit.batch.run(source, out, backend="mock")
    assert summary.succeeded == 5 and summary.completed
    assert len(out.read_text().splitlines()) == 5


def test_bad_arguments_and_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(InvalidRequestError, match="concurrency"):
        BatchRunner("mock", concurrency=0)
    with pytest.raises(InvalidRequestError, match="cannot read the batch input"):
        BatchRunner("mock").run(tmp_path / "missing.jsonl")
    with pytest.raises(InvalidRequestError, match="backend strings"):
        BatchRunner(ScriptedBackend(), executor="ray").open(prompts(1))


def test_the_progress_bar_shows_lines_rate_failures_and_the_summary(tmp_path):
    import io
    import re

    from rich.console import Console

    from llmkit.batch.progress import RichProgress

    source = tmp_path / "in.jsonl"
    lines = [json.dumps(line) for line in prompts(4)] + ["{not json"]
    source.write_text("\n".join(lines) + "\n")
    screen = io.StringIO()
    bar = RichProgress(Console(file=screen, force_terminal=True, width=160))
    summary = llmkit.batch.run(source, tmp_path / "out.jsonl", backend="mock", progress=bar)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # colours and cursor moves
    assert summary.succeeded == 4 and summary.failed == 1
    assert "5/5" in shown and "lines/s" in shown and "1 failed" in shown and "ETA" in shown
    assert f"batch: {summary}" in shown
