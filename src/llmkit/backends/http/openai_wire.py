"""The OpenAI-compatible wire format (pure: requests to bodies, chunks to events).

Requests: llmkit's (Ollama-shaped) requests become ``/v1/chat/completions``,
``/v1/completions`` and ``/v1/embeddings`` bodies; options go through the
dialect table (:mod:`~llmkit.backends.http.openai_dialects`); a field a
server cannot take is rejected here, before anything is sent.

Responses: :class:`OpenAIChunkReader` turns SSE chunks (or one whole
response) into events, assembling tool calls from their argument deltas;
:class:`OpenAIStreamReader` feeds it a streamed body's bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

import orjson

from llmkit.backends.http.openai_dialects import Dialect, dialect, map_options
from llmkit.errors import (
    ConnectionFailedError,
    RemoteGenerationError,
    StreamDecodeError,
    UnsupportedFeatureError,
)
from llmkit.streaming.decoders import SSEDecoder, SSEEvent
from llmkit.types.events import (
    Done,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolCallEvent,
    text_delta,
)
from llmkit.types.messages import Message, ToolCall, ToolCallFunction
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import EmbedResponse, TokenLogprob, Usage

__all__ = [
    "OpenAIChunkReader",
    "OpenAIStreamReader",
    "chat_body",
    "completion_body",
    "continue_chat_body",
    "continue_completion_body",
    "embed_body",
    "embed_response",
    "image_url",
]

_loads = orjson.loads

_IMAGE_TYPES = (("iVBOR", "png"), ("/9j/", "jpeg"), ("R0lGOD", "gif"), ("UklGR", "webp"))


def image_url(data: str) -> str:
    """A ``data:`` URL for a base64 image (its type read from the first bytes; PNG if unknown)."""
    if data.startswith(("data:", "http://", "https://")):
        return data
    kind = next((name for prefix, name in _IMAGE_TYPES if data.startswith(prefix)), "png")
    return f"data:image/{kind};base64,{data}"


def _call_id(message_index: int, call_index: int) -> str:
    return f"call_{message_index}_{call_index}"


def _messages(messages: list[Message], d: Dialect) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    ids_by_name: dict[str, list[str]] = {}
    for i, message in enumerate(messages):
        item: dict[str, Any] = {"role": message.role}
        if message.images:
            if message.role != "user":
                raise UnsupportedFeatureError(
                    f"messages.{i}.images", "openai", "only user messages carry images"
                )
            parts: list[dict[str, Any]] = []
            if message.content:
                parts.append({"type": "text", "text": message.content})
            parts.extend(
                {"type": "image_url", "image_url": {"url": image_url(image)}}
                for image in message.images
            )
            item["content"] = parts
        else:
            item["content"] = message.content
        if message.thinking and message.role == "assistant" and d.reasoning_content:
            item["reasoning_content"] = message.thinking
        if message.tool_calls:
            calls = []
            for j, call in enumerate(message.tool_calls):
                call_id = call.id or _call_id(i, j)
                ids_by_name.setdefault(call.function.name, []).append(call_id)
                calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": call.function.name,
                            "arguments": json.dumps(call.function.arguments, ensure_ascii=False),
                        },
                    }
                )
            item["tool_calls"] = calls
        if message.role == "tool":
            tool_call_id = message.tool_call_id
            if tool_call_id is None and message.tool_name and ids_by_name.get(message.tool_name):
                tool_call_id = ids_by_name[message.tool_name].pop(0)
            if tool_call_id is None:
                raise UnsupportedFeatureError(
                    f"messages.{i}.tool_call_id",
                    "openai",
                    "a tool message needs tool_call_id, or a tool_name matching an earlier call",
                )
            item["tool_call_id"] = tool_call_id
        out.append(item)
    return out


def _response_format(fmt: Any, d: Dialect) -> dict[str, Any]:
    if fmt == "json":
        return {"type": "json_object"}
    if d.schema_format == "json_object_schema":
        return {"type": "json_object", "schema": fmt}
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": fmt}}


def _common(
    request: ChatRequest | GenerateRequest, model: str | None, d: Dialect, *, chat: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    chosen = request.model or model
    if chosen:
        body["model"] = chosen
    if request.keep_alive is not None:
        raise UnsupportedFeatureError(
            "keep_alive", "openai", "the server decides how long a model stays loaded"
        )
    for name in ("truncate", "shift"):
        if getattr(request, name) is not None:
            raise UnsupportedFeatureError(name, "openai", "the server decides context handling")
    body.update(map_options(request.options, d.name, chat=chat))
    if request.logprobs:
        if not chat:
            raise UnsupportedFeatureError(
                "logprobs", "openai", "completions give them in another shape; ask chat()"
            )
        body["logprobs"] = True
        if request.top_logprobs:
            body["top_logprobs"] = request.top_logprobs
    if request.format is not None:
        body["response_format"] = _response_format(request.format, d)
    think = request.think
    if think is not None:
        if isinstance(think, str) and d.reasoning_effort:
            body["reasoning_effort"] = think
        elif isinstance(think, bool) and d.thinking_switch:
            body["chat_template_kwargs"] = {"enable_thinking": think}
        else:
            kind = "a level" if isinstance(think, str) else "true/false"
            raise UnsupportedFeatureError(
                "think", f"openai ({d.name} dialect)", f"think as {kind} has no field there"
            )
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def chat_body(request: ChatRequest, model: str | None, dialect_name: str) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body for ``request``."""
    d = dialect(dialect_name)
    body = _common(request, model, d, chat=True)
    body["messages"] = _messages(request.messages, d)
    if request.tools:
        body["tools"] = [tool.model_dump(exclude_none=True) for tool in request.tools]
    choice = request.tool_choice
    if choice is not None:
        named = choice not in ("auto", "none", "required")
        body["tool_choice"] = (
            {"type": "function", "function": {"name": choice}} if named else choice
        )
    return body


def completion_body(
    request: GenerateRequest, model: str | None, dialect_name: str
) -> dict[str, Any]:
    """The ``/v1/completions`` body: the prompt is sent as is (no template applies)."""
    d = dialect(dialect_name)
    for name, why in (
        ("system", "completions take no system prompt; put it in the prompt"),
        ("template", "the server applies no template to completions"),
        ("context", "the server keeps no token context"),
        ("images", "completions take text only"),
    ):
        if getattr(request, name) is not None:
            raise UnsupportedFeatureError(name, "openai", why)
    if request.raw is False:
        raise UnsupportedFeatureError(
            "raw", "openai", "completions are always raw; use chat for a templated prompt"
        )
    body = _common(request, model, d, chat=False)
    body["prompt"] = request.prompt
    if request.suffix is not None:
        body["suffix"] = request.suffix
    return body


def embed_body(request: EmbedRequest, model: str | None, dialect_name: str) -> dict[str, Any]:
    """The ``/v1/embeddings`` body."""
    dialect(dialect_name)
    if request.options is not None and request.options.given():
        raise UnsupportedFeatureError("options", "openai", "embeddings take no options")
    if request.truncate is False:
        raise UnsupportedFeatureError("truncate", "openai", "the server decides truncation")
    body: dict[str, Any] = {"input": request.input, "encoding_format": "float"}
    chosen = request.model or model
    if chosen:
        body["model"] = chosen
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    return body


def _pooled(vector: list[Any]) -> list[float]:
    """One vector: itself, or, for one vector per token, their L2-normalised mean."""
    if not vector or not isinstance(vector[0], list):
        return vector
    size = len(vector[0])
    sums = [0.0] * size
    for row in vector:
        if len(row) != size:
            raise ValueError("per-token vectors of different sizes")
        for k, value in enumerate(row):
            sums[k] += value
    norm = math.sqrt(sum(x * x for x in sums)) or 1.0
    return [x / norm for x in sums]


def embed_response(data: Any, url: str) -> EmbedResponse:
    """An :class:`EmbedResponse` from a ``/v1/embeddings`` answer.

    A server that answers with one vector per token (llama-cpp-python's, for a
    model without pooling) gets them mean-pooled and L2-normalised, which is
    what llmkit's in-process backend and Ollama return for such a model.
    """
    try:
        items = sorted(data["data"], key=lambda item: item.get("index", 0))
        vectors = [_pooled(item["embedding"]) for item in items]
        usage = data.get("usage") or {}
        return EmbedResponse(
            model=data.get("model"),
            embeddings=vectors,
            prompt_eval_count=usage.get("prompt_tokens"),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise StreamDecodeError(
            f"{url} answered with an unexpected embeddings shape: {exc!r}",
            line=1,
            data=repr(data),
        ) from exc


def continue_chat_body(
    body: dict[str, Any], text: str, thinking: str, dialect_name: str
) -> dict[str, Any] | None:
    """A body that resumes a cut-off chat from an assistant prefill, where the dialect can."""
    d = dialect(dialect_name)
    if d.prefill == "none":
        return None
    prefill: dict[str, Any] = {"role": "assistant", "content": text}
    if thinking and d.reasoning_content:
        prefill["reasoning_content"] = thinking
    resumed = {**body, "messages": [*body["messages"], prefill]}
    if d.prefill == "continue_final_message":
        resumed.update(continue_final_message=True, add_generation_prompt=False)
    return resumed


def continue_completion_body(body: dict[str, Any], text: str) -> dict[str, Any]:
    """A body that resumes a cut-off completion: the partial text joins the prompt."""
    return {**body, "prompt": body["prompt"] + text}


class OpenAIChunkReader:
    """Events from chat-completion or completion chunks (or a whole non-streamed answer).

    Text and reasoning come out as they arrive; a tool call comes out whole,
    once its arguments are complete (at its choice's ``finish_reason``, or the
    end of the stream).  Only choice 0 is read (llmkit asks for one).
    """

    __slots__ = ("_calls", "_chat", "_finish", "_model", "_usage", "chunks", "done", "url")

    def __init__(self, *, chat: bool, url: str | None = None) -> None:
        self._chat = chat
        self.url = url
        self.chunks = 0
        self._calls: dict[int, list[Any]] = {}  # index -> [id, name, [argument pieces]]
        self._finish: str | None = None
        self._model: str | None = None
        self._usage: dict[str, Any] | None = None
        self.done = False

    @property
    def finished(self) -> bool:
        """Whether a ``finish_reason`` has arrived (the answer is complete)."""
        return self._finish is not None

    def read(self, chunks: list[Any]) -> list[StreamEvent]:
        """The events of several chunks, in order (one call per network read)."""
        events: list[StreamEvent] = []
        if not self._chat:
            for chunk in chunks:
                events += self.events(chunk)
            return events
        append = events.append
        for chunk in chunks:
            # The common chunk, inline: one choice whose delta is only text (and perhaps the role).
            try:
                (choice,) = chunk["choices"]
                delta = choice["delta"]
                content = delta["content"]
            except (KeyError, TypeError, ValueError):
                pass  # not that shape (JSON gives dicts, lists and scalars only)
            else:
                if (
                    type(content) is str
                    and (len(delta) == 1 or (len(delta) == 2 and "role" in delta))
                    and choice.get("finish_reason") is None
                    and not choice.get("index")
                    and chunk.get("usage") is None
                    and "error" not in chunk
                    and not choice.get("logprobs")
                ):
                    self.chunks += 1
                    if self._model is None:
                        self._model = chunk.get("model")
                    if content:
                        append(text_delta(content))
                    continue
            events += self.events(chunk)
        return events

    def events(self, chunk: Any) -> list[StreamEvent]:
        """The events of one chunk (a parsed SSE ``data`` object)."""
        self.chunks += 1
        if type(chunk) is not dict:
            raise StreamDecodeError(
                "expected a JSON object in the stream", line=self.chunks, data=repr(chunk)
            )
        if "error" in chunk:
            error = chunk["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise RemoteGenerationError(f"the server reported: {message}", url=self.url)
        if chunk.get("model"):
            self._model = chunk["model"]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            if self._chat:
                delta = choice.get("delta") or choice.get("message") or {}
                thinking = delta.get("reasoning_content") or delta.get("reasoning")
                if thinking:
                    events.append(ThinkingDelta(text=thinking))
                content = delta.get("content")
                logprobs = self._logprobs(choice)
                if content or logprobs:
                    events.append(TextDelta(text=content or "", logprobs=logprobs))
                calls = delta.get("tool_calls")
                if calls:
                    self._add_calls(calls)
            else:
                text = choice.get("text")
                if text:
                    events.append(TextDelta(text=text))
            reason = choice.get("finish_reason")
            if reason:
                self._finish = reason
                events.extend(self._complete_calls())
        return events

    def _logprobs(self, choice: dict[str, Any]) -> list[TokenLogprob] | None:
        """A choice's ``logprobs.content`` (OpenAI's chat shape) as llmkit's."""
        found = choice.get("logprobs")
        entries = found.get("content") if isinstance(found, dict) else None
        if not entries:
            return None
        try:
            return [TokenLogprob.model_validate(entry) for entry in entries]
        except (ValueError, TypeError) as exc:
            raise StreamDecodeError(
                f"logprobs in an unexpected shape: {exc}", line=self.chunks, data=repr(entries)
            ) from exc

    def _add_calls(self, calls: list[Any]) -> None:
        for position, call in enumerate(calls):
            index = call.get("index", position)
            slot = self._calls.setdefault(index, [None, "", []])
            if call.get("id"):
                slot[0] = call["id"]
            function = call.get("function") or {}
            if function.get("name"):
                slot[1] += function["name"]
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                slot[2].append(arguments)
            elif isinstance(arguments, dict):
                slot[2].append(json.dumps(arguments))

    def _complete_calls(self) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for index in sorted(self._calls):
            call_id, name, pieces = self._calls[index]
            text = "".join(pieces).strip() or "{}"
            try:
                arguments = json.loads(text)
            except ValueError:
                arguments = None
            if not isinstance(arguments, dict):
                raise RemoteGenerationError(
                    f"the server sent tool call {name!r} with arguments that are not a JSON "
                    f"object: {text[:200]!r}",
                    url=self.url,
                )
            function = ToolCallFunction(name=name, arguments=arguments, index=index)
            events.append(ToolCallEvent(call=ToolCall(id=call_id, function=function)))
        self._calls.clear()
        return events

    def finish(self) -> list[StreamEvent]:
        """The closing events: calls still open, then :class:`Done` (once)."""
        if self.done:
            return []
        self.done = True
        events = self._complete_calls()
        usage = self._usage or {}
        events.append(
            Done(
                done_reason=self._finish or "stop",
                model=self._model,
                usage=Usage(
                    prompt_eval_count=usage.get("prompt_tokens"),
                    eval_count=usage.get("completion_tokens"),
                ),
            )
        )
        return events


class OpenAIStreamReader:
    """Events from a streamed SSE body as it arrives (pure: bytes in, events out).

    The SSE decoder and :class:`OpenAIChunkReader` in one pass per network
    read: plain ``data:`` events are parsed straight from their bytes, ``[DONE]``
    ends the answer (whatever follows it is ignored), an ``error`` event raises
    :class:`~llmkit.errors.RemoteGenerationError`, other event types are skipped.
    """

    __slots__ = ("_decoder", "reader")

    def __init__(self, *, chat: bool, url: str | None = None) -> None:
        self._decoder = SSEDecoder()
        self.reader = OpenAIChunkReader(chat=chat, url=url)

    @property
    def done(self) -> bool:
        """Whether the answer has ended (``[DONE]`` arrived and :class:`Done` was given)."""
        return self.reader.done

    def feed(self, data: bytes) -> list[StreamEvent]:
        """The events of the SSE events that ``data`` completed."""
        items = self._decoder.feed_payloads(data)
        if not items or self.reader.done:
            return []
        payloads = cast("list[bytes]", items)  # an SSEEvent among them makes orjson raise
        try:
            chunks = [_loads(payload) for payload in payloads]
        except ValueError:  # [DONE], another event type, or not JSON: one at a time
            return self._one_by_one(items)
        return self.reader.read(chunks)

    def finish(self) -> list[StreamEvent]:
        """The events at the end of the body: a last event without its blank line, then
        :class:`Done` if ``[DONE]`` never came.  A body that ends before any
        ``finish_reason`` was cut off: :class:`~llmkit.errors.ConnectionFailedError`."""
        reader = self.reader
        events = [] if reader.done else self._one_by_one(list(self._decoder.finish()))
        if not reader.done:
            if not reader.finished:
                raise ConnectionFailedError(
                    f"{reader.url} ended the stream before its final chunk", url=reader.url
                )
            events += reader.finish()
        return events

    def _one_by_one(self, items: list[bytes | SSEEvent]) -> list[StreamEvent]:
        reader = self.reader
        events: list[StreamEvent] = []
        for item in items:
            if type(item) is bytes:
                data: str | bytes = item
                kind = "message"
            else:
                assert isinstance(item, SSEEvent)
                data, kind = item.data, item.event
            if kind == "error":
                events += reader.events({"error": _text(data)})
            elif data in (b"[DONE]", "[DONE]"):
                events += reader.finish()
                return events
            elif kind == "message":
                try:
                    chunk = _loads(data)
                except ValueError as exc:
                    raise StreamDecodeError(
                        f"an event's data is not JSON: {exc}",
                        line=self._decoder.lines_seen,
                        data=_text(data),
                    ) from None
                events += reader.read([chunk])
            # Another event type: not part of the answer.
        return events


def _text(data: str | bytes) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", "replace")
