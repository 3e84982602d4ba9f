"""The Starlette application: both protocols' routes over one backend (or a router).

:func:`create_app` is the whole server minus the socket: give it backends and
(optionally) the models it offers and an API key, and run it with any ASGI
server (``llmkit serve`` uses uvicorn) or test it through httpx's ASGI transport.

With an API key, every route but ``/`` (the health check) needs
``Authorization: Bearer <key>``; a request without it gets 401 in its
protocol's shape.  A path no route answers gets 404 (405 for a wrong method),
in Ollama's shape under ``/api`` and OpenAI's under ``/v1``.

Every request body is read first by :class:`~llmkit.serve.limits.RequestLimits`
(size and time limits: 413, 408), inside the key check, so a request without the
key is refused before its body is read (and its connection closed).  An
exception no route turned into an answer is a 500 in the protocol's shape, never
uvicorn's plain-text one.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmkit._observe import observer, observing
from llmkit.backends import resolve_async_backend
from llmkit.backends.base import AsyncBackend, Backend
from llmkit.backends.router import Router
from llmkit.serve.catalog import FixedCatalog, ModelCatalog, ServedModel
from llmkit.serve.errors import (
    Problem,
    auth_problem,
    ollama_error_body,
    openai_error_body,
    problem_for,
    route_problem,
)
from llmkit.serve.limits import DEFAULT_LIMITS, RequestLimits, ServeLimits
from llmkit.serve.ollama_routes import ollama_routes
from llmkit.serve.openai_routes import openai_routes
from llmkit.serve.state import ServeState

__all__ = ["BearerAuth", "create_app", "protocol_of"]

logger = logging.getLogger("llmkit.serve")

BackendLike = AsyncBackend | Backend | str
#: Paths that answer without a key: the health check clients poll before they send one.
OPEN_PATHS = frozenset({"/"})


def protocol_of(path: str) -> str:
    """``"openai"`` for ``/v1/...``, else ``"ollama"``: whose error shape a path gets."""
    return "openai" if path == "/v1" or path.startswith("/v1/") else "ollama"


def _problem_response(
    problem: Problem, protocol: str, headers: dict[str, str] | None = None
) -> Response:
    body = openai_error_body(problem) if protocol == "openai" else ollama_error_body(problem)
    return JSONResponse(body, status_code=problem.status, headers=headers)


class ServerSpans:
    """ASGI middleware: a server span per HTTP request while tracing is on
    (:func:`llmkit.tracing.instrument`); a pass-through otherwise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch = observer()
        if watch is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = str(scope.get("method", "")), str(scope.get("path", ""))
        with observing(watch.server(method, path)) as seen:

            async def sent(message: Message) -> None:
                if message["type"] == "http.response.start":
                    seen.result(int(message["status"]))
                await send(message)

            await self.app(scope, receive, sent)


class BearerAuth:
    """ASGI middleware: requests must carry ``Authorization: Bearer <api_key>``."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    def _authorized(self, scope: Scope) -> bool:
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        protocol = protocol_of(scope["path"])
        # The body is never read: closing the connection stops the client sending it.
        response = _problem_response(
            auth_problem(protocol),
            protocol,
            headers={"WWW-Authenticate": "Bearer", "Connection": "close"},
        )
        await response(scope, receive, send)


async def _route_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    problem = route_problem(request.method, request.url.path, status)
    return _problem_response(problem, protocol_of(request.url.path))


async def _unhandled_error(request: Request, exc: Exception) -> Response:
    logger.error("unhandled error serving %s", request.url.path, exc_info=exc)
    problem = problem_for(exc)
    return _problem_response(problem, protocol_of(request.url.path))


def _llmkit_version() -> str:
    try:
        return package_version("llmkit")
    except PackageNotFoundError:
        return "0.0.0"


def _catalog(models: ModelCatalog | Sequence[str] | None, backend: AsyncBackend) -> ModelCatalog:
    if models is None:
        return FixedCatalog([ServedModel(name=backend.name, upstream=None)])
    if isinstance(models, str):
        return FixedCatalog.of_names([models])
    if isinstance(models, Sequence):
        return FixedCatalog.of_names(list(models))
    return models


def create_app(
    backends: BackendLike | Sequence[BackendLike],
    *,
    models: ModelCatalog | Sequence[str] | None = None,
    api_key: str | None = None,
    close_backends: bool = True,
    limits: ServeLimits = DEFAULT_LIMITS,
) -> Starlette:
    """The server as an ASGI app.

    ``backends``: one backend (an instance or a backend string) or several, which a
    :class:`~llmkit.serve.router.Router` spreads requests over.  ``models``: what the
    server offers: a catalog (such as :class:`~llmkit.serve.catalog.StoreCatalog`),
    a list of model names (each passed to the backend as it is), or ``None`` for
    one model named after the backend, which uses its own default model.
    ``api_key``: require ``Authorization: Bearer <api_key>``.  ``close_backends``:
    close the backends when the app shuts down (its lifespan ends).  ``limits``: the
    request body's size and time limits (the others are the HTTP server's: see
    :func:`~llmkit.serve.server.uvicorn_config`).
    """
    given = [backends] if isinstance(backends, str | AsyncBackend | Backend) else list(backends)
    resolved = [resolve_async_backend(backend) for backend in given]
    backend: AsyncBackend = resolved[0] if len(resolved) == 1 else Router(resolved)
    state = ServeState(
        backend=backend,
        catalog=_catalog(models, backend),
        api_key=api_key,
        version=_llmkit_version(),
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if close_backends:
                await backend.aclose()

    app = Starlette(
        routes=[*ollama_routes(), *openai_routes()],
        exception_handlers={404: _route_error, 405: _route_error, Exception: _unhandled_error},
        lifespan=lifespan,
    )
    app.state.llmkit = state
    app.add_middleware(RequestLimits, limits=limits)
    if api_key:
        app.add_middleware(BearerAuth, api_key=api_key)
    app.add_middleware(ServerSpans)
    return app
