"""Batch output lines: one record per input line, in OpenAI's Batch API output shape (pure).

A record is ``{"id", "custom_id", "response", "error", "llmkit"}``:

- a success has ``response: {"status_code": 200, "request_id", "body"}`` where the body
  is what the endpoint the line named answers (a ``chat.completion``,
  ``text_completion`` or embeddings list for ``/v1/...``; Ollama's answer for
  ``/api/...`` and llmkit's own shape) and ``error: null``;
- a failure has ``response: null`` and ``error: {"code", "message", "line"}`` (with
  ``param`` naming the offending field, and ``status_code`` when a server refused);
- ``llmkit`` holds what resuming needs: the input ``line``, the line's ``key`` and
  request ``hash`` (see :mod:`llmkit.batch.keys`), the ``attempts`` made, and
  ``retryable`` for a failure worth trying again on a rerun (a server error, a
  dropped connection), as opposed to one that would fail the same way (bad input).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson

from llmkit.batch.format import BadLine, BatchItem
from llmkit.errors import (
    AuthenticationError,
    BackendError,
    ConnectionFailedError,
    ContextWindowError,
    GenerationError,
    HTTPStatusError,
    InvalidRequestError,
    ModelNotFoundError,
    RateLimitError,
    RemoteError,
    RemoteTimeoutError,
    StreamError,
    UnsupportedFeatureError,
    UnsupportedOptionError,
)
from llmkit.serve.ollama_convert import chat_body, embed_body, generate_body
from llmkit.serve.openai_requests import openai_param
from llmkit.serve.openai_responses import chat_completion_body, completion_body, embeddings_body
from llmkit.types.responses import ChatResponse, EmbedResponse, GenerateResponse

__all__ = [
    "AnyResponse",
    "bad_line_record",
    "dumps_record",
    "error_code",
    "failure_record",
    "is_retryable",
    "record_id",
    "success_record",
]

AnyResponse = ChatResponse | GenerateResponse | EmbedResponse


def record_id(key: str) -> str:
    """A stable ``batch_req_...`` id for a line's key (the same on every rerun)."""
    return "batch_req_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _meta(key: str, digest: str, line: int, attempts: int, **extra: Any) -> dict[str, Any]:
    return {"line": line, "key": key, "hash": digest, "attempts": attempts, **extra}


def _body(item: BatchItem, response: AnyResponse) -> dict[str, Any]:
    model = item.request.model or item.model or getattr(response, "model", None) or ""
    if item.shape == "openai":
        if isinstance(response, ChatResponse):
            return chat_completion_body(response, model)
        if isinstance(response, GenerateResponse):
            return completion_body(response, model)
        return embeddings_body(response, model, item.encoding_format)
    if isinstance(response, ChatResponse):
        return chat_body(response, model)
    if isinstance(response, GenerateResponse):
        return generate_body(response, model)
    return embed_body(response, model)


def success_record(item: BatchItem, response: AnyResponse, *, attempts: int) -> dict[str, Any]:
    """The record of a line answered."""
    return {
        "id": record_id(item.key),
        "custom_id": item.custom_id,
        "response": {
            "status_code": 200,
            "request_id": uuid.uuid4().hex,
            "body": _body(item, response),
        },
        "error": None,
        "llmkit": _meta(item.key, item.hash, item.line, attempts),
    }


def error_code(error: BaseException) -> str:
    """A short machine-readable name for what went wrong."""
    table: list[tuple[type[BaseException], str]] = [
        (UnsupportedOptionError, "unsupported_option"),
        (UnsupportedFeatureError, "unsupported_feature"),
        (ContextWindowError, "context_window_exceeded"),
        (ModelNotFoundError, "model_not_found"),
        (AuthenticationError, "authentication_failed"),
        (RateLimitError, "rate_limited"),
        (InvalidRequestError, "invalid_request"),
        (HTTPStatusError, "server_error"),
        (RemoteTimeoutError, "timeout"),
        (ConnectionFailedError, "connection_failed"),
        (StreamError, "stream_interrupted"),
        (GenerationError, "generation_failed"),
        (RemoteError, "server_error"),
        (BackendError, "backend_error"),
    ]
    for cls, code in table:
        if isinstance(error, cls):
            return code
    return "internal_error"


def is_retryable(error: BaseException) -> bool:
    """Whether trying the same request again could succeed (not bad input, not a missing model)."""
    if isinstance(error, InvalidRequestError | ModelNotFoundError | AuthenticationError):
        return False
    if isinstance(error, HTTPStatusError):
        status = error.status_code or 0
        return status >= 500 or status in (408, 429)
    return isinstance(error, RemoteError | StreamError | GenerationError) or not isinstance(
        error, BackendError
    )


def failure_record(item: BatchItem, error: BaseException, *, attempts: int) -> dict[str, Any]:
    """The record of a line the backend could not answer."""
    detail: dict[str, Any] = {
        "code": error_code(error),
        "message": f"line {item.line}: {error}",
        "line": item.line,
    }
    fields = getattr(error, "fields", None)
    if fields:
        detail["param"] = openai_param(fields[0]) if item.shape == "openai" else fields[0]
    status = getattr(error, "status_code", None)
    if status is not None:
        detail["status_code"] = status
    return {
        "id": record_id(item.key),
        "custom_id": item.custom_id,
        "response": None,
        "error": detail,
        "llmkit": _meta(item.key, item.hash, item.line, attempts, retryable=is_retryable(error)),
    }


def bad_line_record(bad: BadLine) -> dict[str, Any]:
    """The record of a line that could not be read or validated."""
    detail: dict[str, Any] = {"code": bad.code, "message": bad.message, "line": bad.line}
    if bad.fields:
        detail["param"] = bad.fields[0]
    return {
        "id": record_id(bad.key),
        "custom_id": bad.custom_id,
        "response": None,
        "error": detail,
        "llmkit": _meta(bad.key, bad.hash, bad.line, 0, retryable=False),
    }


def dumps_record(record: dict[str, Any]) -> bytes:
    """One output line: compact JSON and a newline."""
    return orjson.dumps(record) + b"\n"
