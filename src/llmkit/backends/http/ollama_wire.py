"""The Ollama API's wire format (pure: dicts in, dicts and events out).

llmkit's request types are Ollama's bodies, so a request goes out as its own
JSON; what comes back (NDJSON chunks, or one object when not streaming) is
turned into the event vocabulary by :class:`OllamaChunkReader`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from llmkit.errors import (
    InvalidRequestError,
    RemoteGenerationError,
    StreamDecodeError,
    UnsupportedFeatureError,
)
from llmkit.types.events import (
    Done,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallEvent,
    text_delta,
)
from llmkit.types.messages import ToolCall
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import TokenLogprob, Usage

__all__ = [
    "OllamaChunkReader",
    "chat_body",
    "continue_chat_body",
    "continue_generate_body",
    "embed_body",
    "generate_body",
]

_COUNT_KEYS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


def _body(
    request: ChatRequest | GenerateRequest | EmbedRequest, model: str | None, stream: bool | None
) -> dict[str, Any]:
    body = request.model_dump(mode="json", exclude_none=True)
    chosen = request.model or model
    if not chosen:
        raise InvalidRequestError(
            "model: the Ollama backend needs a model name (pass model=... to the call or client)",
            fields=["model"],
        )
    body["model"] = chosen
    if stream is not None:
        body["stream"] = stream  # Ollama streams unless told not to
    return body


def chat_body(request: ChatRequest, model: str | None = None) -> dict[str, Any]:
    """The ``/api/chat`` body for ``request`` (``model``: the backend's default).
    Ollama's API has no ``tool_choice``: only ``"auto"`` (its behaviour) is accepted."""
    if request.tool_choice not in (None, "auto"):
        raise UnsupportedFeatureError(
            "tool_choice", "ollama", "Ollama's API has no tool_choice; the model always chooses"
        )
    body = _body(request, model, bool(request.stream))
    body.pop("tool_choice", None)
    return body


def generate_body(request: GenerateRequest, model: str | None = None) -> dict[str, Any]:
    """The ``/api/generate`` body for ``request``."""
    return _body(request, model, bool(request.stream))


def embed_body(request: EmbedRequest, model: str | None = None) -> dict[str, Any]:
    """The ``/api/embed`` body for ``request``."""
    return _body(request, model, None)


def continue_chat_body(body: dict[str, Any], text: str, thinking: str) -> dict[str, Any]:
    """A body that resumes a cut-off chat: the partial answer goes back as an assistant prefill.

    Ollama continues a conversation whose last message is the assistant's
    rather than starting a new turn.
    """
    prefill: dict[str, Any] = {"role": "assistant", "content": text}
    if thinking:
        prefill["thinking"] = thinking
    return {**body, "messages": [*body.get("messages", []), prefill]}


def continue_generate_body(body: dict[str, Any], text: str) -> dict[str, Any] | None:
    """A body that resumes a cut-off raw generation (prompt + partial), or ``None``.

    Only a ``raw`` prompt can be continued: a templated one would be wrapped
    in the template again.
    """
    if not body.get("raw"):
        return None
    return {**body, "prompt": body.get("prompt", "") + text, "context": None}


class OllamaChunkReader:
    """Events from Ollama's response objects (``/api/chat`` or ``/api/generate``).

    ``text_key`` picks where the text is: ``message.content`` for chat,
    ``response`` for generate.  An ``{"error": ...}`` object raises
    :class:`~llmkit.errors.RemoteGenerationError`; ``url`` goes on the error.
    """

    __slots__ = ("_chat", "chunks", "done", "url")

    def __init__(self, *, chat: bool, url: str | None = None) -> None:
        self._chat = chat
        self.url = url
        self.chunks = 0
        self.done = False

    def read(self, chunks: list[Any]) -> list[StreamEvent]:
        """The events of several response objects, in order (one call per network read)."""
        events: list[StreamEvent] = []
        if not self._chat:
            for chunk in chunks:
                events += self.events(chunk)
            return events
        append = events.append
        for chunk in chunks:
            # The common chunk, inline: a message that is {"role": ..., "content": "..."}.
            try:
                message = chunk["message"]
                content = message["content"]
            except (KeyError, TypeError):
                pass  # not that shape (JSON gives dicts, lists and scalars only)
            else:
                if (
                    type(content) is str
                    and len(message) == 2
                    and "role" in message
                    and not chunk.get("done")
                    and "error" not in chunk
                    and "logprobs" not in chunk
                ):
                    self.chunks += 1
                    if content:
                        append(text_delta(content))
                    continue
            events += self.events(chunk)
        return events

    def events(self, chunk: Any) -> list[StreamEvent]:
        """The events one response object carries, in order (thinking, text, calls, done)."""
        self.chunks += 1
        if type(chunk) is not dict:
            raise StreamDecodeError(
                "expected a JSON object from Ollama", line=self.chunks, data=repr(chunk)
            )
        if "error" in chunk:
            raise RemoteGenerationError(f"the server reported: {chunk['error']}", url=self.url)
        events: list[StreamEvent] = []
        if self._chat:
            message = chunk.get("message")
            if message:
                thinking = message.get("thinking")
                if thinking:
                    events.append(ThinkingDelta(text=thinking))
                content = message.get("content")
                logprobs = self._logprobs(chunk)
                if content or logprobs:
                    events.append(TextDelta(text=content or "", logprobs=logprobs))
                calls = message.get("tool_calls")
                if calls:
                    events.extend(self._calls(calls))
        else:
            thinking = chunk.get("thinking")
            if thinking:
                events.append(ThinkingDelta(text=thinking))
            text = chunk.get("response")
            logprobs = self._logprobs(chunk)
            if text or logprobs:
                events.append(TextDelta(text=text or "", logprobs=logprobs))
        if chunk.get("done"):
            self.done = True
            events.append(done_event(chunk))
        return events

    def _logprobs(self, chunk: dict[str, Any]) -> list[TokenLogprob] | None:
        entries = chunk.get("logprobs")
        if not entries:
            return None
        try:
            return [TokenLogprob.model_validate(entry) for entry in entries]
        except (ValidationError, TypeError) as exc:
            raise StreamDecodeError(
                f"logprobs from Ollama have an unexpected shape: {exc}",
                line=self.chunks,
                data=repr(entries),
            ) from exc

    def _calls(self, calls: Any) -> list[StreamEvent]:
        try:
            return [ToolCallEvent(call=ToolCall.model_validate(call)) for call in calls]
        except (ValidationError, TypeError) as exc:
            raise StreamDecodeError(
                f"a tool call from Ollama has an unexpected shape: {exc}",
                line=self.chunks,
                data=repr(calls),
            ) from exc


def done_event(chunk: dict[str, Any]) -> Done:
    """The :class:`Done` event of a final response object."""
    counts = {key: chunk[key] for key in _COUNT_KEYS if chunk.get(key) is not None}
    return Done(
        done_reason=chunk.get("done_reason") or "stop",
        model=chunk.get("model"),
        created_at=chunk.get("created_at"),
        usage=Usage(**counts),
        context=chunk.get("context"),
    )
