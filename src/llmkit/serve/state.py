"""What every route needs: the backend, the model catalog, the API key, the clock.

One :class:`ServeState` lives on the Starlette app (``app.state.llmkit``); the
routes read it and :func:`resolve_model` turns a client's model name into a
:class:`~llmkit.serve.catalog.ServedModel` or the protocol's 404.
:func:`json_body` reads a request's JSON object (a large one in a worker thread,
so that checking it does not hold up the other connections).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from starlette.requests import Request

from llmkit.backends.base import AsyncBackend
from llmkit.serve.catalog import ModelCatalog, RunningModels, ServedModel
from llmkit.serve.errors import model_not_found
from llmkit.serve.wire import parse_json_object

__all__ = ["ServeState", "StoredResponses", "json_body", "resolve_model", "serve_state"]

#: Bodies up to this size are parsed on the event loop; larger ones in a worker thread.
INLINE_BODY_BYTES = 64 << 10


@dataclass
class ServeState:
    """The server's shared state."""

    backend: AsyncBackend
    catalog: ModelCatalog
    api_key: str | None = None
    version: str = "0.0.0"
    running: RunningModels = field(default_factory=RunningModels)
    clock: Callable[[], float] = time.time
    responses: StoredResponses = field(default_factory=lambda: StoredResponses())


class StoredResponses:
    """The conversations of stored ``/v1/responses`` answers, for ``previous_response_id``:
    the newest ``limit`` (1,024), for the server's lifetime."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self._items: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()

    def get(self, response_id: str) -> list[dict[str, Any]] | None:
        found = self._items.get(response_id)
        if found is not None:
            self._items.move_to_end(response_id)
        return found

    def put(self, response_id: str, conversation: list[dict[str, Any]]) -> None:
        self._items[response_id] = conversation
        while len(self._items) > self.limit:
            self._items.popitem(last=False)


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


async def json_body(request: Request) -> dict[str, Any]:
    """The request's body as one JSON object (:func:`~llmkit.serve.wire.parse_json_object`)."""
    raw = await request.body()
    if len(raw) <= INLINE_BODY_BYTES:
        return parse_json_object(raw)
    return await anyio.to_thread.run_sync(parse_json_object, raw)
