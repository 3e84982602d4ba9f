"""The app ``test_http2.py`` serves with hypercorn: ``llmkit serve``'s app on the real SmolLM2
(the GGUF's path comes in ``LLMKIT_H2_MODEL``)."""

from __future__ import annotations

import os

from llmkit.serve.server import build_app

app = build_app([f"llamacpp:{os.environ['LLMKIT_H2_MODEL']}"], models=["smollm2"])
