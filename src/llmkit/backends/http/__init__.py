"""Remote backends over HTTP: the Ollama API and OpenAI-compatible servers.

Pure modules decide (``connection``, ``retry``, ``ollama_wire``,
``openai_wire``); one thin I/O layer (``_async_session`` and its generated
sync twin) moves the bytes.  See :mod:`llmkit.backends.http.ollama` and
:mod:`llmkit.backends.http.openai`.
"""

from __future__ import annotations

from llmkit.backends.http.connection import Timeouts
from llmkit.backends.http.limits import ResponseLimits
from llmkit.backends.http.retry import RetryPolicy

__all__ = ["ResponseLimits", "RetryPolicy", "Timeouts"]
