"""Batch input lines → requests, with their line numbers (pure, no I/O).

Two shapes of line are read, and may be mixed in one file:

- **OpenAI's Batch API**: ``{"custom_id", "method": "POST", "url", "body"}`` with
  ``url`` one of ``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``.
  The body is converted exactly as ``llmkit serve`` converts it
  (:mod:`llmkit.serve.openai_requests`): an argument llmkit cannot honour is an
  error naming it.  The same envelope takes Ollama's ``/api/chat``,
  ``/api/generate`` and ``/api/embed`` bodies.
- **llmkit's own**: a request body as it is (:class:`~llmkit.types.ChatRequest`,
  :class:`~llmkit.types.GenerateRequest` or :class:`~llmkit.types.EmbedRequest`,
  Ollama's JSON shape), with an optional ``custom_id`` beside its fields.  Which
  request it is follows from its fields: ``messages`` (chat), ``prompt``
  (generate) or ``input`` (embed).  ``model`` may be left out: the backend's
  default model answers.

A line that cannot be used becomes a :class:`BadLine` naming its line number and
the problem, never an exception: the rest of the batch goes on.  That includes JSON
nested deeper than :data:`MAX_JSON_DEPTH` levels (checked without recursion, before
anything walks the value), a line too long to read, and any unexpected error while
reading a line.
"""

from __future__ import annotations

import logging
import reprlib
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from llmkit.batch.keys import KeyCounter, line_hash, request_hash
from llmkit.errors import InvalidRequestError
from llmkit.serve import ollama_convert, openai_requests
from llmkit.serve.wire import validate
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest

__all__ = ["ENDPOINTS", "MAX_JSON_DEPTH", "BadLine", "BatchItem", "Kind", "LineParser", "Shape"]

logger = logging.getLogger("llmkit.batch")

Kind = Literal["chat", "generate", "embed"]
Shape = Literal["openai", "ollama"]
AnyRequest = ChatRequest | GenerateRequest | EmbedRequest

#: Every ``url`` a line may name: its kind of request and the shape of its answer.
ENDPOINTS: dict[str, tuple[Kind, Shape]] = {
    "/v1/chat/completions": ("chat", "openai"),
    "/v1/completions": ("generate", "openai"),
    "/v1/embeddings": ("embed", "openai"),
    "/api/chat": ("chat", "ollama"),
    "/api/generate": ("generate", "ollama"),
    "/api/embed": ("embed", "ollama"),
}
_ENVELOPE_KEYS = frozenset({"custom_id", "method", "url", "body"})
#: How deep a line's arrays and objects may nest (the line itself is level 1), as ``llmkit serve``.
MAX_JSON_DEPTH = 100
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80
_SHORT.maxlevel = 2
_BARE_URL: dict[str, str] = {
    "messages": "/api/chat",
    "prompt": "/api/generate",
    "input": "/api/embed",
}


@dataclass(frozen=True)
class BatchItem:
    """One usable line: where it is, what identifies it, and the request it makes.

    ``model`` is the model as the line names it (``None`` when it names none);
    ``request.model`` is the one sent (the runner's override, if any).
    """

    line: int
    key: str
    hash: str
    custom_id: str | None
    url: str
    kind: Kind
    shape: Shape
    request: AnyRequest
    model: str | None
    encoding_format: str = "float"


@dataclass(frozen=True)
class BadLine:
    """A line that cannot be run: its number, key, a ``code`` and a message naming the problem."""

    line: int
    key: str
    hash: str
    custom_id: str | None
    code: str
    message: str
    fields: list[str] = field(default_factory=list)


def _shown(value: object) -> str:
    """A value from a line, for a message: short, and safe at any size or depth."""
    return _SHORT.repr(value)


def _too_deep(value: object, limit: int) -> list[str] | None:
    """The path to the first array or object nested past ``limit`` levels (iteratively)."""
    stack: list[tuple[object, list[str], int]] = [(value, [], 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return path
            pairs = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend(
                (child, [*path, str(key)], depth + 1)
                for key, child in pairs
                if isinstance(child, dict | list)
            )
    return None


def _object(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _Problem("invalid_json", f"invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise _Problem("invalid_line", f"expected a JSON object, got {type(value).__name__}")
    path = _too_deep(value, MAX_JSON_DEPTH)
    if path is not None:
        where = ".".join(part[:40] for part in path[:8]) + (".…" if len(path) > 8 else "")
        raise _Problem(
            "invalid_request", f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels", [where]
        )
    return value


class _Problem(Exception):
    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []


def _custom_id(data: dict[str, Any]) -> str | None:
    custom_id = data.get("custom_id")
    if custom_id is None:
        return None
    if not isinstance(custom_id, str) or not custom_id:
        raise _Problem(
            "invalid_line",
            f"custom_id must be a non-empty string, got {_shown(custom_id)}",
            ["custom_id"],
        )
    return custom_id


def _envelope(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``url`` and ``body`` of a line: an envelope's, or a bare request's own."""
    if "url" not in data and "body" not in data:
        body = {key: value for key, value in data.items() if key != "custom_id"}
        for marker, url in _BARE_URL.items():
            if marker in body:
                return url, body
        raise _Problem(
            "invalid_line",
            "cannot tell what this line asks for: give url and body (OpenAI's batch shape), "
            "or a request with messages, prompt or input",
        )
    unknown = sorted(set(data) - _ENVELOPE_KEYS)
    if unknown:
        name = unknown[0] if len(unknown[0]) <= 80 else unknown[0][:80] + "…"
        raise _Problem("invalid_line", f"{name}: unknown field of a batch line", [name])
    method = data.get("method", "POST")
    if method != "POST":
        raise _Problem(
            "invalid_line", f"method: only POST is supported, got {_shown(method)}", ["method"]
        )
    named = data.get("url")
    if not isinstance(named, str) or named not in ENDPOINTS:
        known = ", ".join(ENDPOINTS)
        raise _Problem("invalid_line", f"url: {_shown(named)} is not one of {known}", ["url"])
    payload = data.get("body")
    if not isinstance(payload, dict):
        raise _Problem("invalid_line", "body: expected a JSON object", ["body"])
    return named, payload


def _request(url: str, body: dict[str, Any]) -> tuple[AnyRequest, str | None, str]:
    """The request a body makes, the model it names, and the embedding encoding."""
    kind, shape = ENDPOINTS[url]
    if shape == "openai":
        if kind == "chat":
            chat = openai_requests.chat_request(body)
            return chat.request, chat.model, "float"
        if kind == "generate":
            completion = openai_requests.completion_request(body)
            return completion.request, completion.model, "float"
        embedding = openai_requests.embedding_request(body)
        return embedding.request, embedding.model, embedding.encoding_format
    if "model" not in body:  # llmkit's own shape: the backend's default model answers
        fields = {key: value for key, value in body.items() if key != "stream"}
        plain: AnyRequest
        if kind == "chat":
            plain = validate(ChatRequest, fields)
        elif kind == "generate":
            plain = validate(GenerateRequest, fields)
        else:
            plain = validate(EmbedRequest, fields)
        return plain, None, "float"
    if kind == "chat":
        ollama_chat = ollama_convert.chat_request(body)
        return ollama_chat.request, ollama_chat.model, "float"
    if kind == "generate":
        ollama_generate = ollama_convert.generate_request(body)
        return ollama_generate.request, ollama_generate.model, "float"
    ollama_embed = ollama_convert.embed_request(body)
    return ollama_embed.request, ollama_embed.model, "float"


def _code(exc: InvalidRequestError) -> str:
    if any("unknown field" in line for line in str(exc).splitlines()):
        return "unknown_field"
    return "invalid_request"


class LineParser:
    """Reads a file's lines in order, handing out keys (see :mod:`llmkit.batch.keys`).

    ``model`` overrides every line's model; it is part of each request's hash.
    A second line with a ``custom_id`` already used is a :class:`BadLine`.
    """

    def __init__(self, model: str | None = None) -> None:
        self.model = model
        self._keys = KeyCounter()
        self._custom_ids: dict[str, int] = {}

    def parse(self, line: int, raw: bytes) -> BatchItem | BadLine:
        """Line number ``line`` (1-based) with bytes ``raw``, as an item or a bad line."""
        custom_id: str | None = None
        try:
            data = _object(raw)
            custom_id = _custom_id(data)
            url, body = _envelope(data)
            digest = request_hash(url, body, self.model)
            request, model, encoding = _request(url, body)
        except _Problem as problem:
            return self._bad(line, raw, custom_id, problem.code, problem.message, problem.fields)
        except InvalidRequestError as exc:
            return self._bad(line, raw, custom_id, _code(exc), str(exc), exc.fields)
        except RecursionError:
            message = "nested too deeply to read"
            return self._bad(line, raw, custom_id, "invalid_request", message, [])
        except Exception as exc:  # never let one line stop the batch
            logger.debug("batch line %d could not be read", line, exc_info=True)
            message = f"cannot read this line: {type(exc).__name__}: {str(exc)[:200]}"
            return self._bad(line, raw, custom_id, "invalid_line", message, [])
        if custom_id is not None:
            first = self._custom_ids.setdefault(custom_id, line)
            if first != line:
                message = f"custom_id {custom_id!r} is already used on line {first}"
                return self._bad(
                    line, raw, custom_id, "duplicate_custom_id", message, ["custom_id"]
                )
        if self.model is not None:
            request = request.model_copy(update={"model": self.model})
        kind, shape = ENDPOINTS[url]
        key = f"id:{custom_id}" if custom_id is not None else self._keys.key("sha256", digest)
        return BatchItem(
            line=line,
            key=key,
            hash=digest,
            custom_id=custom_id,
            url=url,
            kind=kind,
            shape=shape,
            request=request,
            model=model,
            encoding_format=encoding,
        )

    def refuse(self, line: int, raw: bytes, code: str, message: str) -> BadLine:
        """A line refused before it could be parsed (too long, not encodable): a bad line."""
        return self._bad(line, raw, None, code, message, [])

    def _bad(
        self,
        line: int,
        raw: bytes,
        custom_id: str | None,
        code: str,
        message: str,
        fields: list[str],
    ) -> BadLine:
        digest = line_hash(raw)
        return BadLine(
            line=line,
            key=self._keys.key("line", digest),
            hash=digest,
            custom_id=custom_id,
            code=code,
            message=f"line {line}: {message}",
            fields=list(fields),
        )
