"""From backend strings to a running server: what ``llmkit serve`` does.

:func:`build_app` decides what a set of backend strings serves:

- only ``llamacpp`` backends naming store models (or none: the default): one
  in-process backend per string (several are replicas, each with its own copy of
  the model, spread by the router), offering every model in the local store
  (:class:`~llmkit.serve.catalog.StoreCatalog`); ``/api/pull`` adds more.  The
  first ``--model`` (else the backend string's model, else ``smollm2``) is the one
  loaded by default.
- ``llamacpp`` backends naming one GGUF file: that file, offered under ``--model``
  or the file's stem.
- anything else (``mock``, ``ollama://...``, ``openai://.../v1``, plug-ins): the
  backends as given, spread by the router when there are several, offering the
  ``--model`` names (each passed upstream as it is), or one model named after the
  backend when none is given.

:func:`run` serves the app with uvicorn (:func:`uvicorn_config`), with the
:class:`~llmkit.serve.limits.ServeLimits` on each request and connection: the
body's in the app (:class:`~llmkit.serve.limits.RequestLimits`), the headers' and
the idle connection's in the HTTP protocol (:mod:`llmkit.serve.http11`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.applications import Starlette

from llmkit.backends import parse_backend_spec, resolve_async_backend
from llmkit.backends.base import AsyncBackend
from llmkit.errors import BackendError
from llmkit.models.registry import DEFAULT_MODEL
from llmkit.models.store import ModelStore
from llmkit.serve.app import create_app
from llmkit.serve.catalog import FixedCatalog, ModelCatalog, StoreCatalog, gguf_model
from llmkit.serve.limits import DEFAULT_LIMITS, ServeLimits

if TYPE_CHECKING:
    import uvicorn

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "build_app", "is_loopback", "run", "uvicorn_config"]

logger = logging.getLogger("llmkit.serve")

DEFAULT_HOST = "127.0.0.1"
#: Ollama's port, so that Ollama's clients find the server without being told.
DEFAULT_PORT = 11434


def _is_path(target: str) -> bool:
    return target.lower().endswith(".gguf") or os.sep in target or target.startswith(("~", "."))


def _in_process(
    targets: list[str], models: Sequence[str], store: ModelStore, engine: dict[str, int]
) -> tuple[list[AsyncBackend], ModelCatalog]:
    # A target's query (``?parallel=2&cache_prompt=false``) sets its engine; it goes with it.
    queries = {target.partition("?")[2] for target in targets}
    if len(queries) > 1:
        raise BackendError("llamacpp backends served together must set their engine alike")
    query = queries.pop()
    suffix = f"?{query}" if query else ""
    targets = [target.partition("?")[0] for target in targets]
    files = sorted({target for target in targets if _is_path(target)})
    if files:
        if len(files) > 1 or len(files) != len(set(targets)):
            raise BackendError(
                "llamacpp backends serving a GGUF file must all serve the same file; "
                "put models in the store (llmkit pull) to serve several"
            )
        path = Path(files[0]).expanduser()
        name = models[0] if models else path.stem
        backends = [
            resolve_async_backend(f"llamacpp:{path}{suffix}", store=store, **engine)
            for _ in targets
        ]
        return backends, FixedCatalog([gguf_model(name, path)])
    default = (list(models) or [target for target in targets if target] or [DEFAULT_MODEL])[0]
    for model in models:
        store.resolve(model)  # a registry model is pulled; an unknown one is an error now
    backends = [
        resolve_async_backend(f"llamacpp:{default}{suffix}", store=store, **engine) for _ in targets
    ]
    return backends, StoreCatalog(store)


def build_app(
    specs: Sequence[str] = (),
    *,
    models: Sequence[str] = (),
    api_key: str | None = None,
    store: ModelStore | None = None,
    limits: ServeLimits = DEFAULT_LIMITS,
    parallel: int | None = None,
    max_queue: int | None = None,
) -> Starlette:
    """The app ``llmkit serve`` runs for these backend strings; see the module docstring.

    ``parallel`` and ``max_queue`` set the in-process engine's slots and queue (the llama.cpp
    plug-in's defaults otherwise)."""
    specs = list(specs) or ["llamacpp"]
    parsed = [parse_backend_spec(spec) for spec in specs]
    if all(scheme == "llamacpp" for scheme, _ in parsed):
        engine = {
            key: value
            for key, value in (("parallel", parallel), ("max_queue", max_queue))
            if value is not None
        }
        backends, catalog = _in_process(
            [target for _, target in parsed], models, store or ModelStore(), engine
        )
        return create_app(backends, models=catalog, api_key=api_key, limits=limits)
    if any(scheme == "llamacpp" for scheme, _ in parsed):
        raise BackendError(
            "the in-process llamacpp backend cannot share a router with other backends; "
            "serve it alone, or put it behind its own llmkit serve"
        )
    if parallel is not None or max_queue is not None:
        raise BackendError("--parallel and --max-queue set the in-process llamacpp backend only")
    resolved = [resolve_async_backend(spec) for spec in specs]
    return create_app(resolved, models=list(models) or None, api_key=api_key, limits=limits)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    return host in ("localhost", "::1") or host.startswith("127.")


def uvicorn_config(
    app: Starlette,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log_level: str = "info",
    limits: ServeLimits = DEFAULT_LIMITS,
) -> uvicorn.Config:
    """How :func:`run` configures uvicorn: h11 with the header, keep-alive and write
    timeouts of ``limits`` (:mod:`llmkit.serve.http11`), its header size limit, at most
    ``max_connections`` at once, and no WebSockets."""
    import uvicorn

    from llmkit.serve.http11 import protocol_class

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=protocol_class(limits),
        ws="none",
        h11_max_incomplete_event_size=limits.max_header_bytes,
        limit_concurrency=limits.max_connections,
    )


def run(
    app: Starlette,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log_level: str = "info",
    limits: ServeLimits = DEFAULT_LIMITS,
) -> None:
    """Serve ``app`` with uvicorn until interrupted (see :func:`uvicorn_config`).

    The body's limits are the app's own (``create_app(limits=...)``); ``limits``
    here sets the header, keep-alive and write timeouts, the header size and the
    number of connections.
    """
    import uvicorn

    server = uvicorn.Server(
        uvicorn_config(app, host=host, port=port, log_level=log_level, limits=limits)
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE, as uvicorn.run exits
