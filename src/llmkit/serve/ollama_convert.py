"""Ollama's wire format on the server side (pure, no I/O).

Request bodies become llmkit requests: they are Ollama-shaped already, so this
only does what Ollama's Go server does before its handlers see them.  ``stream``
defaults to true; a message's role is lower-cased; fields sent with Go's zero
value (``"suffix": ""``, ``"tools": []``), as
ollama-python sends them, mean "not given".  A field llmkit cannot honour that
is set to anything else is an error naming it, never dropped.

Stream events become NDJSON objects shaped as Ollama streams them: one object per
event with ``done: false``, then one with ``done: true``, ``done_reason`` and the
counts and durations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from llmkit.errors import InvalidRequestError, UnsupportedFeatureError
from llmkit.serve.catalog import ServedModel, model_details
from llmkit.serve.wire import now_rfc3339, validate
from llmkit.types.events import Done, StreamEvent, TextDelta, ThinkingDelta, ToolCallEvent
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import ChatResponse, EmbedResponse, GenerateResponse, TokenLogprob

__all__ = [
    "OllamaCall",
    "OllamaChunks",
    "chat_body",
    "chat_request",
    "check_context",
    "embed_body",
    "embed_request",
    "embeddings_request",
    "generate_body",
    "generate_request",
    "load_body",
    "ps_body",
    "pull_request",
    "tags_body",
]

R = TypeVar("R", ChatRequest, GenerateRequest, EmbedRequest)

_SERVER = "llmkit serve"
#: Ollama fields llmkit has no use for when they hold Go's zero value.
_ZERO_VALUES: dict[str, tuple[object, ...]] = {
    "_debug_render_only": (False, None),
    "width": (0, None),
    "height": (0, None),
    "steps": (0, None),
}
_EMPTY_MEANS_UNSET = ("suffix", "system", "template", "format")


@dataclass(frozen=True)
class OllamaCall(Generic[R]):
    """A parsed request: the model as the client named it, streaming or not, the request."""

    model: str
    stream: bool
    request: R


def _take_model(body: dict[str, Any], *, legacy_name: bool = False) -> str:
    model = body.pop("model", None)
    name = body.pop("name", None) if legacy_name else None
    chosen = model or name
    if not isinstance(chosen, str) or not chosen.strip():
        raise InvalidRequestError("model is required", fields=["model"])
    return chosen


def _take_stream(body: dict[str, Any]) -> bool:
    stream = body.pop("stream", None)
    if stream is None:
        return True  # Ollama streams unless told not to
    if not isinstance(stream, bool):
        raise InvalidRequestError(
            f"stream: expected true or false, got {stream!r}", fields=["stream"]
        )
    return stream


def _drop_zero_values(body: dict[str, Any]) -> None:
    for key, zeros in _ZERO_VALUES.items():
        if key not in body:
            continue
        value = body.pop(key)
        if not any(
            value is zero or (value == zero and type(value) is type(zero)) for zero in zeros
        ):
            raise UnsupportedFeatureError(key, _SERVER)


def _normalize_messages(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for message in messages:
        if isinstance(message, dict) and isinstance(message.get("role"), str):
            message["role"] = message["role"].lower()


def chat_request(body: dict[str, Any]) -> OllamaCall[ChatRequest]:
    """An ``/api/chat`` body."""
    body = dict(body)
    model = _take_model(body)
    stream = _take_stream(body)
    _drop_zero_values(body)
    if body.get("format") == "":
        del body["format"]
    if body.get("tools") == []:
        del body["tools"]
    _normalize_messages(body)
    return OllamaCall(model, stream, validate(ChatRequest, body))


def generate_request(body: dict[str, Any]) -> OllamaCall[GenerateRequest]:
    """An ``/api/generate`` body."""
    body = dict(body)
    model = _take_model(body)
    stream = _take_stream(body)
    _drop_zero_values(body)
    for key in _EMPTY_MEANS_UNSET:
        if body.get(key) == "":
            del body[key]
    if body.get("images") == []:
        del body["images"]
    if body.get("raw") and any(body.get(key) for key in ("template", "system", "context")):
        raise InvalidRequestError(
            "raw mode does not support template, system, or context", fields=["raw"]
        )
    return OllamaCall(model, stream, validate(GenerateRequest, body))


#: A token id is a C ``int32`` in llama.cpp (and in Ollama's Go server).
_MAX_TOKEN_ID = 2**31 - 1


def check_context(context: list[int] | None, vocab_size: int | None) -> None:
    """Refuse a ``context`` with a token id the model cannot have: negative, or not below
    ``vocab_size`` (when the model's vocabulary is unknown, past an ``int32``)."""
    if not context:
        return
    ceiling = vocab_size if vocab_size is not None else _MAX_TOKEN_ID + 1
    for index, token in enumerate(context):
        if not 0 <= token < ceiling:
            where = (
                f"the model's vocabulary of {vocab_size} tokens (ids 0 to {vocab_size - 1})"
                if vocab_size is not None
                else f"the token ids 0 to {_MAX_TOKEN_ID}"
            )
            raise InvalidRequestError(
                f"context: token id {token} at index {index} is outside {where}; send back the "
                "context a previous answer gave",
                fields=["context"],
            )


def embed_request(body: dict[str, Any]) -> OllamaCall[EmbedRequest]:
    """An ``/api/embed`` body; ``input`` may be empty (the answer is then no vectors)."""
    body = dict(body)
    model = _take_model(body)
    body.pop("stream", None)
    if body.get("dimensions") == 0:
        del body["dimensions"]
    raw_input = body.get("input", "")
    if isinstance(raw_input, list) and not all(isinstance(item, str) for item in raw_input):
        raise InvalidRequestError("invalid input type", fields=["input"])
    if not isinstance(raw_input, str | list):
        raise InvalidRequestError("invalid input type", fields=["input"])
    body["input"] = raw_input
    return OllamaCall(model, False, validate(EmbedRequest, body))


def embeddings_request(body: dict[str, Any]) -> OllamaCall[EmbedRequest]:
    """The legacy ``/api/embeddings`` body (``prompt``, one vector back)."""
    body = dict(body)
    model = _take_model(body)
    prompt = body.pop("prompt", "")
    if not isinstance(prompt, str):
        raise InvalidRequestError("prompt: expected a string", fields=["prompt"])
    unknown = sorted(set(body) - {"options", "keep_alive"})
    if unknown:
        raise InvalidRequestError(f"{unknown[0]}: unknown field", fields=unknown)
    return OllamaCall(model, False, validate(EmbedRequest, {**body, "input": prompt}))


def pull_request(body: dict[str, Any]) -> tuple[str, bool]:
    """An ``/api/pull`` body: the model's name, and whether to stream progress."""
    body = dict(body)
    model = _take_model(body, legacy_name=True)
    stream = _take_stream(body)
    for ignored in ("insecure", "username", "password"):  # deprecated and ignored by Ollama too
        body.pop(ignored, None)
    if body:
        raise InvalidRequestError(f"{sorted(body)[0]}: unknown field", fields=sorted(body))
    return model, stream


def _counts(done: Done) -> dict[str, Any]:
    return done.usage.model_dump(exclude_none=True)


class OllamaChunks:
    """Turns one stream's events into Ollama's NDJSON objects (``chat`` or ``generate``)."""

    def __init__(self, model: str, kind: str) -> None:
        self.model = model
        self.kind = kind
        self.done = False

    def _head(self, created_at: str | None = None) -> dict[str, Any]:
        return {"model": self.model, "created_at": created_at or now_rfc3339()}

    def chunk(self, event: StreamEvent) -> dict[str, Any]:
        """The NDJSON object for one event."""
        if isinstance(event, Done):
            self.done = True
            return self._final(event)
        part: dict[str, Any] = {}
        logprobs = None
        if isinstance(event, TextDelta):
            part["text"] = event.text
            logprobs = event.logprobs
        elif isinstance(event, ThinkingDelta):
            part["thinking"] = event.text
        elif isinstance(event, ToolCallEvent):
            part["tool_calls"] = [event.call.model_dump(exclude_none=True)]
        chunk = {**self._head(), **self._payload(part), "done": False}
        if logprobs is not None:
            chunk["logprobs"] = _logprobs_body(logprobs)
        return chunk

    def _payload(self, part: dict[str, Any]) -> dict[str, Any]:
        text = part.pop("text", "")
        if self.kind == "chat":
            return {"message": {"role": "assistant", "content": text, **part}}
        return {"response": text, **part}

    def _final(self, done: Done) -> dict[str, Any]:
        body = {**self._head(done.created_at), **self._payload({}), "done": True}
        body["done_reason"] = done.done_reason
        if self.kind == "generate" and done.context is not None:
            body["context"] = done.context
        body.update(_counts(done))
        return body


def chat_body(response: ChatResponse, model: str) -> dict[str, Any]:
    """A whole ``/api/chat`` answer (``stream: false``)."""
    message = response.message.model_dump(exclude_none=True)
    body: dict[str, Any] = {
        "model": model,
        "created_at": response.created_at or now_rfc3339(),
        "message": message,
        "done": True,
        "done_reason": response.done_reason or "stop",
    }
    body.update(response.usage.model_dump(exclude_none=True))
    if response.logprobs is not None:
        body["logprobs"] = _logprobs_body(response.logprobs)
    return body


def _logprobs_body(logprobs: list[TokenLogprob]) -> list[dict[str, Any]]:
    """Ollama's ``logprobs``: token, logprob, bytes and ``top_logprobs`` per token."""
    return [entry.model_dump(exclude_none=True) for entry in logprobs]


def generate_body(response: GenerateResponse, model: str) -> dict[str, Any]:
    """A whole ``/api/generate`` answer (``stream: false``)."""
    body: dict[str, Any] = {
        "model": model,
        "created_at": response.created_at or now_rfc3339(),
        "response": response.response,
    }
    if response.thinking:
        body["thinking"] = response.thinking
    body.update({"done": True, "done_reason": response.done_reason or "stop"})
    if response.context is not None:
        body["context"] = response.context
    body.update(response.usage.model_dump(exclude_none=True))
    if response.logprobs is not None:
        body["logprobs"] = _logprobs_body(response.logprobs)
    return body


def load_body(model: str, kind: str, *, unload: bool) -> dict[str, Any]:
    """The answer to a request with nothing to generate: Ollama's load (or unload) reply."""
    payload: dict[str, Any] = (
        {"message": {"role": "assistant", "content": ""}} if kind == "chat" else {"response": ""}
    )
    return {
        "model": model,
        "created_at": now_rfc3339(),
        **payload,
        "done": True,
        "done_reason": "unload" if unload else "load",
    }


def embed_body(response: EmbedResponse, model: str) -> dict[str, Any]:
    """An ``/api/embed`` answer."""
    body = response.model_dump(exclude_none=True)
    body["model"] = model
    return body


def _listed(model: ServedModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "model": model.name,
        "modified_at": model.modified_at,
        "size": model.size,
        "digest": model.digest,
        "details": model_details(model),
    }


def tags_body(models: Iterable[ServedModel]) -> dict[str, Any]:
    """``/api/tags``: the models this server offers."""
    return {"models": [_listed(model) for model in models]}


_FOREVER = "2318-08-14T00:00:00Z"


def _expires_at(until: float | None) -> str:
    if until is None:
        return _FOREVER
    try:
        return datetime.fromtimestamp(until, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):  # past what a timestamp can show
        return _FOREVER


def ps_body(running: Iterable[tuple[ServedModel, float | None]]) -> dict[str, Any]:
    """``/api/ps``: the models in use, with when they expire (far future for "forever")."""
    models = []
    for model, until in running:
        entry = _listed(model)
        del entry["modified_at"]
        models.append({**entry, "expires_at": _expires_at(until), "size_vram": 0})
    return {"models": models}
