"""The OpenAI-compatible routes (``/v1/...``): a thin shell over the pure conversions.

Requests are converted by :mod:`llmkit.serve.openai_requests`, answers by
:mod:`llmkit.serve.openai_responses`.  Streams are server-sent events
(``data: {...}`` then ``data: [DONE]``); failures are OpenAI error objects with
the status :mod:`llmkit.serve.errors` gives them (the ``param`` named as OpenAI
names it), or one ``data: {"error": ...}`` event once a stream has started.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from llmkit.errors import BackendBusyError, LLMKitError, ServeError
from llmkit.serve import openai_requests as requests
from llmkit.serve import openai_responses as responses
from llmkit.serve import responses_api
from llmkit.serve.catalog import ServedModel
from llmkit.serve.errors import model_not_found, openai_error_body, problem_for
from llmkit.serve.state import ServeState, json_body, resolve_model, serve_state
from llmkit.serve.streaming import StreamedEvents, collect, until_disconnected
from llmkit.serve.wire import dumps
from llmkit.streaming.accumulator import ChatAccumulator, GenerateAccumulator
from llmkit.types.events import StreamEvent
from llmkit.types.requests import ChatRequest, GenerateRequest
from llmkit.types.responses import ChatResponse, GenerateResponse

__all__ = ["openai_error_response", "openai_routes"]

logger = logging.getLogger("llmkit.serve")

Handler = Callable[[Request], Awaitable[Response]]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DONE = b"data: [DONE]\n\n"


def openai_error_response(exc: Exception) -> JSONResponse:
    """An exception as OpenAI's error response."""
    problem = problem_for(exc, param_name=requests.openai_param)
    if not isinstance(exc, LLMKitError):
        logger.error("unexpected error in an OpenAI route", exc_info=exc)
    if isinstance(exc, BackendBusyError):
        # OpenAI-style servers answer a full queue with 429 and when to come back.
        retry = max(1, math.ceil(exc.retry_after or 1))
        busy = replace(problem, status=429, type="rate_limit_error")
        return JSONResponse(
            openai_error_body(busy), status_code=429, headers={"Retry-After": str(retry)}
        )
    return JSONResponse(openai_error_body(problem), status_code=problem.status)


def _sse(value: dict[str, Any]) -> bytes:
    return f"data: {dumps(value)}\n\n".encode()


def _error_event(exc: Exception) -> bytes:
    return _sse(openai_error_body(problem_for(exc, param_name=requests.openai_param)))


def endpoint(handler: Handler) -> Handler:
    """Wrap a handler so that every failure is answered in OpenAI's shape."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            return openai_error_response(exc)

    return wrapped


def _sse_response(
    start: Callable[[], AsyncIterator[StreamEvent]],
    chunks: responses.ChatCompletionChunks | responses.CompletionChunks,
    head: bytes = b"",
) -> Response:
    def encode(event: StreamEvent) -> list[bytes]:
        return [_sse(chunk) for chunk in chunks.chunks(event)]

    return StreamedEvents(
        start,
        encode=encode,
        error_piece=_error_event,
        error_response=openai_error_response,
        media_type="text/event-stream",
        head=head,
        tail=DONE,
        headers=SSE_HEADERS,
    )


Req = TypeVar("Req", ChatRequest, GenerateRequest)


async def _choices(n: int, request: Req, run: Callable[[Req], Awaitable[Any]]) -> list[Any]:
    """OpenAI's ``n``: the request ``n`` times at once, sibling sequences of one prompt (the
    in-process engine reads the prompt once and copies its cells to the others). A seeded
    request's choice ``i`` takes seed + i, so that sampled choices differ."""
    answers: list[Any] = [None] * n

    async def one(index: int) -> None:
        sibling = request
        options = request.options
        if index and options is not None and options.seed is not None and options.seed >= 0:
            seeded = options.model_copy(update={"seed": options.seed + index})
            sibling = request.model_copy(update={"options": seeded})
        answers[index] = await run(sibling)

    async with anyio.create_task_group() as group:
        for index in range(n):
            group.start_soon(one, index)
    return answers


async def _touch(state: ServeState, name: str) -> ServedModel:
    served = await resolve_model(state, name, protocol="openai")
    state.running.touch(served, state.running.DEFAULT_KEEP_ALIVE, state.clock())
    return served


@endpoint
async def chat_completions(request: Request) -> Response:
    """``POST /v1/chat/completions``."""
    state = serve_state(request)
    call = requests.chat_request(await json_body(request))
    served = await _touch(state, call.model)
    backend_request = call.request.model_copy(update={"model": served.upstream})
    if call.stream:
        chunks = responses.ChatCompletionChunks(call.model, include_usage=call.include_usage)
        return _sse_response(
            lambda: state.backend.chat(backend_request), chunks, head=_sse(chunks.start())
        )
    if call.n > 1:
        finished, answers = await until_disconnected(
            request,
            lambda: _choices(
                call.n,
                backend_request,
                lambda one: collect(state.backend.chat(one), ChatAccumulator(call.model)),
            ),
        )
        if not finished or answers is None:
            return Response(status_code=499)
        bodies = [responses.chat_completion_body(answer, call.model) for answer in answers]
        return JSONResponse(responses.merge_choices(bodies))
    finished, response = await until_disconnected(
        request, lambda: collect(state.backend.chat(backend_request), ChatAccumulator(call.model))
    )
    if not finished or not isinstance(response, ChatResponse):
        return Response(status_code=499)
    return JSONResponse(responses.chat_completion_body(response, call.model))


@endpoint
async def completions(request: Request) -> Response:
    """``POST /v1/completions`` (the prompt is sent as it is, without a chat template)."""
    state = serve_state(request)
    call = requests.completion_request(await json_body(request))
    served = await _touch(state, call.model)
    backend_request = call.request.model_copy(update={"model": served.upstream})
    if call.stream:
        chunks = responses.CompletionChunks(call.model, include_usage=call.include_usage)
        return _sse_response(lambda: state.backend.generate(backend_request), chunks)
    if call.n > 1:
        finished, answers = await until_disconnected(
            request,
            lambda: _choices(
                call.n,
                backend_request,
                lambda one: collect(state.backend.generate(one), GenerateAccumulator(call.model)),
            ),
        )
        if not finished or answers is None:
            return Response(status_code=499)
        bodies = [responses.completion_body(answer, call.model) for answer in answers]
        return JSONResponse(responses.merge_choices(bodies))
    finished, response = await until_disconnected(
        request,
        lambda: collect(state.backend.generate(backend_request), GenerateAccumulator(call.model)),
    )
    if not finished or not isinstance(response, GenerateResponse):
        return Response(status_code=499)
    return JSONResponse(responses.completion_body(response, call.model))


@endpoint
async def create_response(request: Request) -> Response:
    """``POST /v1/responses`` (OpenAI's Responses API over the chat; see
    :mod:`llmkit.serve.responses_api`)."""
    state = serve_state(request)
    call = responses_api.responses_call(await json_body(request))
    model = call.body.model
    served = await _touch(state, model)
    previous: list[dict[str, Any]] = []
    if call.body.previous_response_id is not None:
        found = state.responses.get(call.body.previous_response_id)
        if found is None:
            raise ServeError(
                404,
                f"Previous response with id '{call.body.previous_response_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
                kind="invalid_request_error",
            )
        previous = found
    chat = responses_api.chat_request_for(call, served.upstream, previous)
    response_id = responses_api.new_response_id()

    def keep(content: str, calls: list[Any] | None) -> None:
        if call.store:
            state.responses.put(
                response_id, responses_api.history_of(call, previous, content, calls)
            )

    if call.stream:
        events = responses_api.ResponseEvents(call, response_id, model, keep)
        return StreamedEvents(
            lambda: state.backend.chat(chat),
            encode=events.events,
            error_piece=lambda exc: events.error(
                openai_error_body(problem_for(exc, param_name=requests.openai_param))
            ),
            error_response=openai_error_response,
            media_type="text/event-stream",
            head=events.head(),
            headers=SSE_HEADERS,
        )
    finished, answer = await until_disconnected(
        request, lambda: collect(state.backend.chat(chat), ChatAccumulator(model))
    )
    if not finished or not isinstance(answer, ChatResponse):
        return Response(status_code=499)
    keep(answer.message.content or "", answer.message.tool_calls)
    return JSONResponse(responses_api.response_body(call, answer, response_id, model))


@endpoint
async def embeddings(request: Request) -> Response:
    """``POST /v1/embeddings`` (``encoding_format`` float or base64)."""
    state = serve_state(request)
    call = requests.embedding_request(await json_body(request))
    served = await _touch(state, call.model)
    backend_request = call.request.model_copy(update={"model": served.upstream})
    finished, response = await until_disconnected(
        request, lambda: state.backend.embed(backend_request)
    )
    if not finished or response is None:
        return Response(status_code=499)
    return JSONResponse(responses.embeddings_body(response, call.model, call.encoding_format))


@endpoint
async def list_models(request: Request) -> Response:
    """``GET /v1/models``."""
    state = serve_state(request)
    models = await anyio.to_thread.run_sync(state.catalog.models)
    return JSONResponse(responses.models_body(models))


@endpoint
async def retrieve_model(request: Request) -> Response:
    """``GET /v1/models/{model}``."""
    state = serve_state(request)
    name = request.path_params["model"]
    found = await anyio.to_thread.run_sync(state.catalog.find, name)
    if found is None:
        raise model_not_found(name, protocol="openai")
    return JSONResponse(responses.model_body(found))


def openai_routes() -> list[BaseRoute]:
    """Every OpenAI-compatible route."""
    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/responses", create_response, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
    ]
