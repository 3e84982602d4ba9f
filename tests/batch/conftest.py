"""Fixtures for the batch tests: the servers other test folders start, reused."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS / "serve", TESTS / "backends" / "http"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# llama-cpp-python's own server, as tests/backends/http starts it (one per session).
llama_cpp_server = _load(
    "_http_backend_conftest", TESTS / "backends" / "http" / "conftest.py"
).llama_cpp_server


@pytest.fixture(scope="session")
def llmkit_server(smollm2_path):
    """The real ``llmkit serve`` with SmolLM2, in a subprocess: one slot that reads every
    prompt whole, so that greedy output does not depend on what ran before or beside it."""
    from serve_helpers import serve_process

    backend = "llamacpp:?parallel=1&cache_prompt=false"
    with serve_process("--backend", backend, "--model", "smollm2", "--log-level", "warning") as url:
        yield url
