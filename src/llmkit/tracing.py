"""OpenTelemetry traces and metrics for llmkit (the ``otel`` extra).

>>> import llmkit.tracing
>>> llmkit.tracing.instrument()          # the global tracer and meter providers  # doctest: +SKIP

From then on every model call of a :class:`~llmkit.Client` or
:class:`~llmkit.AsyncClient` (any backend: in-process, Ollama, OpenAI-compatible, mock) is a
span following OpenTelemetry's GenAI semantic conventions: named ``chat MODEL``,
``text_completion MODEL`` or ``embeddings MODEL``, with ``gen_ai.operation.name``,
``gen_ai.provider.name`` (the backend's name), ``gen_ai.request.model``, the request's
sampling options (``gen_ai.request.temperature``, ``top_p``, ``top_k``, ``max_tokens``,
``seed``, ``stop_sequences``, ``frequency_penalty``, ``presence_penalty``),
``gen_ai.response.model``, ``gen_ai.response.finish_reasons``,
``gen_ai.usage.input_tokens`` / ``output_tokens`` and, for streams,
``gen_ai.response.time_to_first_chunk`` (seconds).  A failure sets the span's status to
error and ``error.type``.  Each tool the agent loop runs is an ``execute_tool NAME`` span
(``gen_ai.tool.name``, ``gen_ai.tool.call.id``); each line of ``llmkit batch`` a
``batch_line N`` span around its calls; ``llmkit serve`` makes a server span per HTTP
request (``http.request.method``, ``url.path``, ``http.response.status_code``).

Metrics: ``gen_ai.client.token.usage`` (tokens, by ``gen_ai.token.type`` input or output),
``gen_ai.client.operation.duration`` and ``gen_ai.client.operation.time_to_first_chunk``
(seconds), with the operation, provider and model as attributes.

Message contents are recorded only with ``capture_content=True``
(``gen_ai.input.messages`` and ``gen_ai.output.messages``, JSON, and the tools' arguments
and results).  Without :func:`instrument` nothing is recorded, and OpenTelemetry is not
even imported; :func:`uninstrument` stops it again.
"""

from __future__ import annotations

import json
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from llmkit import _observe
from llmkit.types.events import Done, StreamEvent, TextDelta, ThinkingDelta, ToolCallEvent
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest

__all__ = ["instrument", "is_instrumented", "uninstrument"]

_SCOPE = "llmkit"
#: llmkit option -> GenAI request attribute.
_OPTION_ATTRIBUTES = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "num_predict": "gen_ai.request.max_tokens",
    "seed": "gen_ai.request.seed",
    "stop": "gen_ai.request.stop_sequences",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
}
_OPERATIONS: dict[type, str] = {
    ChatRequest: "chat",
    GenerateRequest: "text_completion",
    EmbedRequest: "embeddings",
}


def instrument(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    capture_content: bool = False,
) -> None:
    """Report llmkit's operations to OpenTelemetry (the global providers by default)."""
    _observe.set_observer(_Observer(tracer_provider, meter_provider, capture_content))


def uninstrument() -> None:
    """Stop reporting."""
    _observe.set_observer(None)


def is_instrumented() -> bool:
    """Whether :func:`instrument` is in effect."""
    return isinstance(_observe.observer(), _Observer)


class _Observer:
    def __init__(
        self,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        capture_content: bool,
    ) -> None:
        from llmkit import __version__

        self.tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider=meter_provider)
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Tokens used per call"
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="Duration of a call"
        )
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time from the request to the first chunk of a stream",
        )
        self.capture_content = capture_content

    def operation(self, name: str, request: Any, provider: str) -> _Operation:
        operation = _OPERATIONS.get(type(request), name)
        model = getattr(request, "model", None) or ""
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
        }
        options = getattr(request, "options", None)
        for option, value in (options.given() if options is not None else {}).items():
            key = _OPTION_ATTRIBUTES.get(option)
            if key is not None:
                attributes[key] = list(value) if isinstance(value, list) else value
        if self.capture_content:
            attributes["gen_ai.input.messages"] = _input_messages(request)
        span = self.tracer.start_span(
            f"{operation} {model}".strip(), kind=SpanKind.CLIENT, attributes=attributes
        )
        return _Operation(self, span, operation, provider, model)

    def tool(self, name: str, call_id: str | None, arguments: Any) -> _Operation:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "function",
        }
        if call_id:
            attributes["gen_ai.tool.call.id"] = call_id
        if self.capture_content:
            attributes["gen_ai.tool.call.arguments"] = _json(arguments)
        span = self.tracer.start_span(
            f"execute_tool {name}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        return _Operation(self, span, "execute_tool", "", name, metered=False)

    def batch_line(self, line: int, custom_id: str | None) -> _Operation:
        attributes: dict[str, Any] = {"llmkit.batch.line": line}
        if custom_id is not None:
            attributes["llmkit.batch.custom_id"] = custom_id
        span = self.tracer.start_span(
            f"batch_line {line}", kind=SpanKind.INTERNAL, attributes=attributes
        )
        # The line's calls (and their retries) are its children.
        return _Operation(self, span, "batch_line", "", "", metered=False, current=True)

    def server(self, method: str, path: str) -> _ServerRequest:
        span = self.tracer.start_span(
            f"{method} {path}",
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        )
        return _ServerRequest(span)


class _ServerRequest:
    """The server span of one HTTP request; its result is the response's status."""

    def __init__(self, span: Span) -> None:
        self.span = span
        self.ended = False
        self.token = otel_context.attach(trace.set_span_in_context(span))

    def event(self, event: StreamEvent) -> None:
        pass

    def result(self, value: Any) -> None:
        if isinstance(value, int):
            self.span.set_attribute("http.response.status_code", value)
            if value >= 500:
                self.span.set_status(Status(StatusCode.ERROR))
                self.span.set_attribute("error.type", str(value))

    def fail(self, error: BaseException) -> None:
        self.span.set_status(Status(StatusCode.ERROR, str(error)[:500]))
        self.span.set_attribute("error.type", type(error).__qualname__)

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            otel_context.detach(self.token)
            self.span.end()


class _Operation:
    """One span, with the time to its first chunk, the usage and the finish reasons."""

    def __init__(
        self,
        observer: _Observer,
        span: Span,
        operation: str,
        provider: str,
        model: str,
        *,
        metered: bool = True,
        current: bool = False,
    ) -> None:
        self.observer = observer
        self.span = span
        self.token = otel_context.attach(trace.set_span_in_context(span)) if current else None
        self.started = time.perf_counter()
        self.first: float | None = None
        self.ended = False
        self.metered = metered
        self.text: list[str] = []
        self.calls: list[dict[str, Any]] = []
        self.attributes = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
        }

    def event(self, event: StreamEvent) -> None:
        if self.first is None and isinstance(event, TextDelta | ThinkingDelta | ToolCallEvent):
            self.first = time.perf_counter() - self.started
            self.span.set_attribute("gen_ai.response.time_to_first_chunk", self.first)
            if self.metered:
                self.observer.first_chunk.record(self.first, self.attributes)
        if isinstance(event, TextDelta) and self.observer.capture_content:
            self.text.append(event.text)
        elif isinstance(event, ToolCallEvent) and self.observer.capture_content:
            call = event.call
            self.calls.append(
                {"type": "tool_call", "id": call.id, "name": call.function.name,
                 "arguments": call.function.arguments}
            )  # fmt: skip
        elif isinstance(event, Done):
            self._usage(event.usage.prompt_eval_count if event.usage else None,
                        event.usage.eval_count if event.usage else None)  # fmt: skip
            if event.done_reason:
                self.span.set_attribute("gen_ai.response.finish_reasons", [event.done_reason])
            if event.model:
                self.span.set_attribute("gen_ai.response.model", event.model)
            if self.observer.capture_content:
                parts: list[dict[str, Any]] = [{"type": "text", "content": "".join(self.text)}]
                message = {"role": "assistant", "parts": parts + self.calls}
                self.span.set_attribute("gen_ai.output.messages", _json([message]))

    def _usage(self, input_tokens: int | None, output_tokens: int | None) -> None:
        for kind, count in (("input", input_tokens), ("output", output_tokens)):
            if count is None:
                continue
            self.span.set_attribute(f"gen_ai.usage.{kind}_tokens", count)
            if self.metered:
                self.observer.tokens.record(count, {**self.attributes, "gen_ai.token.type": kind})

    def result(self, value: Any) -> None:
        prompt = getattr(value, "prompt_eval_count", None)
        if prompt is not None:
            self._usage(prompt, None)
        model = getattr(value, "model", None)
        if isinstance(model, str) and model:
            self.span.set_attribute("gen_ai.response.model", model)
        if self.observer.capture_content and not self.metered:
            self.span.set_attribute("gen_ai.tool.call.result", _json(value))

    def fail(self, error: BaseException) -> None:
        self.span.set_status(Status(StatusCode.ERROR, str(error)[:500]))
        self.span.set_attribute("error.type", type(error).__qualname__)
        self.attributes["error.type"] = type(error).__qualname__

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        if self.token is not None:
            otel_context.detach(self.token)
        if self.metered:
            self.observer.duration.record(time.perf_counter() - self.started, self.attributes)
        self.span.end()


def _json(value: Any) -> str:
    try:
        return json.dumps(value, default=str, ensure_ascii=False)[:65536]
    except (TypeError, ValueError):
        return repr(value)[:65536]


def _input_messages(request: Any) -> str:
    messages: list[dict[str, Any]]
    if isinstance(request, ChatRequest):
        messages = [
            {"role": m.role, "parts": [{"type": "text", "content": m.content or ""}]}
            for m in request.messages
        ]
    elif isinstance(request, GenerateRequest):
        messages = [{"role": "user", "parts": [{"type": "text", "content": request.prompt}]}]
        if request.system:
            system = {"role": "system", "parts": [{"type": "text", "content": request.system}]}
            messages.insert(0, system)
    else:
        inputs = request.input if isinstance(request.input, list) else [request.input]
        messages = [{"role": "user", "parts": [{"type": "text", "content": t}]} for t in inputs]
    return _json(messages)
