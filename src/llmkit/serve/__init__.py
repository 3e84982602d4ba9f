"""``llmkit serve``: any llmkit backend over the Ollama API and the OpenAI-compatible API.

Needs the ``serve`` extra (starlette, uvicorn).  Nothing is imported from
starlette until one of the names below is used.

- :func:`create_app` builds the ASGI app from backends, a model catalog and an
  optional API key; :func:`build_app` does it from backend strings, as the
  ``llmkit serve`` command does; :func:`run` serves an app with uvicorn.
- :class:`Router` spreads requests over several backends (least outstanding
  requests, round robin on ties); it is itself an ``AsyncBackend``.
- :class:`StoreCatalog` offers the local model store's models;
  :class:`FixedCatalog` a fixed list.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmkit.serve.app import create_app
    from llmkit.serve.catalog import FixedCatalog, ModelCatalog, ServedModel, StoreCatalog
    from llmkit.serve.router import Router
    from llmkit.serve.server import build_app, run

__all__ = [
    "FixedCatalog",
    "ModelCatalog",
    "Router",
    "ServedModel",
    "StoreCatalog",
    "build_app",
    "create_app",
    "run",
]

_HOMES = {
    "create_app": "llmkit.serve.app",
    "FixedCatalog": "llmkit.serve.catalog",
    "ModelCatalog": "llmkit.serve.catalog",
    "ServedModel": "llmkit.serve.catalog",
    "StoreCatalog": "llmkit.serve.catalog",
    "Router": "llmkit.serve.router",
    "build_app": "llmkit.serve.server",
    "run": "llmkit.serve.server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'llmkit.serve' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
