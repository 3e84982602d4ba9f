"""The result file: torn tails, byte-for-byte keeping, and the resume plan."""

from __future__ import annotations

import json

import pytest

from llmkit.batch.format import LineParser
from llmkit.batch.records import bad_line_record, dumps_record, failure_record, success_record
from llmkit.batch.results import ResultFile, parse_records, plan_resume
from llmkit.errors import ConnectionFailedError, InvalidRequestError, UnsupportedOptionError
from llmkit.types import GenerateResponse


def items(*prompts, model=None):
    parser = LineParser(model)
    return [
        parser.parse(n, json.dumps({"custom_id": f"c{n}", "prompt": p}).encode())
        for n, p in enumerate(prompts, start=1)
    ]


def ok(item):
    return dumps_record(success_record(item, GenerateResponse(response="r", done=True), attempts=1))


def test_a_torn_last_line_is_cut_and_everything_before_it_kept(tmp_path):
    lines = items("a", "b")
    first = ok(lines[0])
    records, torn = parse_records(first + ok(lines[1])[:25])
    assert [r.key for r in records] == ["id:c1"] and torn == 25
    assert records[0].raw == first


def test_a_corrupt_line_inside_the_file_is_an_error_naming_it(tmp_path):
    lines = items("a")
    with pytest.raises(InvalidRequestError, match="line 2: not JSON"):
        parse_records(ok(lines[0]) + b"garbage\n" + ok(lines[0]))
    with pytest.raises(InvalidRequestError, match="line 1: not a batch result"):
        parse_records(b'{"custom_id": "x", "response": {}}\n')


def test_the_plan_keeps_done_results_and_drops_changed_and_retryable_ones():
    old = items("a", "b", "c", "d")
    new = items("a", "B", "c", "d")  # line 2 changed
    records, _ = parse_records(
        ok(old[0])
        + ok(old[1])
        + dumps_record(failure_record(old[2], ConnectionFailedError("down"), attempts=3))
        + dumps_record(failure_record(old[3], UnsupportedOptionError("x", "mock"), attempts=1))
        + ok(old[0])  # a repeat of a key already kept
    )
    plan = plan_resume(new, records)
    assert sorted(plan.done) == ["id:c1", "id:c4"]
    assert plan.dropped == 3
    again = plan_resume(new, records, retry_failed=True)
    assert sorted(again.done) == ["id:c1"]


def test_results_of_other_lines_are_kept_unless_their_custom_id_is_reused():
    old = items("a", "b")
    records, _ = parse_records(ok(old[0]) + ok(old[1]))
    plan = plan_resume(items("a"), records)
    assert [r.key for r in plan.keep] == ["id:c1", "id:c2"]


def test_bad_line_records_are_final():
    parser = LineParser()
    bad = parser.parse(7, b"{nope")
    record = bad_line_record(bad)
    assert record["error"]["line"] == 7 and record["llmkit"]["retryable"] is False
    records, _ = parse_records(dumps_record(record))
    assert plan_resume([bad], records).done


def test_rewrite_replaces_the_file_atomically_and_append_adds_whole_lines(tmp_path):
    path = tmp_path / "out.jsonl"
    lines = items("a", "b")
    first, second = ok(lines[0]), ok(lines[1])
    path.write_bytes(first + b'{"torn')
    file = ResultFile(path)
    records, torn = file.load()
    assert torn == 6
    file.rewrite(records)
    file.append(second)
    file.close()
    assert path.read_bytes() == first + second
    assert not (tmp_path / "out.jsonl.tmp").exists()
