"""Where the conformance corpus is: ``--corpus DIR`` or ``$LLMKIT_CORPUS`` (tests/conftest.py
resolves either and puts the absolute path in the environment before collection)."""

from __future__ import annotations

import os
from pathlib import Path

CORPUS = Path(os.environ["LLMKIT_CORPUS"])
OLLAMA_TEMPLATES = CORPUS / "ollama-templates"
SEED = CORPUS / "seed"
HF_TEMPLATES = CORPUS / "hf-templates"
