"""Status codes and error bodies for each protocol the server speaks (pure, no I/O).

Every failure a route meets becomes one :class:`Problem` (status, message,
OpenAI's ``type``/``param``/``code``), and each protocol writes it its own way:

- Ollama: ``{"error": "message"}`` with 400, 401, 404 or 500, as Ollama's
  ``server/routes.go`` does; once a stream has started, the same object is sent
  as the stream's last NDJSON line.
- OpenAI: ``{"error": {"message", "type", "param", "code"}}``, which
  openai-python turns into ``BadRequestError`` (400), ``AuthenticationError``
  (401), ``NotFoundError`` (404) or ``InternalServerError`` (500); mid-stream it
  is one ``data: {"error": ...}`` event, which openai-python raises as ``APIError``.

llmkit's errors map as: :class:`~llmkit.errors.InvalidRequestError` (and its
unsupported-option/feature children) → 400; :class:`~llmkit.errors.ModelNotFoundError`
→ 404; any other :class:`~llmkit.errors.LLMKitError` → 500.  An error that carries an
HTTP ``status_code`` attribute (an upstream server's answer, relayed by an HTTP
backend) keeps that status, except an upstream 401/403/407, which is this server's
misconfiguration and becomes 502.

Two exceptions that only a client's request can cause are 400s even when they
escape the checks meant to catch them first: :class:`RecursionError` (nesting
too deep) and :class:`UnicodeError` (text that is not UTF-8).  Error messages
may quote what a client sent, so the bodies escape anything UTF-8 cannot carry
(a lone surrogate is written ``\ud800``) rather than fail to encode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmkit.errors import (
    BackendBusyError,
    InvalidRequestError,
    LLMKitError,
    ModelNotFoundError,
    ServeError,
)

__all__ = [
    "Problem",
    "ServeError",
    "auth_problem",
    "model_not_found",
    "ollama_error_body",
    "openai_error_body",
    "printable",
    "problem_for",
    "route_problem",
]


@dataclass(frozen=True)
class Problem:
    """One failure, ready to be written in either protocol's shape."""

    status: int
    message: str
    type: str
    param: str | None = None
    code: str | None = None


def _openai_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def problem_for(
    exc: BaseException, *, param_name: Callable[[str], str | None] | None = None
) -> Problem:
    """The problem an exception stands for; ``param_name`` renames llmkit's field paths.

    ``param_name`` lets the OpenAI routes report ``max_tokens`` where llmkit
    names ``options.num_predict``.
    """
    rename = param_name or (lambda field: field)
    if isinstance(exc, ServeError):
        return Problem(
            exc.status, exc.message, exc.kind or _openai_type(exc.status), exc.param, exc.code
        )
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 400 <= status <= 599 and isinstance(exc, LLMKitError):
        # An upstream's refusal of *our* credentials is this server's fault, not the client's.
        relayed = 502 if status in (401, 403, 407) else status
        return Problem(relayed, str(exc), _openai_type(relayed))
    if isinstance(exc, BackendBusyError):
        # Ollama's answer when its queue is full; the OpenAI routes make it 429 (Retry-After).
        return Problem(503, str(exc), "server_error", None, "server_busy")
    if isinstance(exc, InvalidRequestError):
        param = rename(exc.fields[0]) if exc.fields else None
        return Problem(400, str(exc), "invalid_request_error", param)
    if isinstance(exc, ModelNotFoundError):
        return Problem(404, str(exc), "invalid_request_error", "model", "model_not_found")
    if isinstance(exc, LLMKitError):
        return Problem(500, str(exc), "server_error")
    if isinstance(exc, RecursionError):
        return Problem(400, "the request nests too deeply to be read", "invalid_request_error")
    if isinstance(exc, UnicodeError):
        return Problem(
            400, f"the request holds text that is not valid UTF-8: {exc}", "invalid_request_error"
        )
    return Problem(500, f"internal error: {type(exc).__name__}: {exc}", "server_error")


def model_not_found(name: str, *, protocol: str, can_pull: bool = False) -> ServeError:
    """The 404 each protocol's clients expect for a model this server does not serve."""
    if protocol == "openai":
        message = f"The model `{name}` does not exist or you do not have access to it."
    else:
        message = f"model '{name}' not found" + (", try pulling it first" if can_pull else "")
    return ServeError(404, message, param="model", code="model_not_found")


def auth_problem(protocol: str) -> Problem:
    """A missing or wrong API key."""
    if protocol == "openai":
        return Problem(
            401,
            "Incorrect API key provided; send it as 'Authorization: Bearer <key>'.",
            "invalid_request_error",
            None,
            "invalid_api_key",
        )
    return Problem(401, "unauthorized", "invalid_request_error", None, "invalid_api_key")


def route_problem(method: str, path: str, status: int) -> Problem:
    """No such route (404), or a route that does not take this method (405)."""
    if status == 405:
        message = f"method {method} is not allowed for {path}"
        return Problem(405, message, "invalid_request_error", None, "method_not_allowed")
    return Problem(
        404, f"Invalid URL ({method} {path})", "invalid_request_error", None, "unknown_url"
    )


def printable(text: str) -> str:
    """``text`` as UTF-8 can carry it: a lone surrogate becomes the six characters ``\ud800``."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def ollama_error_body(problem: Problem) -> dict[str, Any]:
    """``{"error": "..."}``: Ollama's error body and mid-stream error line."""
    return {"error": printable(problem.message)}


def openai_error_body(problem: Problem) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}``: OpenAI's error body."""
    return {
        "error": {
            "message": printable(problem.message),
            "type": problem.type,
            "param": None if problem.param is None else printable(problem.param),
            "code": problem.code,
        }
    }
