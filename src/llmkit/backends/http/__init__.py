"""Remote backends over HTTP: the Ollama API and OpenAI-compatible servers.

Pure modules decide (``connection``, ``retry``, ``ollama_wire``,
``openai_wire``); one thin I/O layer (``_async/session.py`` and its generated
sync twin in ``_sync/``) moves the bytes.  See :mod:`llmkit.backends.http.ollama` and
:mod:`llmkit.backends.http.openai`.
"""

from __future__ import annotations

from llmkit.backends.http.connection import Timeouts
from llmkit.backends.http.limits import ResponseLimits
from llmkit.backends.http.retry import RetryPolicy

__all__ = ["ResponseLimits", "RetryPolicy", "Timeouts"]
