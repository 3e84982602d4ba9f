"""Shared fixtures (the real SmolLM2 model, loaded once, and the anyio backends) and the switch
for the opt-in conformance suite.

``tests/conformance`` checks llmkit against Ollama's template corpus and the founding seed
(a folder laid out as ``ollama-templates/``, ``seed/`` and ``hf-templates/``). It runs when the
corpus location is given, by ``--corpus DIR`` or ``LLMKIT_CORPUS=DIR``; without it the folder
is not collected at all (nothing is skipped), and the pytest header says which it was.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BODIES = HERE / "data" / "bodies"
CONFORMANCE = HERE / "conformance"
CORPUS_ENV = "LLMKIT_CORPUS"
_CORPUS_PARTS = ("ollama-templates", "seed", "hf-templates")
_corpus_key = pytest.StashKey["Path | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--corpus",
        metavar="DIR",
        default=None,
        help="run the conformance suite (tests/conformance) against this corpus folder "
        f"(holding {', '.join(_CORPUS_PARTS)}); also ${CORPUS_ENV}",
    )


def pytest_configure(config: pytest.Config) -> None:
    given = config.getoption("--corpus") or os.environ.get(CORPUS_ENV) or None
    corpus: Path | None = None
    if given:
        corpus = Path(given).expanduser().resolve()
        missing = [part for part in _CORPUS_PARTS if not (corpus / part).is_dir()]
        if missing:
            raise pytest.UsageError(
                f"the conformance corpus {corpus} (from --corpus or ${CORPUS_ENV}) lacks "
                f"{', '.join(missing)}"
            )
        os.environ[CORPUS_ENV] = str(corpus)  # read by tests/conformance/corpus_location.py
    config.stash[_corpus_key] = corpus
    named = [Path(arg.split("::")[0]).resolve() for arg in config.args]
    if corpus is None and any(path.is_relative_to(CONFORMANCE) for path in named):
        raise pytest.UsageError(
            f"tests/conformance needs the corpus: give --corpus DIR or {CORPUS_ENV}=DIR"
        )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.stash[_corpus_key] is None and collection_path.is_relative_to(CONFORMANCE):
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str:
    corpus = config.stash[_corpus_key]
    if corpus is None:
        return (
            "llmkit conformance suite: off (no corpus given; --corpus DIR or "
            f"{CORPUS_ENV}=DIR runs tests/conformance)"
        )
    return f"llmkit conformance suite: on, corpus {corpus}"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def seed_json():
    def load(name: str):
        return json.loads((BODIES / name).read_text())

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
