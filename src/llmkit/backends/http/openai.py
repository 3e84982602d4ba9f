"""The OpenAI-compatible backend: ``openai://host:port/v1`` (async and sync).

>>> from llmkit import Client
>>> client = Client("openai://127.0.0.1:8080/v1", dialect="llama.cpp")  # doctest: +SKIP

``AsyncOpenAIBackend`` is the source; ``OpenAIBackend`` its generated sync
twin.  :class:`OpenAIPlugin` is what the ``openai`` entry point names.
"""

from __future__ import annotations

from typing import Any

from llmkit.backends.http._async.openai import DEFAULT_BASE_URL, AsyncOpenAIBackend
from llmkit.backends.http._sync.openai import OpenAIBackend

__all__ = ["DEFAULT_BASE_URL", "AsyncOpenAIBackend", "OpenAIBackend", "OpenAIPlugin"]


class OpenAIPlugin:
    """Builds an OpenAI-compatible backend from a backend string's target."""

    @staticmethod
    def from_target(target: str, /, **kwargs: Any) -> OpenAIBackend:
        """The synchronous backend (for ``Client``)."""
        return OpenAIBackend(target or None, **kwargs)

    @staticmethod
    def from_target_async(target: str, /, **kwargs: Any) -> AsyncOpenAIBackend:
        """The asynchronous backend (for ``AsyncClient``)."""
        return AsyncOpenAIBackend(target or None, **kwargs)
