"""Fixtures of the conformance suite (collected only when a corpus is given)."""

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def corpus() -> Path:
    from corpus_location import OLLAMA_TEMPLATES  # set only once a corpus was given

    return OLLAMA_TEMPLATES


@pytest.fixture(scope="session")
def corpus_inputs(corpus):
    return json.loads((corpus / "testdata-inputs.json").read_text())
