"""The Ray executor on a real multi-node Ray cluster (``ray.cluster_utils.Cluster``: a head
and three worker nodes, one CPU and 80 MB of object store each) when a worker node dies in
the middle of a batch: the lines its workers held are run again elsewhere, and every line is
answered exactly once in the output file.  The mock backend answers (slowed down, so the
batch is still running when the node goes): what is tested is Ray's side, not a model's."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path

import pytest
import ray
from ray.cluster_utils import Cluster

from llmkit.batch import BatchRunner

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find workers"),
]

LINES = 120
OBJECT_STORE = 80 * 1024 * 1024
#: The head notices a dead node within about a second, not Ray's default of 30 s or more.
FAST_FAILURE = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 300,
    "health_check_timeout_ms": 300,
    "health_check_failure_threshold": 3,
}


@pytest.fixture
def cluster():
    """A head with no CPU (so every worker lands on a worker node) and three 1-CPU nodes."""
    if ray.is_initialized():
        ray.shutdown()
    nodes = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "object_store_memory": OBJECT_STORE,
            "include_dashboard": False,
            "_system_config": FAST_FAILURE,
        },
    )
    workers = [nodes.add_node(num_cpus=1, object_store_memory=OBJECT_STORE) for _ in range(3)]
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, log_to_driver=False)
    try:
        yield nodes, workers
    finally:
        ray.shutdown()
        nodes.shutdown()


def _batch_workers_under(pid: int) -> int:
    """How many ``ray::BatchWorker`` processes the raylet ``pid`` started."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and command.startswith(b"ray::BatchWorker"):
            count += 1
    return count


def _node_with_workers(workers):
    """The worker node running the most batch workers (its raylet's children)."""
    counts = [
        (_batch_workers_under(node.all_processes["raylet"][0].process.pid), index)
        for index, node in enumerate(workers)
    ]
    count, index = max(counts)
    return workers[index] if count else None


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_worker_node_killed_mid_batch_loses_and_repeats_no_line(tmp_path, cluster, caplog):
    caplog.set_level(logging.WARNING, logger="llmkit.batch")
    nodes, workers = cluster
    lines = [{"custom_id": f"r{n}", "prompt": f"line {n} of the batch"} for n in range(LINES)]
    out = tmp_path / "out.jsonl"
    # five words at 20 ms each: 0.1 s a line, three lines at a time: about 4 s in all
    runner = BatchRunner("mock", executor="ray", ray_workers=3, concurrency=3, delay=0.02)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["summary"] = runner.run(lines, out)
        except BaseException as exc:  # handed to the test below
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and thread.is_alive():
        written = len(_records(out)) if out.exists() else 0
        if written >= LINES // 6:
            break
        time.sleep(0.05)
    victim = _node_with_workers(workers)
    assert victim is not None, "no batch worker found on any worker node"
    written_before = len(_records(out))
    assert written_before < LINES, "the batch finished before the node could be killed"
    nodes.remove_node(victim, allow_graceful=False)
    thread.join(timeout=150)
    assert not thread.is_alive(), "the batch did not finish after the node died"
    assert "error" not in outcome, outcome.get("error")

    records = _records(out)
    ids = [record["custom_id"] for record in records]
    assert sorted(ids) == sorted(line["custom_id"] for line in lines)  # each exactly once
    assert all(record["error"] is None for record in records), [
        record["error"] for record in records if record["error"]
    ][:3]
    by_id = {record["custom_id"]: record for record in records}
    for line in lines:  # and each answer is its own line's
        assert by_id[line["custom_id"]]["response"]["body"]["response"] == line["prompt"]
    summary = outcome["summary"]
    assert summary.succeeded == LINES and summary.completed  # type: ignore[attr-defined]
    assert out.read_bytes().endswith(b"\n")
    # the kill did hit the batch: workers died, were replaced, and their lines were sent again
    messages = [record.getMessage() for record in caplog.records]
    assert any("died" in message and "starting a new one" in message for message in messages)
    assert any("sending it again" in message for message in messages)
