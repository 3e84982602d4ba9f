"""What every route needs: the backend, the model catalog, the API key, the clock.

One :class:`ServeState` lives on the Starlette app (``app.state.llmkit``); the
routes read it and :func:`resolve_model` turns a client's model name into a
:class:`~llmkit.serve.catalog.ServedModel` or the protocol's 404.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio.to_thread
from starlette.requests import Request

from llmkit.backends.base import AsyncBackend
from llmkit.serve.catalog import ModelCatalog, RunningModels, ServedModel
from llmkit.serve.errors import model_not_found

__all__ = ["ServeState", "resolve_model", "serve_state"]


@dataclass
class ServeState:
    """The server's shared state."""

    backend: AsyncBackend
    catalog: ModelCatalog
    api_key: str | None = None
    version: str = "0.0.0"
    running: RunningModels = field(default_factory=RunningModels)
    clock: Callable[[], float] = time.time


def serve_state(request: Request) -> ServeState:
    """The state of the app that received ``request``."""
    state: ServeState = request.app.state.llmkit
    return state


async def resolve_model(state: ServeState, name: str, *, protocol: str) -> ServedModel:
    """The served model a client means, or the protocol's 404 (the store is read in a thread)."""
    found = await anyio.to_thread.run_sync(state.catalog.find, name)
    if found is None:
        raise model_not_found(name, protocol=protocol, can_pull=state.catalog.store is not None)
    return found
