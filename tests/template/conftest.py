import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"
CORPUS = SHARED / "corpus" / "ollama-templates"


@pytest.fixture(scope="session")
def corpus() -> Path:
    assert CORPUS.is_dir(), f"the template corpus is missing: {CORPUS}"
    return CORPUS


@pytest.fixture(scope="session")
def corpus_inputs(corpus):
    return json.loads((corpus / "testdata-inputs.json").read_text())
