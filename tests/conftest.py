"""Shared fixtures: the real SmolLM2 model, loaded once, and the anyio backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SEED = SHARED / "corpus" / "seed"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def seed_json():
    def load(name: str):
        return json.loads((SEED / name).read_text())

    return load


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The real SmolLM2 GGUF, pulled into the store on first use."""
    from llmkit.models import ModelStore

    return ModelStore().resolve("smollm2")


@pytest.fixture(scope="session")
def llama_backend(smollm2_path: Path):
    """One in-process llama.cpp backend for the whole session (the model loads once)."""
    from llmkit_llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(str(smollm2_path), options={"num_ctx": 1024})
    yield backend
    backend.close()
