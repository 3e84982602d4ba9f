"""The Ollama API routes (``/api/...`` and ``/``): a thin shell over the pure conversions.

Each handler reads the JSON body, converts it (:mod:`llmkit.serve.ollama_convert`),
resolves the model, and either streams NDJSON (``stream`` defaults to true, as in
Ollama) or answers once.  Every failure becomes ``{"error": "..."}`` with the
status :mod:`llmkit.serve.errors` gives it; after a stream started, that object
is the stream's last line.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from llmkit.errors import InvalidRequestError, LLMKitError
from llmkit.models.registry import lookup
from llmkit.models.store import ModelStore
from llmkit.serve import ollama_convert as convert
from llmkit.serve.catalog import RunningModels, ServedModel, show_model
from llmkit.serve.errors import ServeError, model_not_found, ollama_error_body, problem_for
from llmkit.serve.state import ServeState, json_body, resolve_model, serve_state
from llmkit.serve.streaming import (
    EventStreamResponse,
    StreamedEvents,
    collect,
    until_disconnected,
)
from llmkit.serve.wire import dumps, parse_duration
from llmkit.streaming.accumulator import ChatAccumulator, GenerateAccumulator
from llmkit.types.events import StreamEvent
from llmkit.types.requests import ChatRequest, GenerateRequest
from llmkit.types.responses import ChatResponse, GenerateResponse

__all__ = ["ollama_error_response", "ollama_routes"]

logger = logging.getLogger("llmkit.serve")

NDJSON = "application/x-ndjson"
Handler = Callable[[Request], Awaitable[Response]]


def ollama_error_response(exc: Exception) -> JSONResponse:
    """An exception as Ollama's error response."""
    problem = problem_for(exc)
    if not isinstance(exc, LLMKitError):
        logger.error("unexpected error in an Ollama route", exc_info=exc)
    return JSONResponse(ollama_error_body(problem), status_code=problem.status)


def _ndjson_line(value: dict[str, Any]) -> bytes:
    return (dumps(value) + "\n").encode()


def _error_line(exc: Exception) -> bytes:
    return _ndjson_line(ollama_error_body(problem_for(exc)))


def endpoint(handler: Handler) -> Handler:
    """Wrap a handler so that every failure is answered in Ollama's shape."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            return ollama_error_response(exc)

    return wrapped


def _keep_alive(value: str | float | None) -> float | None:
    if value is None:
        return RunningModels.DEFAULT_KEEP_ALIVE
    return parse_duration(value)


def _unloads(keep_alive: float | None) -> bool:
    return keep_alive is not None and keep_alive <= 0


async def _answer(
    request: Request,
    model: str,
    stream: bool,
    start: Callable[[], AsyncIterator[StreamEvent]],
    kind: str,
) -> Response:
    """Stream the backend's events as NDJSON, or read them into one answer."""
    if stream:
        chunks = convert.OllamaChunks(model, kind)

        def encode(event: StreamEvent) -> list[bytes]:
            return [_ndjson_line(chunks.chunk(event))]

        return StreamedEvents(
            start,
            encode=encode,
            error_piece=_error_line,
            error_response=ollama_error_response,
            media_type=NDJSON,
        )
    accumulator = ChatAccumulator(model) if kind == "chat" else GenerateAccumulator(model)
    finished, response = await until_disconnected(request, lambda: collect(start(), accumulator))
    if not finished or response is None:
        return Response(status_code=499)
    if isinstance(response, ChatResponse):
        return JSONResponse(convert.chat_body(response, model))
    assert isinstance(response, GenerateResponse)
    return JSONResponse(convert.generate_body(response, model))


def _touch(state: ServeState, served: ServedModel, keep_alive: float | None) -> None:
    state.running.touch(served, keep_alive, state.clock())


@endpoint
async def chat(request: Request) -> Response:
    """``POST /api/chat``."""
    state = serve_state(request)
    call = convert.chat_request(await json_body(request))
    served = await resolve_model(state, call.model, protocol="ollama")
    keep_alive = _keep_alive(call.request.keep_alive)
    _touch(state, served, keep_alive)
    if not call.request.messages:
        return JSONResponse(convert.load_body(call.model, "chat", unload=_unloads(keep_alive)))
    backend_request: ChatRequest = call.request.model_copy(update={"model": served.upstream})
    return await _answer(
        request, call.model, call.stream, lambda: state.backend.chat(backend_request), "chat"
    )


@endpoint
async def generate(request: Request) -> Response:
    """``POST /api/generate``."""
    state = serve_state(request)
    call = convert.generate_request(await json_body(request))
    served = await resolve_model(state, call.model, protocol="ollama")
    convert.check_context(call.request.context, served.vocab_size)
    keep_alive = _keep_alive(call.request.keep_alive)
    _touch(state, served, keep_alive)
    if not call.request.prompt and not call.request.images:
        return JSONResponse(convert.load_body(call.model, "generate", unload=_unloads(keep_alive)))
    backend_request: GenerateRequest = call.request.model_copy(update={"model": served.upstream})
    return await _answer(
        request,
        call.model,
        call.stream,
        lambda: state.backend.generate(backend_request),
        "generate",
    )


@endpoint
async def embed(request: Request) -> Response:
    """``POST /api/embed``."""
    state = serve_state(request)
    call = convert.embed_request(await json_body(request))
    served = await resolve_model(state, call.model, protocol="ollama")
    _touch(state, served, _keep_alive(call.request.keep_alive))
    if call.request.input in ("", []):
        return JSONResponse({"model": call.model, "embeddings": []})
    backend_request = call.request.model_copy(update={"model": served.upstream})
    finished, response = await until_disconnected(
        request, lambda: state.backend.embed(backend_request)
    )
    if not finished or response is None:
        return Response(status_code=499)
    return JSONResponse(convert.embed_body(response, call.model))


@endpoint
async def embeddings(request: Request) -> Response:
    """``POST /api/embeddings`` (legacy: one prompt, one ``embedding``)."""
    state = serve_state(request)
    call = convert.embeddings_request(await json_body(request))
    served = await resolve_model(state, call.model, protocol="ollama")
    _touch(state, served, _keep_alive(call.request.keep_alive))
    if call.request.input == "":
        return JSONResponse({"embedding": []})
    backend_request = call.request.model_copy(update={"model": served.upstream})
    finished, response = await until_disconnected(
        request, lambda: state.backend.embed(backend_request)
    )
    if not finished or response is None:
        return Response(status_code=499)
    return JSONResponse({"embedding": response.embeddings[0] if response.embeddings else []})


@endpoint
async def tags(request: Request) -> Response:
    """``GET /api/tags``: the models this server offers."""
    state = serve_state(request)
    models = await anyio.to_thread.run_sync(state.catalog.models)
    return JSONResponse(convert.tags_body(models))


@endpoint
async def ps(request: Request) -> Response:
    """``GET /api/ps``: the models used lately (see :class:`RunningModels`)."""
    state = serve_state(request)
    return JSONResponse(convert.ps_body(state.running.running(state.clock())))


@endpoint
async def show(request: Request) -> Response:
    """``POST /api/show``."""
    state = serve_state(request)
    body = await json_body(request)
    name = body.get("model") or body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequestError("model is required", fields=["model"])
    unknown = sorted(set(body) - {"model", "name", "verbose"})
    if unknown:
        raise InvalidRequestError(f"{unknown[0]}: unknown field", fields=unknown)
    if not isinstance(body.get("verbose", False), bool | None):
        raise InvalidRequestError("verbose: expected true or false", fields=["verbose"])
    served = await resolve_model(state, name, protocol="ollama")
    return JSONResponse(show_model(served))


@endpoint
async def version(request: Request) -> Response:
    """``GET /api/version``: llmkit's version."""
    return JSONResponse({"version": serve_state(request).version})


async def root(request: Request) -> Response:
    """``GET /`` and ``HEAD /``: the health check Ollama's clients use."""
    return PlainTextResponse("Ollama is running")


@endpoint
async def pull(request: Request) -> Response:
    """``POST /api/pull``: a registry model into the local store, with progress lines."""
    state = serve_state(request)
    name, stream = convert.pull_request(await json_body(request))
    store = state.catalog.store
    if store is None:
        raise ServeError(
            400,
            f"this server offers a fixed set of models; it has no model store to pull {name!r}",
        )
    entry = lookup(_pull_name(name))
    if entry is None:
        raise model_not_found(name, protocol="ollama")
    if not stream:
        await anyio.to_thread.run_sync(lambda: store.pull(entry.name))
        return JSONResponse({"status": "success"})
    return EventStreamResponse(_pull_lines(store, entry.name, entry.sha256), media_type=NDJSON)


def _pull_name(name: str) -> str:
    """A pull's model name without its ``:latest`` tag."""
    return name.strip().removesuffix(":latest")


class _PullCancelled(Exception):
    """Raised in the pulling thread once the client has gone: the store then cleans up."""


async def _pull_lines(store: ModelStore, name: str, sha256: str) -> AsyncGenerator[bytes, None]:
    """Ollama's progress lines for a pull that runs in its own thread.

    The thread hands lines over through a queue; when the client leaves, the
    next progress callback raises, which aborts the pull and removes its
    partial file.
    """
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
    stop = threading.Event()
    digest = f"sha256:{sha256}"
    last = [-1]

    def progress(done: int, total: int) -> None:
        if stop.is_set():
            raise _PullCancelled(f"the client stopped reading; pull of {name!r} abandoned")
        percent = done * 100 // total if total else 100
        if percent != last[0]:
            last[0] = percent
            status = f"pulling {sha256[:12]}"
            lines.put({"status": status, "digest": digest, "total": total, "completed": done})

    def work() -> None:
        try:
            store.pull(name, progress=progress)
            for status in ("verifying sha256 digest", "writing manifest", "success"):
                lines.put({"status": status})
        except Exception as exc:
            lines.put(ollama_error_body(problem_for(exc)))
        finally:
            lines.put(None)

    threading.Thread(target=work, name=f"llmkit-pull-{name}", daemon=True).start()
    try:
        yield _ndjson_line({"status": "pulling manifest"})
        while (
            line := await anyio.to_thread.run_sync(lines.get, abandon_on_cancel=True)
        ) is not None:
            yield _ndjson_line(line)
    finally:
        stop.set()


def ollama_routes() -> list[BaseRoute]:
    """Every Ollama route."""
    return [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/api/version", version, methods=["GET", "HEAD"]),
        Route("/api/tags", tags, methods=["GET", "HEAD"]),
        Route("/api/ps", ps, methods=["GET"]),
        Route("/api/show", show, methods=["POST"]),
        Route("/api/pull", pull, methods=["POST"]),
        Route("/api/chat", chat, methods=["POST"]),
        Route("/api/generate", generate, methods=["POST"]),
        Route("/api/embed", embed, methods=["POST"]),
        Route("/api/embeddings", embeddings, methods=["POST"]),
    ]
