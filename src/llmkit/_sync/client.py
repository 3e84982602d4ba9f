# Generated from src/llmkit/_async/client.py by .ci/unasync.py; do not edit.
"""``Client``: argument handling, backend choice, streams (see :mod:`llmkit.client`)."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal, Self, overload

from llmkit._sync.observe import observed
from llmkit._format import FormatLike, check_response, request_format
from llmkit._observe import observer, observing
from llmkit._request import MessageLike, OptionsLike, RequestBuilder, ToolLike
from llmkit.backends import BackendSpec, resolve_backend
from llmkit.backends.base import Backend
from llmkit.stream import Stream
from llmkit.streaming.accumulator import ChatAccumulator, GenerateAccumulator
from llmkit.tools.stream import mark_unknown_calls
from llmkit.types.requests import ThinkLevel, ToolChoice
from llmkit.types.responses import ChatResponse, EmbedResponse, GenerateResponse

__all__ = ["Client"]


class Client:
    """A client: one model call per method (the async one under asyncio and trio alike).

    ``backend`` is a backend instance or a backend string (see
    :mod:`llmkit.backends`); ``None`` means the in-process llama.cpp backend
    with the default model, fetched into the local store on first use.
    In the async client a synchronous (in-process) backend runs in worker
    threads, one native call at a time, so the event loop is never blocked.
    ``model`` and ``options`` are defaults for every call; per-call options
    override them field by field.  Other keyword arguments go to the backend.
    """

    def __init__(
        self,
        backend: BackendSpec = None,
        *,
        model: str | None = None,
        options: OptionsLike | None = None,
        **backend_kwargs: Any,
    ) -> None:
        self._builder = RequestBuilder(model, options)
        self.backend: Backend = resolve_backend(backend, **backend_kwargs)

    @overload
    def chat(
        self,
        messages: Sequence[MessageLike] | None = ...,
        *,
        model: str | None = ...,
        tools: Sequence[ToolLike] | None = ...,
        options: OptionsLike | None = ...,
        format: FormatLike | None = ...,
        think: bool | ThinkLevel | None = ...,
        keep_alive: str | float | None = ...,
        truncate: bool | None = ...,
        tool_choice: ToolChoice | None = ...,
        logprobs: bool | None = ...,
        top_logprobs: int | None = ...,
        stream: Literal[False] = ...,
    ) -> ChatResponse: ...

    @overload
    def chat(
        self,
        messages: Sequence[MessageLike] | None = ...,
        *,
        model: str | None = ...,
        tools: Sequence[ToolLike] | None = ...,
        options: OptionsLike | None = ...,
        format: FormatLike | None = ...,
        think: bool | ThinkLevel | None = ...,
        keep_alive: str | float | None = ...,
        truncate: bool | None = ...,
        tool_choice: ToolChoice | None = ...,
        logprobs: bool | None = ...,
        top_logprobs: int | None = ...,
        stream: Literal[True],
    ) -> Stream[ChatResponse]: ...

    def chat(
        self,
        messages: Sequence[MessageLike] | None = None,
        *,
        model: str | None = None,
        tools: Sequence[ToolLike] | None = None,
        options: OptionsLike | None = None,
        format: FormatLike | None = None,
        think: bool | ThinkLevel | None = None,
        keep_alive: str | float | None = None,
        truncate: bool | None = None,
        tool_choice: ToolChoice | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream: bool = False,
    ) -> ChatResponse | Stream[ChatResponse]:
        """Send messages (models or Ollama-shaped dicts); get the reply or a stream.

        ``truncate=False`` refuses a conversation longer than the context window
        (:class:`~llmkit.errors.ContextWindowError`) instead of dropping its oldest
        turns; by default they are dropped and listed in ``dropped_messages``.
        ``format`` (``"json"``, a JSON schema or a pydantic model class) asks for
        structured output; the reply is validated and ``response.parsed`` holds it.
        ``tool_choice`` is ``"auto"``, ``"none"``, ``"required"`` or a tool's name.
        ``logprobs=True`` (and ``top_logprobs=N``) asks for each token's log probability
        (``response.logprobs``, and on each ``TextDelta`` of a stream).
        """
        request = self._builder.chat(
            messages,
            model=model,
            tools=tools,
            options=options,
            format=request_format(format),
            think=think,
            keep_alive=keep_alive,
            truncate=truncate,
            tool_choice=tool_choice,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            stream=stream or None,
        )
        chunks = self.backend.chat(request)
        if request.tools:
            offered = {tool.function.name for tool in request.tools}
            chunks = mark_unknown_calls(chunks, offered)
        watch = observer()
        if watch is not None:
            chunks = observed(chunks, watch.operation("chat", request, self.backend.name))
        events = Stream[ChatResponse](chunks, ChatAccumulator(request.model))
        if stream:
            return events
        with events:
            return check_response(events.final_response(), format)

    @overload
    def generate(
        self,
        prompt: str = ...,
        *,
        model: str | None = ...,
        options: OptionsLike | None = ...,
        suffix: str | None = ...,
        system: str | None = ...,
        template: str | None = ...,
        raw: bool | None = ...,
        images: Sequence[str] | None = ...,
        format: FormatLike | None = ...,
        think: bool | ThinkLevel | None = ...,
        context: Sequence[int] | None = ...,
        keep_alive: str | float | None = ...,
        logprobs: bool | None = ...,
        top_logprobs: int | None = ...,
        stream: Literal[False] = ...,
    ) -> GenerateResponse: ...

    @overload
    def generate(
        self,
        prompt: str = ...,
        *,
        model: str | None = ...,
        options: OptionsLike | None = ...,
        suffix: str | None = ...,
        system: str | None = ...,
        template: str | None = ...,
        raw: bool | None = ...,
        images: Sequence[str] | None = ...,
        format: FormatLike | None = ...,
        think: bool | ThinkLevel | None = ...,
        context: Sequence[int] | None = ...,
        keep_alive: str | float | None = ...,
        logprobs: bool | None = ...,
        top_logprobs: int | None = ...,
        stream: Literal[True],
    ) -> Stream[GenerateResponse]: ...

    def generate(
        self,
        prompt: str = "",
        *,
        model: str | None = None,
        options: OptionsLike | None = None,
        suffix: str | None = None,
        system: str | None = None,
        template: str | None = None,
        raw: bool | None = None,
        images: Sequence[str] | None = None,
        format: FormatLike | None = None,
        think: bool | ThinkLevel | None = None,
        context: Sequence[int] | None = None,
        keep_alive: str | float | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream: bool = False,
    ) -> GenerateResponse | Stream[GenerateResponse]:
        """Complete a prompt; get the text or a stream."""
        request = self._builder.generate(
            prompt,
            model=model,
            options=options,
            suffix=suffix,
            system=system,
            template=template,
            raw=raw,
            images=images,
            format=request_format(format),
            think=think,
            context=context,
            keep_alive=keep_alive,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            stream=stream or None,
        )
        chunks = self.backend.generate(request)
        watch = observer()
        if watch is not None:
            chunks = observed(
                chunks, watch.operation("text_completion", request, self.backend.name)
            )
        events = Stream[GenerateResponse](chunks, GenerateAccumulator(request.model))
        if stream:
            return events
        with events:
            return check_response(events.final_response(), format)

    def embed(
        self,
        input: str | Sequence[str],
        *,
        model: str | None = None,
        options: OptionsLike | None = None,
        truncate: bool | None = None,
        dimensions: int | None = None,
    ) -> EmbedResponse:
        """One embedding vector per input text."""
        request = self._builder.embed(
            input, model=model, options=options, truncate=truncate, dimensions=dimensions
        )
        watch = observer()
        if watch is None:
            return self.backend.embed(request)
        with observing(watch.operation("embeddings", request, self.backend.name)) as seen:
            response = self.backend.embed(request)
            seen.result(response)
            return response

    def close(self) -> None:
        """Free the backend (an in-process model is unloaded)."""
        self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
