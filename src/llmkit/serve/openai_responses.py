"""llmkit events and responses → OpenAI's JSON, on the server side (pure, no I/O).

Streams are written as openai-python reads them: a first chunk with the
assistant's role, one chunk per event (``content``; ``reasoning_content`` for
thinking, as llama.cpp's and vLLM's servers name it; ``tool_calls`` deltas that
carry ``index``, ``id``, ``type`` and the whole ``arguments`` JSON string), a
chunk with ``finish_reason``, then, with ``stream_options.include_usage``, a
chunk with no choices and the ``usage`` (every other chunk has ``usage: null``).
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from llmkit.serve.catalog import ServedModel
from llmkit.types.events import Done, StreamEvent, TextDelta, ThinkingDelta, ToolCallEvent
from llmkit.types.messages import ToolCall
from llmkit.types.responses import (
    ChatResponse,
    EmbedResponse,
    GenerateResponse,
    TokenLogprob,
    Usage,
)

__all__ = [
    "ChatCompletionChunks",
    "CompletionChunks",
    "chat_completion_body",
    "completion_body",
    "embeddings_body",
    "finish_reason",
    "model_body",
    "models_body",
    "usage_body",
]


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def finish_reason(done_reason: str | None, *, tool_calls: bool) -> str:
    """OpenAI's ``finish_reason`` for llmkit's ``done_reason``."""
    if tool_calls and done_reason in (None, "stop", "tool_calls"):
        return "tool_calls"
    if done_reason == "length":
        return "length"
    return "stop"


def usage_body(usage: Usage) -> dict[str, int]:
    """``usage`` from llmkit's counts."""
    prompt = usage.prompt_eval_count or 0
    completion = usage.eval_count or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _tool_call(call: ToolCall, index: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if index is not None:
        out["index"] = index
    out.update(
        {
            "id": call.id or _new_id("call"),
            "type": "function",
            "function": {
                "name": call.function.name,
                "arguments": json.dumps(call.function.arguments, ensure_ascii=False),
            },
        }
    )
    return out


class _Chunks:
    object_name = ""
    prefix = ""

    def __init__(
        self,
        model: str,
        *,
        include_usage: bool = False,
        id: str | None = None,
        created: int | None = None,
    ) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = id or _new_id(self.prefix)
        self.created = created if created is not None else int(time.time())
        self.tool_calls = 0

    def _wrap(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": self.object_name,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def _usage_chunk(self, done: Done) -> dict[str, Any]:
        chunk = self._wrap([])
        chunk["usage"] = usage_body(done.usage)
        return chunk


class ChatCompletionChunks(_Chunks):
    """Turns one chat stream's events into ``chat.completion.chunk`` objects."""

    object_name = "chat.completion.chunk"
    prefix = "chatcmpl"

    def _choice(
        self,
        delta: dict[str, Any],
        reason: str | None = None,
        logprobs: list[TokenLogprob] | None = None,
    ) -> dict[str, Any]:
        return self._wrap(
            [
                {
                    "index": 0,
                    "delta": delta,
                    "logprobs": logprobs_body(logprobs),
                    "finish_reason": reason,
                }
            ]
        )

    def start(self) -> dict[str, Any]:
        """The first chunk: the assistant's role, empty content."""
        return self._choice({"role": "assistant", "content": ""})

    def chunks(self, event: StreamEvent) -> list[dict[str, Any]]:
        """The chunks for one event (a :class:`Done` gives the finish and usage chunks)."""
        if isinstance(event, TextDelta):
            if not event.text and not event.logprobs:
                return []
            return [self._choice({"content": event.text}, logprobs=event.logprobs)]
        if isinstance(event, ThinkingDelta):
            return [self._choice({"reasoning_content": event.text})] if event.text else []
        if isinstance(event, ToolCallEvent):
            delta = {"tool_calls": [_tool_call(event.call, self.tool_calls)]}
            self.tool_calls += 1
            return [self._choice(delta)]
        reason = finish_reason(event.done_reason, tool_calls=self.tool_calls > 0)
        out = [self._choice({}, reason)]
        if self.include_usage:
            out.append(self._usage_chunk(event))
        return out


class CompletionChunks(_Chunks):
    """Turns one completion stream's events into ``text_completion`` chunks."""

    object_name = "text_completion"
    prefix = "cmpl"

    def _choice(self, text: str, reason: str | None = None) -> dict[str, Any]:
        return self._wrap([{"text": text, "index": 0, "logprobs": None, "finish_reason": reason}])

    def chunks(self, event: StreamEvent) -> list[dict[str, Any]]:
        """The chunks for one event; thinking and tool calls have no place in a completion."""
        if isinstance(event, TextDelta):
            return [self._choice(event.text)] if event.text else []
        if isinstance(event, Done):
            out = [self._choice("", finish_reason(event.done_reason, tool_calls=False))]
            if self.include_usage:
                out.append(self._usage_chunk(event))
            return out
        return []


def logprobs_body(logprobs: list[TokenLogprob] | None) -> dict[str, Any] | None:
    """OpenAI's ``logprobs`` of a chat choice: ``{"content": [...], "refusal": null}``."""
    if logprobs is None:
        return None
    content = []
    for entry in logprobs:
        item = entry.model_dump()
        item["top_logprobs"] = [top.model_dump() for top in entry.top_logprobs or ()]
        content.append(item)
    return {"content": content, "refusal": None}


def chat_completion_body(
    response: ChatResponse, model: str, *, id: str | None = None, created: int | None = None
) -> dict[str, Any]:
    """A whole ``chat.completion``."""
    calls = response.message.tool_calls or []
    message: dict[str, Any] = {
        "role": "assistant",
        "content": response.message.content if response.message.content or not calls else None,
        "refusal": None,
    }
    if response.message.thinking:
        message["reasoning_content"] = response.message.thinking
    if calls:
        message["tool_calls"] = [_tool_call(call) for call in calls]
    return {
        "id": id or _new_id("chatcmpl"),
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": logprobs_body(response.logprobs),
                "finish_reason": finish_reason(response.done_reason, tool_calls=bool(calls)),
            }
        ],
        "usage": usage_body(response.usage),
    }


def completion_body(
    response: GenerateResponse, model: str, *, id: str | None = None, created: int | None = None
) -> dict[str, Any]:
    """A whole ``text_completion``."""
    return {
        "id": id or _new_id("cmpl"),
        "object": "text_completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "choices": [
            {
                "text": response.response,
                "index": 0,
                "logprobs": None,
                "finish_reason": finish_reason(response.done_reason, tool_calls=False),
            }
        ],
        "usage": usage_body(response.usage),
    }


def _encode(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":  # little-endian float32, as OpenAI sends them
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


def embeddings_body(response: EmbedResponse, model: str, encoding: str = "float") -> dict[str, Any]:
    """A ``/v1/embeddings`` answer (``encoding`` ``float`` or ``base64``)."""
    tokens = response.prompt_eval_count or 0
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": _encode(vector, encoding)}
            for index, vector in enumerate(response.embeddings)
        ],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _created(model: ServedModel) -> int:
    try:
        return int(datetime.fromisoformat(model.modified_at.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def model_body(model: ServedModel) -> dict[str, Any]:
    """One ``model`` object."""
    return {"id": model.name, "object": "model", "created": _created(model), "owned_by": "llmkit"}


def models_body(models: Iterable[ServedModel]) -> dict[str, Any]:
    """``/v1/models``."""
    return {"object": "list", "data": [model_body(model) for model in models]}


def merge_choices(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """One answer holding the choices of ``bodies`` (one body per choice of ``n``): choice
    ``i`` from body ``i``; the prompt counted once, the completions' tokens added up."""
    merged = dict(bodies[0])
    merged["choices"] = [
        {**body["choices"][0], "index": index} for index, body in enumerate(bodies)
    ]
    usage = dict(bodies[0]["usage"])
    completion = sum(body["usage"]["completion_tokens"] for body in bodies)
    usage["completion_tokens"] = completion
    usage["total_tokens"] = usage["prompt_tokens"] + completion
    merged["usage"] = usage
    return merged
