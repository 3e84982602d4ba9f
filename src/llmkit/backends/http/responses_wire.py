"""OpenAI's Responses API (``/v1/responses``) on the client side: bodies and events (pure).

With ``api="responses"`` the OpenAI backend sends chats to ``/v1/responses`` (OpenAI's own
API, ``llmkit serve``): :func:`responses_body` writes the chat as ``input`` items (messages,
``function_call`` items for the assistant's calls, ``function_call_output`` items for tool
results; the system messages in front become ``instructions``), function tools and
``tool_choice``, ``temperature`` / ``top_p`` / ``max_output_tokens``, ``text.format`` and
``reasoning.effort``.  Other options have no field there and are refused, naming the option.

:class:`ResponsesReader` turns the answer into llmkit events: a whole ``response`` object
(:meth:`~ResponsesReader.whole`) or its server-sent events (:meth:`~ResponsesReader.feed`):
``response.output_text.delta`` as text, reasoning deltas as thinking, each finished
``function_call`` item as a tool call, and ``response.completed`` / ``response.incomplete``
as :class:`~llmkit.types.events.Done` with the usage.
"""

from __future__ import annotations

import json
from typing import Any

from llmkit.errors import (
    ConnectionFailedError,
    RemoteGenerationError,
    StreamDecodeError,
    UnsupportedFeatureError,
    UnsupportedOptionError,
)
from llmkit.streaming.decoders import SSEDecoder, SSEEvent
from llmkit.types.events import Done, StreamEvent, TextDelta, ThinkingDelta, ToolCallEvent
from llmkit.types.messages import Message, ToolCall, ToolCallFunction
from llmkit.types.requests import ChatRequest
from llmkit.types.responses import Usage

__all__ = ["ResponsesReader", "responses_body"]

BACKEND = "openai (responses)"
#: llmkit option -> Responses API field; every other option is refused.
_OPTION_FIELDS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "num_predict": "max_output_tokens",
}


def _input(messages: list[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if message.images:
            raise UnsupportedFeatureError(f"messages.{index}.images", BACKEND, "text only")
        if message.role == "system" and not items:
            instructions.append(message.content or "")
            continue
        if message.role == "tool":
            if not message.tool_call_id:
                raise UnsupportedFeatureError(
                    f"messages.{index}.tool_call_id", BACKEND, "a tool result needs its call's id"
                )
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": message.tool_call_id,
                    "output": message.content or "",
                }
            )
            continue
        role = "developer" if message.role == "system" else message.role
        if message.content or not message.tool_calls:
            items.append({"role": role, "content": message.content or ""})
        for position, call in enumerate(message.tool_calls or ()):
            items.append(
                {
                    "type": "function_call",
                    "call_id": call.id or f"call_{index}_{position}",
                    "name": call.function.name,
                    "arguments": json.dumps(call.function.arguments, ensure_ascii=False),
                }
            )
    return ("\n\n".join(instructions) if instructions else None), items


def responses_body(request: ChatRequest, model: str | None) -> dict[str, Any]:
    """The ``/v1/responses`` body for a chat ``request``."""
    if request.logprobs:
        raise UnsupportedFeatureError("logprobs", BACKEND, "use api='chat' for them")
    for name in ("keep_alive", "truncate", "shift"):
        if getattr(request, name, None) is not None:
            raise UnsupportedFeatureError(name, BACKEND, "the server decides this")
    instructions, items = _input(request.messages)
    body: dict[str, Any] = {"input": items}
    chosen = request.model or model
    if chosen:
        body["model"] = chosen
    if instructions is not None:
        body["instructions"] = instructions
    for option, value in (request.options.given() if request.options else {}).items():
        field = _OPTION_FIELDS.get(option)
        if field is None:
            raise UnsupportedOptionError(option, BACKEND, "the Responses API has no field for it")
        body[field] = value
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "name": tool.function.name,
                "description": tool.function.description or "",
                "parameters": tool.function.parameters or {"type": "object", "properties": {}},
            }
            for tool in request.tools
        ]
    choice = request.tool_choice
    if choice is not None:
        named = choice not in ("auto", "none", "required")
        body["tool_choice"] = {"type": "function", "name": choice} if named else choice
    if request.format is not None:
        fmt = request.format
        body["text"] = {
            "format": {"type": "json_object"}
            if fmt == "json"
            else {"type": "json_schema", "name": "response", "schema": fmt}
        }
    if isinstance(request.think, str):
        body["reasoning"] = {"effort": request.think}
    elif request.think is not None:
        raise UnsupportedFeatureError(
            "think", BACKEND, "the Responses API takes an effort: low, medium or high"
        )
    if request.stream:
        body["stream"] = True
    return body


class ResponsesReader:
    """Events from a ``response`` object or its server-sent events (pure: bytes in)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self.done = False
        self._decoder = SSEDecoder()

    # -- a whole answer ------------------------------------------------------

    def whole(self, data: Any) -> list[StreamEvent]:
        """The events of a whole ``response`` object."""
        if not isinstance(data, dict) or not isinstance(data.get("output"), list):
            raise StreamDecodeError(
                f"{self.url} did not answer with a response object", line=1, data=repr(data)
            )
        events: list[StreamEvent] = []
        for item in data["output"]:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "message":
                text = "".join(
                    part.get("text", "")
                    for part in item.get("content") or ()
                    if isinstance(part, dict) and part.get("type") == "output_text"
                )
                if text:
                    events.append(TextDelta(text=text))
            elif kind == "reasoning":
                text = "".join(
                    part.get("text", "")
                    for part in (item.get("content") or item.get("summary") or ())
                    if isinstance(part, dict)
                )
                if text:
                    events.append(ThinkingDelta(text=text))
            elif kind == "function_call":
                events.append(self._call(item))
        events.append(self._done(data))
        self.done = True
        return events

    # -- a stream ------------------------------------------------------------

    def feed(self, data: bytes) -> list[StreamEvent]:
        """The events of the server-sent events ``data`` completed."""
        return self._read(self._decoder.feed(data))

    def finish(self) -> list[StreamEvent]:
        """The events left at the end of the body; a stream cut before its last event is
        :class:`~llmkit.errors.ConnectionFailedError`."""
        events = self._read(self._decoder.finish()) if not self.done else []
        if not self.done:
            raise ConnectionFailedError(
                f"{self.url} ended the stream before response.completed", url=self.url
            )
        return events

    def _read(self, items: list[SSEEvent]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        for item in items:
            if self.done:
                break
            try:
                payload = json.loads(item.data)
            except ValueError as exc:
                raise StreamDecodeError(
                    f"{self.url} sent an event that is not JSON", line=1, data=item.data
                ) from exc
            kind = payload.get("type", item.event) if isinstance(payload, dict) else None
            if kind == "response.output_text.delta":
                if payload.get("delta"):
                    events.append(TextDelta(text=payload["delta"]))
            elif kind in ("response.reasoning_text.delta", "response.reasoning_summary_text.delta"):
                if payload.get("delta"):
                    events.append(ThinkingDelta(text=payload["delta"]))
            elif kind == "response.output_item.done":
                item_data = payload.get("item")
                if isinstance(item_data, dict) and item_data.get("type") == "function_call":
                    events.append(self._call(item_data))
            elif kind in ("response.completed", "response.incomplete"):
                events.append(self._done(payload.get("response") or {}))
                self.done = True
            elif kind in ("error", "response.failed"):
                error = payload.get("error") or (payload.get("response") or {}).get("error") or {}
                message = error.get("message") if isinstance(error, dict) else None
                raise RemoteGenerationError(
                    f"{self.url} reported an error in the stream: "
                    f"{message or payload.get('message') or payload}",
                    url=self.url,
                )
        return events

    # -- pieces --------------------------------------------------------------

    def _call(self, item: dict[str, Any]) -> ToolCallEvent:
        try:
            arguments = json.loads(item.get("arguments") or "{}")
        except ValueError as exc:
            raise StreamDecodeError(
                f"{self.url} sent a function call whose arguments are not JSON",
                line=1,
                data=str(item.get("arguments")),
            ) from exc
        call = ToolCall(
            id=item.get("call_id"),
            function=ToolCallFunction(name=str(item.get("name", "")), arguments=arguments),
        )
        return ToolCallEvent(call=call)

    def _done(self, response: dict[str, Any]) -> Done:
        usage = response.get("usage") or {}
        incomplete = response.get("status") == "incomplete"
        reason = (response.get("incomplete_details") or {}).get("reason") if incomplete else None
        return Done(
            model=response.get("model"),
            done_reason="length" if reason == "max_output_tokens" else "stop",
            usage=Usage(
                prompt_eval_count=usage.get("input_tokens"),
                eval_count=usage.get("output_tokens"),
            ),
        )
