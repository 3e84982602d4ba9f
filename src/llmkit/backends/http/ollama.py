"""The Ollama backend: ``ollama://host:port`` (async and sync).

>>> from llmkit import Client
>>> client = Client("ollama://127.0.0.1:11434", model="llama3.2")  # doctest: +SKIP

``AsyncOllamaBackend`` is the source; ``OllamaBackend`` its generated sync
twin.  :class:`OllamaPlugin` is what the ``ollama`` entry point names.
"""

from __future__ import annotations

from typing import Any

from llmkit.backends.http._async.ollama import DEFAULT_HOST, AsyncOllamaBackend
from llmkit.backends.http._sync.ollama import OllamaBackend

__all__ = ["DEFAULT_HOST", "AsyncOllamaBackend", "OllamaBackend", "OllamaPlugin"]


class OllamaPlugin:
    """Builds an Ollama backend from a backend string's target (``host:port`` or a URL)."""

    @staticmethod
    def from_target(target: str, /, **kwargs: Any) -> OllamaBackend:
        """The synchronous backend (for ``Client``)."""
        return OllamaBackend(target or None, **kwargs)

    @staticmethod
    def from_target_async(target: str, /, **kwargs: Any) -> AsyncOllamaBackend:
        """The asynchronous backend (for ``AsyncClient``)."""
        return AsyncOllamaBackend(target or None, **kwargs)
