"""``AsyncOllamaBackend``: the Ollama API over HTTP.

Chat, generate and embed through llmkit's clients, plus the model management
endpoints (tags, show, ps, pull, push, create, copy, delete, version).
Request bodies and event decoding live in the pure ``ollama_wire`` module.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx

from llmkit.backends.http import ollama_wire
from llmkit.backends.http._async.resume import resuming
from llmkit.backends.http._async.session import AsyncHTTPSession
from llmkit.backends.http.connection import Timeouts, auth_headers, base_url_from_target
from llmkit.backends.http.deadline import Deadline
from llmkit.backends.http.limits import ResponseLimits
from llmkit.backends.http.resume import PartialOutput
from llmkit.backends.http.retry import RetryPolicy
from llmkit.errors import ConnectionFailedError, RemoteError, StreamDecodeError
from llmkit.streaming.batches import batched
from llmkit.streaming.decoders import NDJSONDecoder
from llmkit.types.events import StreamEvent
from llmkit.types.management import (
    ListResponse,
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
    VersionResponse,
)
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import EmbedResponse

__all__ = ["AsyncOllamaBackend"]

DEFAULT_HOST = "127.0.0.1:11434"
_EMBED_KEYS = frozenset(EmbedResponse.model_fields)


class AsyncOllamaBackend:
    """A remote Ollama server (or anything speaking its API, such as ``llmkit serve``).

    ``host`` is ``host:port`` or a URL (default: ``$OLLAMA_HOST``, else
    ``127.0.0.1:11434``); ``model`` the default model for requests that name
    none.  ``api_key`` (or ``$OLLAMA_API_KEY``) is sent as a bearer token;
    ``headers`` are added to every request.  ``timeout`` is a
    :class:`~llmkit.backends.http.connection.Timeouts` or seconds; ``retry``
    a :class:`~llmkit.backends.http.retry.RetryPolicy`.  ``http_client``
    shares a connection pool.  ``resume_interrupted`` (default 0) allows that
    many continuations of a stream cut off mid-way: the partial answer is sent
    back as an assistant prefill and the stream goes on where it stopped.
    ``limits`` (a :class:`~llmkit.backends.http.limits.ResponseLimits`) bounds
    the bytes read from the server; ``deadline`` (seconds, default none) bounds
    each call as a whole, streaming and resumes included (``Timeouts.total``).
    """

    name = "ollama"

    def __init__(
        self,
        host: str | None = None,
        *,
        model: str | None = None,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: Timeouts | float | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        verify: ssl.SSLContext | str | bool = True,
        resume_interrupted: int = 0,
        limits: ResponseLimits | None = None,
        deadline: float | None = None,
    ) -> None:
        base_url = base_url_from_target(
            host or "", default=os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
        )
        self.model = model
        self.resume_interrupted = resume_interrupted
        self.session = AsyncHTTPSession(
            base_url,
            headers={**auth_headers(api_key, ("OLLAMA_API_KEY",)), **(headers or {})},
            timeout=timeout,
            retry=retry,
            http_client=http_client,
            verify=verify,
            limits=limits,
            deadline=deadline,
        )

    @property
    def base_url(self) -> str:
        """The server's base URL."""
        return self.session.base_url

    # generation -------------------------------------------------------------

    def chat(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream ``/api/chat`` as events (the request is checked now, sent when iterated)."""
        body = ollama_wire.chat_body(request, self.model)
        if not self.resume_interrupted:
            return self._once("/api/chat", body, chat=True)
        return self._resuming("/api/chat", body, chat=True)

    def generate(self, request: GenerateRequest) -> AsyncIterator[StreamEvent]:
        """Stream ``/api/generate`` as events."""
        body = ollama_wire.generate_body(request, self.model)
        if not self.resume_interrupted:
            return self._once("/api/generate", body, chat=False)
        return self._resuming("/api/generate", body, chat=False)

    def _once(
        self, path: str, body: dict[str, Any], *, chat: bool, deadline: Deadline | None = None
    ) -> AsyncIterator[StreamEvent]:
        return batched(self._batches(path, body, chat=chat, deadline=deadline))

    async def _batches(
        self, path: str, body: dict[str, Any], *, chat: bool, deadline: Deadline | None
    ) -> AsyncIterator[list[StreamEvent]]:
        # The events of each network read as one list (see llmkit.streaming.batches).
        reader = ollama_wire.OllamaChunkReader(chat=chat, url=self.base_url + path)
        decoder = NDJSONDecoder()
        pieces = self.session.stream(
            "POST", path, body, framing="ndjson", counted=True, deadline=deadline
        )
        async for piece in pieces:
            chunks = decoder.feed(piece)
            if chunks:
                events = reader.read(chunks)
                if events:
                    yield events
        events = reader.read(decoder.finish())
        if events:
            yield events
        if not reader.done:
            raise ConnectionFailedError(
                f"{self.base_url}{path} ended the stream before its final chunk",
                url=self.base_url + path,
            )

    def _resuming(
        self, path: str, body: dict[str, Any], *, chat: bool
    ) -> AsyncIterator[StreamEvent]:
        return resuming(
            lambda body, deadline: self._once(path, body, chat=chat, deadline=deadline),
            body,
            limit=self.resume_interrupted,
            deadline=self.session.deadline,
            continuation=_continue_chat if chat else _continue_generate,
        )

    async def embed(self, request: EmbedRequest) -> EmbedResponse:
        """``/api/embed``: one vector per input."""
        data = await self.session.request(
            "POST", "/api/embed", ollama_wire.embed_body(request, self.model)
        )
        return EmbedResponse.model_validate(
            {key: value for key, value in _object(data, "/api/embed").items() if key in _EMBED_KEYS}
        )

    # model management -------------------------------------------------------

    async def list_models(self) -> ListResponse:
        """``/api/tags``: the models the server has."""
        return ListResponse.model_validate(
            _object(await self.session.request("GET", "/api/tags", management=True), "/api/tags")
        )

    async def show(self, model: str, *, verbose: bool = False) -> ShowResponse:
        """``/api/show``: a model's template, parameters and facts."""
        body: dict[str, Any] = {"model": model}
        if verbose:
            body["verbose"] = True
        return ShowResponse.model_validate(
            _object(
                await self.session.request("POST", "/api/show", body, management=True), "/api/show"
            )
        )

    async def ps(self) -> ProcessResponse:
        """``/api/ps``: the models loaded in memory now."""
        return ProcessResponse.model_validate(
            _object(await self.session.request("GET", "/api/ps", management=True), "/api/ps")
        )

    async def version(self) -> VersionResponse:
        """``/api/version``: the server's version."""
        return VersionResponse.model_validate(
            _object(
                await self.session.request("GET", "/api/version", management=True), "/api/version"
            )
        )

    def pull(self, model: str, *, insecure: bool = False) -> AsyncIterator[ProgressResponse]:
        """``/api/pull``: download a model, yielding the server's progress lines."""
        return self._progress("/api/pull", {"model": model, "insecure": insecure, "stream": True})

    def push(self, model: str, *, insecure: bool = False) -> AsyncIterator[ProgressResponse]:
        """``/api/push``: upload a model, yielding progress lines."""
        return self._progress("/api/push", {"model": model, "insecure": insecure, "stream": True})

    def create(
        self,
        model: str,
        *,
        from_: str | None = None,
        files: Mapping[str, str] | None = None,
        adapters: Mapping[str, str] | None = None,
        template: str | None = None,
        license: str | Sequence[str] | None = None,
        system: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        quantize: str | None = None,
    ) -> AsyncIterator[ProgressResponse]:
        """``/api/create``: make a model from another one or from uploaded blobs."""
        body: dict[str, Any] = {"model": model, "stream": True}
        fields: dict[str, Any] = {
            "from": from_,
            "files": dict(files) if files else None,
            "adapters": dict(adapters) if adapters else None,
            "template": template,
            "license": license if isinstance(license, str) or license is None else list(license),
            "system": system,
            "parameters": dict(parameters) if parameters else None,
            "messages": [dict(m) for m in messages] if messages else None,
            "quantize": quantize,
        }
        body.update({key: value for key, value in fields.items() if value is not None})
        return self._progress("/api/create", body)

    async def copy(self, source: str, destination: str) -> None:
        """``/api/copy``: the same model under another name."""
        await self.session.request(
            "POST", "/api/copy", {"source": source, "destination": destination}, management=True
        )

    async def delete(self, model: str) -> None:
        """``/api/delete``: remove a model from the server."""
        await self.session.request("DELETE", "/api/delete", {"model": model}, management=True)

    async def _progress(self, path: str, body: dict[str, Any]) -> AsyncIterator[ProgressResponse]:
        decoder = NDJSONDecoder()
        url = self.base_url + path
        async for piece in self.session.stream("POST", path, body, framing="ndjson"):
            for line in decoder.feed(piece):
                yield _progress_line(line, url)
        for line in decoder.finish():
            yield _progress_line(line, url)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.session.aclose()


def _continue_chat(body: dict[str, Any], partial: PartialOutput) -> dict[str, Any] | None:
    return ollama_wire.continue_chat_body(body, partial.text, partial.thinking)


def _continue_generate(body: dict[str, Any], partial: PartialOutput) -> dict[str, Any] | None:
    return ollama_wire.continue_generate_body(body, partial.text)


def _object(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise StreamDecodeError(f"expected a JSON object from {what}", line=1, data=repr(data))
    return data


def _progress_line(line: Any, url: str) -> ProgressResponse:
    data = _object(line, url)
    if "error" in data:
        raise RemoteError(f"{url} reported: {data['error']}", url=url)
    return ProgressResponse.model_validate(data)
