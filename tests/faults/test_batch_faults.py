"""``llmkit batch`` against hostile files and lines, through the real command where a user
would meet it (``python -m llmkit batch``, always with a timeout: nothing may hang).

- Special files (devices, FIFOs, links to them) are refused at once, naming the path.
- Write errors (a full disk, a file-size limit) stop the batch with an error naming the
  output file and the line; what was written stays whole and a rerun finishes the batch.
- The output is read back a bounded line at a time.
- Two batches on one output file: the second fails at once; no line is written twice.
- A bad line (JSON nested thousands deep, a line too long, ...) is that line's failure,
  recorded with its number; the other lines go on.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

import llmkit.batch
from llmkit.batch import BatchRun, BatchRunner, ResultFile
from llmkit.batch import files as batch_files
from llmkit.batch.files import MAX_LINE_BYTES, BatchFileError
from llmkit.batch.records import success_record
from llmkit.errors import InvalidRequestError
from llmkit.types.responses import GenerateResponse

TIMEOUT = 60


def batch(*args: str, timeout: float = TIMEOUT, cwd: Path | None = None, prelude: str = ""):
    """``python -m llmkit batch ARGS -b mock -q`` (``prelude`` runs first, in the process)."""
    command = [sys.executable, "-c", f"{prelude}\nfrom llmkit.cli import main\nmain()"]
    return subprocess.run(
        [*command, "batch", *args, "-b", "mock", "-q"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def write_lines(path: Path, count: int, words: str = "one two three four") -> Path:
    path.write_text(
        "".join(json.dumps({"custom_id": f"c{n}", "prompt": words}) + "\n" for n in range(count))
    )
    return path


def ids(path: Path) -> list[str]:
    return [json.loads(line)["custom_id"] for line in path.read_bytes().splitlines()]


def exactly_once(path: Path, count: int) -> None:
    seen = Counter(ids(path))
    assert sorted(seen) == sorted(f"c{n}" for n in range(count))
    assert set(seen.values()) == {1}, [key for key, times in seen.items() if times > 1][:5]


# -- special files ------------------------------------------------------------------------------


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "in.jsonl", 5)


@pytest.mark.parametrize(
    ("output", "kind"),
    [
        ("/dev/full", "a character device"),
        ("/dev/null", "a character device"),
        ("/dev/zero", "a character device"),
        ("fifo", "a named pipe (FIFO)"),
        ("link-to-null", "a character device"),
        ("link-to-fifo", "a named pipe (FIFO)"),
    ],
)
def test_a_special_output_is_refused_at_once(tmp_path, source, output, kind):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link-to-null").symlink_to("/dev/null")
    (tmp_path / "link-to-fifo").symlink_to(tmp_path / "fifo")
    started = time.monotonic()
    result = batch(str(source), "-o", output, cwd=tmp_path, timeout=30)
    no_traceback(result)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: the batch output {output} is {kind}: it must be a regular file"
    )
    assert time.monotonic() - started < 30
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fifo",
        "in.jsonl",
        "link-to-fifo",
        "link-to-null",
    ]


@pytest.mark.parametrize(
    ("given", "kind"),
    [
        ("fifo", "a named pipe (FIFO)"),
        ("/dev/zero", "a character device"),
        ("/dev/null", "a character device"),
    ],
)
def test_a_special_input_is_refused_at_once(tmp_path, given, kind):
    os.mkfifo(tmp_path / "fifo")
    result = batch(given, "-o", "out.jsonl", cwd=tmp_path, timeout=30)
    no_traceback(result)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: the batch input {given} is {kind}: it must be a regular file"
    )
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("opener", ["output", "input", "resume"])
def test_a_fifo_swapped_in_after_the_check_does_not_hang(tmp_path, monkeypatch, opener):
    # the path was a regular file when checked and is a FIFO when opened: nothing blocks
    path = tmp_path / "swapped.jsonl"
    os.mkfifo(path)
    monkeypatch.setattr(batch_files, "check_output", lambda path: None)
    monkeypatch.setattr(batch_files, "check_input", lambda path: None)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            if opener == "output":
                batch_files.OutputLock(path)
            elif opener == "input":
                batch_files.open_input(path)
            else:
                batch_files.read_output(path)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "opening a FIFO blocked"
    (error,) = outcome
    assert isinstance(error, InvalidRequestError) and "is a named pipe (FIFO)" in str(error)


# -- write errors -------------------------------------------------------------------------------

FILE_SIZE_LIMIT = """
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (5000, 5000))
"""


def test_a_write_error_names_the_file_and_line_and_a_rerun_finishes(tmp_path):
    source = write_lines(tmp_path / "in.jsonl", 100)
    out = tmp_path / "out.jsonl"
    result = batch(str(source), "-o", str(out), "-c", "1", prelude=FILE_SIZE_LIMIT)
    no_traceback(result)
    assert result.returncode == 1
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    written = len(ids(out))
    assert 0 < written < 100
    assert f"cannot write the result of line {written + 1} to the batch output {out}" in error
    assert "File too large" in error and "run the same command again" in error
    assert out.read_bytes().endswith(b"\n")  # the partial line was cut off again
    again = batch(str(source), "-o", str(out))
    assert again.returncode == 0, again.stderr
    assert f"{100 - written} done, 0 failed, {written} already done" in again.stderr
    exactly_once(out, 100)


class _FullDisk:
    """``os.write`` that fails with ENOSPC from the ``after``-th call on (half a line first)."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.calls = 0
        self.real = os.write

    def __call__(self, fd: int, data: Any) -> int:
        self.calls += 1
        if self.calls == self.after:
            return self.real(fd, bytes(data[: len(data) // 2]))
        if self.calls > self.after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.real(fd, data)


def test_a_full_disk_stops_the_batch_with_an_error_not_a_traceback(tmp_path, monkeypatch):
    source = write_lines(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    monkeypatch.setattr(batch_files.os, "write", _FullDisk(after=6))
    with pytest.raises(BatchFileError) as caught:
        BatchRunner("mock", concurrency=1).run(source, out)
    assert caught.value.path == str(out) and caught.value.line is not None
    assert f"cannot write the result of line {caught.value.line} to the batch output {out}" in str(
        caught.value
    )
    assert "No space left on device" in str(caught.value)
    assert len(ids(out)) == 5 and out.read_bytes().endswith(b"\n")
    monkeypatch.undo()
    summary = BatchRunner("mock").run(source, out)
    assert summary.skipped == 5 and summary.succeeded == 15
    exactly_once(out, 20)


def test_a_full_disk_stops_the_sync_results_iterator_too(tmp_path, monkeypatch):
    source = write_lines(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    monkeypatch.setattr(batch_files.os, "write", _FullDisk(after=3))
    seen = []
    with pytest.raises(BatchFileError, match="No space left on device"):
        seen.extend(result.line for result in BatchRunner("mock").results(source, out))
    assert len(seen) <= 2


def test_a_failed_fsync_is_a_write_error(tmp_path, monkeypatch):
    source = write_lines(tmp_path / "in.jsonl", 3)

    def fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(batch_files.os, "fsync", fsync)
    with pytest.raises(BatchFileError, match="Input/output error"):
        BatchRunner("mock").run(source, tmp_path / "out.jsonl")


# -- bounded reads ------------------------------------------------------------------------------


def test_an_overlong_line_in_the_output_is_a_clear_error(tmp_path, source):
    out = tmp_path / "out.jsonl"
    with out.open("wb") as handle:
        handle.write(b"x" * (MAX_LINE_BYTES + 10))
        handle.write(b"\n")
    result = batch(str(source), "-o", str(out))
    no_traceback(result)
    assert result.returncode == 2
    assert f"{out} line 1: longer than {MAX_LINE_BYTES} bytes" in result.stderr
    assert out.stat().st_size == MAX_LINE_BYTES + 11  # left as it was


def test_an_overlong_input_line_fails_alone(tmp_path):
    source = tmp_path / "in.jsonl"
    with source.open("wb") as handle:
        handle.write(b'{"custom_id": "a", "prompt": "first"}\n')
        handle.write(b'{"custom_id": "big", "prompt": "' + b"x" * MAX_LINE_BYTES + b'"}\n')
        handle.write(b'{"custom_id": "c", "prompt": "last"}\n')
    out = tmp_path / "out.jsonl"
    result = batch(str(source), "-o", str(out))
    no_traceback(result)
    assert result.returncode == 3
    records = {r["llmkit"]["line"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records[1]["error"] is None and records[3]["error"] is None
    assert records[2]["error"]["code"] == "line_too_long"
    assert records[2]["error"]["message"] == f"line 2: longer than {MAX_LINE_BYTES} bytes"


def test_the_resume_read_streams_the_file(tmp_path, monkeypatch):
    # reading the output back never asks for more than one bounded line at a time
    source = write_lines(tmp_path / "in.jsonl", 30)
    out = tmp_path / "out.jsonl"
    BatchRunner("mock").run(source, out)
    asked: list[int] = []
    real = batch_files.read_lines

    class Handle:  # only readline(size) is there to call: a whole-file read would fail
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def readline(self, size: int = -1) -> bytes:
            asked.append(size)
            return self.handle.readline(size)

    def spy(handle, *, limit=MAX_LINE_BYTES):
        return real(Handle(handle), limit=limit)

    monkeypatch.setattr("llmkit.batch.results.read_lines", spy)
    summary = BatchRunner("mock").run(source, out)
    assert summary.skipped == 30
    assert asked and all(0 < size <= MAX_LINE_BYTES + 1 for size in asked)


# -- one writer per output file -----------------------------------------------------------------

SLOW_LIBRARY_BATCH = """
import sys, llmkit.batch
llmkit.batch.run(sys.argv[1], sys.argv[2], backend="mock", delay=0.01, concurrency=2)
"""


def test_a_second_batch_on_the_same_output_fails_at_once(tmp_path):
    source = write_lines(tmp_path / "in.jsonl", 200)
    out = tmp_path / "out.jsonl"
    first = subprocess.Popen(
        [sys.executable, "-c", SLOW_LIBRARY_BATCH, str(source), str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and not (out.exists() and out.stat().st_size):
            time.sleep(0.05)
        assert first.poll() is None, "the first batch ended too soon to test the lock"
        second = batch(str(source), "-o", str(out))
        still_running = first.poll() is None
        assert first.wait(timeout=TIMEOUT) == 0, first.stderr.read() if first.stderr else ""
    finally:
        first.kill()
    no_traceback(second)
    assert still_running
    assert second.returncode == 1
    assert second.stderr.strip() == (
        f"error: the batch output {out} is in use: another llmkit batch is writing it (it holds "
        "the file's lock); wait for it to finish, or write to another file"
    )
    exactly_once(out, 200)
    again = batch(str(source), "-o", str(out))
    assert again.returncode == 0 and "0 done, 0 failed, 200 already done" in again.stderr
    exactly_once(out, 200)


def test_batches_started_together_write_every_line_once(tmp_path):
    source = write_lines(tmp_path / "in.jsonl", 400)
    out = tmp_path / "out.jsonl"
    command = [
        sys.executable,
        "-m",
        "llmkit",
        "batch",
        str(source),
        "-o",
        str(out),
        "-b",
        "mock",
        "-q",
    ]
    runs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(run.wait(timeout=TIMEOUT), run.stderr.read() if run.stderr else "") for run in runs]
    for status, stderr in results:
        assert "Traceback" not in stderr
        assert status == 0 or (status == 1 and "is in use: another llmkit batch" in stderr), stderr
    assert any(status == 0 for status, _ in results)
    exactly_once(out, 400)


def test_the_lock_is_kept_across_a_rewrite(tmp_path):
    source = write_lines(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"
    BatchRunner("mock").run(source, out)
    out.write_bytes(out.read_bytes() + b'{"torn')  # forces a rewrite on the next run

    async def main() -> None:
        async with BatchRunner("mock").open(source, out) as run:
            assert not out.read_bytes().endswith(b"torn")  # rewritten: a new file at the path
            with pytest.raises(BatchFileError, match="is in use"):
                ResultFile(out).lock()
            with out.open("rb") as handle, pytest.raises(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            async for _ in run:
                pass
        after = ResultFile(out)
        after.lock()  # and let go at the end
        after.close()

    anyio.run(main)


def test_a_planted_temporary_file_is_not_written_through(tmp_path):
    source = write_lines(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out.jsonl"
    BatchRunner("mock").run(source, out)
    out.write_bytes(out.read_bytes() + b'{"torn')
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "out.jsonl.tmp").symlink_to(victim)  # where the rewrite used to write
    out.chmod(0o640)
    BatchRunner("mock").run(source, out)
    assert victim.read_text() == "keep me"
    assert out.stat().st_mode & 0o777 == 0o640  # the rewrite keeps the file's permissions
    exactly_once(out, 5)


def test_an_output_that_is_a_link_to_a_regular_file_stays_a_link(tmp_path):
    source = write_lines(tmp_path / "in.jsonl", 5)
    real = tmp_path / "real.jsonl"
    BatchRunner("mock").run(source, real)
    real.write_bytes(real.read_bytes() + b'{"torn')
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    BatchRunner("mock").run(source, link)
    assert link.is_symlink()
    exactly_once(real, 5)


# -- bad lines fail alone -----------------------------------------------------------------------


def test_deeply_nested_lines_fail_alone_with_their_line_numbers(tmp_path):
    deep = "[" * 5000 + "]" * 5000
    lines = [
        json.dumps({"custom_id": "first", "prompt": "first"}),
        '{"custom_id": "list5000", "prompt": "x", "options": {"stop": ' + deep + "}}",
        '{"custom_id": "dict5000", "prompt": "x", "format": '
        + '{"a":' * 5000
        + "1"
        + "}" * 5000
        + "}",
        '{"custom_id": "mid500", "prompt": "x", "format": ' + "[" * 500 + "]" * 500 + "}",
        '{"custom_id": ' + "[" * 900 + "]" * 900 + ', "prompt": "x"}',
        '{"custom_id": "openai", "url": "/v1/chat/completions", "body": {"model": "m", '
        '"messages": [{"role": "user", "content": ' + "[" * 800 + "]" * 800 + "}]}}",
        '{"custom_id": "deepkey", "prompt": "x", ' + '"k":{' * 150 + '"v": 1' + "}" * 150 + "}",
        '{"custom_id": "method", "url": "/v1/completions", "method": '
        + "[" * 50
        + "]" * 50
        + ', "body": {}}',
        json.dumps({"custom_id": "last", "prompt": "last"}),
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = batch(str(source), "-o", str(out))
    no_traceback(result)
    assert result.returncode == 3
    records = {r["llmkit"]["line"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert sorted(records) == list(range(1, len(lines) + 1))
    assert records[1]["response"]["body"]["response"] == "first"
    assert records[len(lines)]["response"]["body"]["response"] == "last"
    for number in range(2, len(lines)):
        error = records[number]["error"]
        assert error is not None and error["line"] == number
        assert error["message"].startswith(f"line {number}: ")
        assert len(error["message"]) < 500
        assert f"failed: line {number}: " in result.stderr
    assert records[2]["error"]["code"] == "invalid_json"
    assert "JSON nested deeper than 100 levels" in records[4]["error"]["message"]
    assert records[4]["error"]["param"].startswith("format.0.0")


def test_unreadable_python_lines_fail_alone():
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(3000):
        node["a"] = {}
        node = node["a"]
    lines: list[Any] = [
        {"prompt": "ok"},
        {"prompt": "x", "format": deep},
        "\ud800",
        5,
        {"prompt": object()},
        {"prompt": "fine"},
    ]
    results = list(BatchRunner("mock").results(lines))
    assert [r.ok for r in results] == [True, False, False, False, False, True]
    for result in results[1:-1]:
        assert result.error is not None
        assert result.error["message"].startswith(f"line {result.line}: ")


def test_a_line_answered_twice_is_written_once(tmp_path):
    """Exactly-once writes, keyed by line: an executor that answers a line twice (as a retried
    task may) still leaves one record per line."""

    class Twice:
        async def run(self, items, emit):
            for item in items:
                response = GenerateResponse(model="m", response=item.request.prompt, done=True)
                record = success_record(item, response, attempts=1)
                await emit(item, record, None)
                await emit(item, record, None)

    source = write_lines(tmp_path / "in.jsonl", 10)
    out = tmp_path / "out.jsonl"

    async def main() -> Any:
        async with BatchRun(source, out, Twice()) as run:
            async for _ in run:
                pass
        return run.summary

    summary = anyio.run(main)
    assert summary.succeeded == 10 and summary.completed
    exactly_once(out, 10)


def test_an_executor_error_is_raised_as_itself(tmp_path):
    class Broken:
        async def run(self, items, emit):
            raise InvalidRequestError("no worker could start: bad backend")

    async def main() -> None:
        async with BatchRun(
            write_lines(tmp_path / "in.jsonl", 3), tmp_path / "o.jsonl", Broken()
        ) as run:
            async for _ in run:
                pass

    with pytest.raises(InvalidRequestError, match="no worker could start"):
        anyio.run(main)
    after = ResultFile(tmp_path / "o.jsonl")
    after.lock()  # the lock was let go
    after.close()


def test_the_python_api_refuses_special_files_too(tmp_path):
    with pytest.raises(InvalidRequestError, match="is a character device"):
        llmkit.batch.run(write_lines(tmp_path / "in.jsonl", 1), "/dev/full", backend="mock")
    with pytest.raises(InvalidRequestError, match="is a character device"):
        llmkit.batch.run("/dev/zero", tmp_path / "out.jsonl", backend="mock")


@pytest.mark.model
def test_a_line_with_a_schema_llama_cpp_cannot_take_fails_alone_and_resumes(
    tmp_path, llama_backend
):
    # It used to crash the process at the line's first token, and again on every resume.
    wide = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 2048}}}
    lines = [
        {"custom_id": "a", "prompt": "Hi", "options": {"num_predict": 2}},
        {"custom_id": "wide", "prompt": "Hi", "format": wide, "options": {"num_predict": 2}},
        {"custom_id": "b", "prompt": "Bye", "options": {"num_predict": 2}},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    summary = BatchRunner(llama_backend, concurrency=1).run(source, out)
    assert summary.succeeded == 2 and summary.failed == 1
    records = {r["custom_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert "format.properties.name.maxLength" in json.dumps(records["wide"]["error"])
    again = BatchRunner(llama_backend, concurrency=1, retry_failed=True).run(source, out)
    assert again.failed == 1 and again.skipped == 2
