# Generated from src/llmkit/backends/http/_async/openai.py by .ci/unasync.py; do not edit.
"""``OpenAIBackend``: OpenAI-compatible servers over HTTP.

Chat (``/v1/chat/completions``), generate (``/v1/completions``), embed
(``/v1/embeddings``) and ``/v1/models``.  Bodies, the option table and the
chunk reader live in the pure ``openai_wire`` and ``openai_dialects`` modules.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from llmkit.backends.http import openai_wire
from llmkit.backends.http._sync.resume import resuming
from llmkit.backends.http._sync.session import HTTPSession
from llmkit.backends.http.connection import Timeouts, auth_headers, base_url_from_target
from llmkit.backends.http.deadline import Deadline
from llmkit.backends.http.limits import ResponseLimits
from llmkit.backends.http.openai_dialects import dialect
from llmkit.backends.http.responses_wire import ResponsesReader, responses_body
from llmkit.backends.http.resume import PartialOutput
from llmkit.backends.http.retry import RetryPolicy
from llmkit.errors import InvalidRequestError, StreamDecodeError
from llmkit.streaming.batches import batched
from llmkit.types.events import StreamEvent
from llmkit.types.management import ListResponse, ModelEntry
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import EmbedResponse

__all__ = ["OpenAIBackend"]

DEFAULT_BASE_URL = "127.0.0.1:8000/v1"
API_KEY_VARIABLES = ("OPENAI_API_KEY",)


class OpenAIBackend:
    """An OpenAI-compatible server: llama.cpp's server, vLLM, llama-cpp-python's, OpenAI.

    ``base_url`` is ``host:port/v1`` or a URL (default ``127.0.0.1:8000/v1``;
    ``/v1`` is added when only a host is given).  ``dialect`` names the server
    family, which decides the extra sampling fields an option may map to
    (``generic``, ``openai``, ``llama.cpp``, ``llama-cpp-python``, ``vllm``;
    see the options table in the docs): an option the dialect cannot take is
    rejected before sending.  ``api_key`` (or ``$OPENAI_API_KEY``) is sent as a
    bearer token.  ``timeout``, ``retry``, ``http_client``, ``limits``, ``deadline``
    and ``resume_interrupted`` work as for the Ollama backend; resuming a chat
    needs a dialect whose server continues an assistant prefill
    (``llama.cpp``, ``vllm``); a completion can always be resumed.  ``api="responses"``
    sends chats to OpenAI's Responses API (``/v1/responses``: OpenAI, ``llmkit serve``)
    instead of ``/v1/chat/completions`` (see :mod:`llmkit.backends.http.responses_wire`).
    """

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        model: str | None = None,
        dialect: str = "generic",
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeouts | float | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        verify: ssl.SSLContext | str | bool = True,
        resume_interrupted: int = 0,
        limits: ResponseLimits | None = None,
        deadline: float | None = None,
        api: str = "chat",
    ) -> None:
        if api not in ("chat", "responses"):
            raise InvalidRequestError(
                f"api: {api!r} is not 'chat' (/v1/chat/completions) or 'responses' (/v1/responses)",
                fields=["api"],
            )
        self.api = api
        self.dialect = _checked_dialect(dialect)
        self.model = model
        self.resume_interrupted = resume_interrupted
        self.session = HTTPSession(
            base_url_from_target(base_url or "", default=DEFAULT_BASE_URL, path="/v1"),
            headers={**auth_headers(api_key, API_KEY_VARIABLES), **(headers or {})},
            timeout=timeout,
            retry=retry,
            http_client=http_client,
            verify=verify,
            limits=limits,
            deadline=deadline,
        )

    @property
    def base_url(self) -> str:
        """The server's base URL (ending in ``/v1`` for most servers)."""
        return self.session.base_url

    def chat(self, request: ChatRequest) -> Iterator[StreamEvent]:
        """``/v1/chat/completions`` (or ``/v1/responses``) as events (the request is checked
        now, sent when iterated)."""
        if self.api == "responses":
            body = responses_body(request, self.model)
            if body.get("stream"):
                return batched(self._responses_stream(body))
            return self._responses_whole(body)
        body = openai_wire.chat_body(request, self.model, self.dialect)
        return self._events("/chat/completions", body, chat=True)

    def _responses_whole(self, body: dict[str, Any]) -> Iterator[StreamEvent]:
        reader = ResponsesReader(url=self.base_url + "/responses")
        for event in reader.whole(self.session.request("POST", "/responses", body)):
            yield event

    def _responses_stream(self, body: dict[str, Any]) -> Iterator[list[StreamEvent]]:
        reader = ResponsesReader(url=self.base_url + "/responses")
        pieces = self.session.stream("POST", "/responses", body, framing="sse", counted=True)
        for piece in pieces:
            events = reader.feed(piece)
            if events:
                yield events
            if reader.done:
                return
        events = reader.finish()
        if events:
            yield events

    def generate(self, request: GenerateRequest) -> Iterator[StreamEvent]:
        """``/v1/completions`` as events (the prompt is sent as is)."""
        body = openai_wire.completion_body(request, self.model, self.dialect)
        return self._events("/completions", body, chat=False)

    def _events(self, path: str, body: dict[str, Any], *, chat: bool) -> Iterator[StreamEvent]:
        if not body.get("stream"):
            return self._whole(path, body, chat=chat)
        if not self.resume_interrupted:
            return self._stream(path, body, chat=chat)
        return self._resuming(path, body, chat=chat)

    def _whole(
        self, path: str, body: dict[str, Any], *, chat: bool
    ) -> Iterator[StreamEvent]:
        reader = openai_wire.OpenAIChunkReader(chat=chat, url=self.base_url + path)
        for event in reader.events(self.session.request("POST", path, body)):
            yield event
        for event in reader.finish():
            yield event

    def _resuming(
        self, path: str, body: dict[str, Any], *, chat: bool
    ) -> Iterator[StreamEvent]:
        return resuming(
            lambda body, deadline: self._stream(path, body, chat=chat, deadline=deadline),
            body,
            limit=self.resume_interrupted,
            deadline=self.session.deadline,
            continuation=self._continue_chat if chat else _continue_completion,
        )

    def _continue_chat(self, body: dict[str, Any], partial: PartialOutput) -> dict[str, Any] | None:
        return openai_wire.continue_chat_body(body, partial.text, partial.thinking, self.dialect)

    def _stream(
        self, path: str, body: dict[str, Any], *, chat: bool, deadline: Deadline | None = None
    ) -> Iterator[StreamEvent]:
        return batched(self._stream_batches(path, body, chat=chat, deadline=deadline))

    def _stream_batches(
        self, path: str, body: dict[str, Any], *, chat: bool, deadline: Deadline | None
    ) -> Iterator[list[StreamEvent]]:
        # The events of each network read as one list (see llmkit.streaming.batches).
        stream = openai_wire.OpenAIStreamReader(chat=chat, url=self.base_url + path)
        pieces = self.session.stream(
            "POST", path, body, framing="sse", counted=True, deadline=deadline
        )
        for piece in pieces:
            events = stream.feed(piece)
            if events:
                yield events
            if stream.done:
                return
        events = stream.finish()
        if events:
            yield events

    def embed(self, request: EmbedRequest) -> EmbedResponse:
        """``/v1/embeddings``: one vector per input."""
        body = openai_wire.embed_body(request, self.model, self.dialect)
        data = self.session.request("POST", "/embeddings", body)
        return openai_wire.embed_response(data, self.base_url + "/embeddings")

    def list_models(self) -> ListResponse:
        """``/v1/models``, as the same :class:`ListResponse` the Ollama backend returns."""
        data = self.session.request("GET", "/models", management=True)
        try:
            entries = [ModelEntry(name=item["id"], model=item["id"]) for item in data["data"]]
        except (KeyError, TypeError) as exc:
            raise StreamDecodeError(
                f"{self.base_url}/models answered with an unexpected shape: {exc!r}",
                line=1,
                data=repr(data),
            ) from exc
        return ListResponse(models=entries)

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()


def _continue_completion(body: dict[str, Any], partial: PartialOutput) -> dict[str, Any] | None:
    return openai_wire.continue_completion_body(body, partial.text)


def _checked_dialect(name: str) -> str:
    return dialect(name).name
