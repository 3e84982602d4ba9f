"""OpenAI's Responses API (``POST /v1/responses``) over llmkit's chat: pure conversions.

A body becomes a :class:`ResponsesCall`: the request's own input as chat messages
(``input`` as a string or as items: messages with ``input_text``/``output_text`` parts,
``function_call`` and ``function_call_output`` items), ``instructions`` as the system
message, function tools, ``tool_choice``, ``temperature``/``top_p``/``max_output_tokens``,
``text.format`` (JSON or a JSON schema) and ``reasoning.effort`` (thinking).  The route adds
the conversation of ``previous_response_id`` (kept for the server's lifetime, without its
``instructions``, as OpenAI does) in front of the input.

The answer is a ``response`` object whose ``output`` holds a ``message`` item (its text as one
``output_text`` part) and a ``function_call`` item per tool call; :class:`ResponseEvents`
writes the same as server-sent events, as openai-python's ``responses.create(stream=True)``
reads them: ``response.created``, ``response.in_progress``, the items and their text deltas,
``response.completed`` (or ``response.incomplete`` when ``max_output_tokens`` cut it).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from llmkit.errors import InvalidRequestError
from llmkit.serve.wire import dumps, validate
from llmkit.types.events import Done, StreamEvent, TextDelta, ThinkingDelta, ToolCallEvent
from llmkit.types.messages import ToolCall
from llmkit.types.requests import ChatRequest
from llmkit.types.responses import ChatResponse

__all__ = [
    "ResponseEvents",
    "ResponsesCall",
    "chat_request_for",
    "history_of",
    "new_response_id",
    "response_body",
    "responses_call",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Reasoning(_Strict):
    effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    summary: str | None = None
    generate_summary: str | None = None


class _TextFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class _Text(_Strict):
    format: _TextFormat | None = None
    verbosity: str | None = None


class ResponsesBody(_Strict):
    """The fields of a ``/v1/responses`` body that llmkit reads (others are refused)."""

    model: str
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    max_output_tokens: Annotated[int, Field(ge=1)] | None = None
    stream: StrictBool | None = None
    previous_response_id: str | None = None
    store: StrictBool | None = None
    text: _Text | None = None
    reasoning: _Reasoning | None = None
    parallel_tool_calls: StrictBool | None = None
    truncation: Literal["disabled", "auto"] | None = None
    # labels only: accepted, no effect
    metadata: dict[str, str] | None = None
    user: str | None = None
    service_tier: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    include: list[str] | None = None
    background: Literal[False] | None = None


@dataclass
class ResponsesCall:
    """A parsed ``/v1/responses`` body."""

    body: ResponsesBody
    input_messages: list[dict[str, Any]]
    """This request's own input, as llmkit chat messages (no instructions)."""
    fields: dict[str, Any] = field(default_factory=dict)
    """The ChatRequest fields besides the messages (options, tools, format, think)."""

    @property
    def stream(self) -> bool:
        return bool(self.body.stream)

    @property
    def store(self) -> bool:
        return self.body.store is not False


def _refuse(param: str, reason: str) -> InvalidRequestError:
    return InvalidRequestError(f"{param}: {reason}", fields=[param])


def _text_of(content: object, where: str) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _refuse(f"{where}.content", "expected a string or a list of parts")
    texts = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("input_text", "output_text", "text"):
            raise _refuse(
                f"{where}.content.{index}.type",
                f"{kind!r} is not supported (input_text and output_text are)",
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise _refuse(f"{where}.content.{index}.text", "expected a string")
        texts.append(text)
    return "".join(texts)


def _input_messages(items: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for index, item in enumerate(items):
        where = f"input.{index}"
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise _refuse(
                    f"{where}.role", f"{role!r} is not user, assistant, system or developer"
                )
            role = "system" if role == "developer" else role
            messages.append({"role": role, "content": _text_of(item.get("content"), where)})
        elif kind == "function_call":
            call_id, name = item.get("call_id"), item.get("name")
            if not isinstance(call_id, str) or not isinstance(name, str):
                raise _refuse(where, "a function_call item needs call_id and name")
            try:
                arguments = json.loads(item.get("arguments") or "{}")
            except (TypeError, ValueError) as exc:
                raise _refuse(f"{where}.arguments", f"not valid JSON: {exc}") from exc
            if not isinstance(arguments, dict):
                raise _refuse(f"{where}.arguments", "must be a JSON object")
            call = {"id": call_id, "function": {"name": name, "arguments": arguments}}
            names[call_id] = name
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str):
                raise _refuse(f"{where}.call_id", "expected the id of the call it answers")
            if not isinstance(output, str):
                output = json.dumps(output)
            message = {"role": "tool", "content": output, "tool_call_id": call_id}
            if call_id in names:
                message["tool_name"] = names[call_id]
            messages.append(message)
        else:
            raise _refuse(f"{where}.type", f"{kind!r} items are not supported")
    return messages


def _tools(body: ResponsesBody) -> tuple[list[dict[str, Any]] | None, str | None]:
    choice = body.tool_choice
    if isinstance(choice, dict):
        name = choice.get("name")
        if choice.get("type") != "function" or not isinstance(name, str):
            raise _refuse("tool_choice", 'expected {"type": "function", "name": ...}')
        choice = name
    elif choice not in (None, "auto", "none", "required"):
        raise _refuse("tool_choice", 'expected "auto", "none", "required" or a named function')
    if body.parallel_tool_calls is False:
        raise _refuse("parallel_tool_calls", "false is not supported")
    tools: list[dict[str, Any]] = []
    for index, tool in enumerate(body.tools or ()):
        if tool.get("type") != "function":
            raise _refuse(f"tools.{index}.type", f"{tool.get('type')!r} tools are not supported")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise _refuse(f"tools.{index}.name", "a function tool needs a name")
        function: dict[str, Any] = {"name": name}
        if tool.get("description") is not None:
            function["description"] = tool["description"]
        if tool.get("parameters") is not None:
            function["parameters"] = tool["parameters"]
        tools.append({"type": "function", "function": function})
    names = [tool["function"]["name"] for tool in tools]
    if choice not in (None, "auto", "none", "required") and choice not in names:
        raise _refuse("tool_choice", f"{choice!r} is not one of the tools")
    if choice == "required" and not names:
        raise _refuse("tool_choice", "'required' needs tools to choose from")
    if not tools or choice == "none":
        return None, None if choice == "none" else choice
    return tools, choice


def responses_call(data: dict[str, Any]) -> ResponsesCall:
    """A ``/v1/responses`` body parsed; errors name the body's field."""
    body = validate(ResponsesBody, data)
    fields: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if body.temperature is not None:
        options["temperature"] = body.temperature
    if body.top_p is not None:
        options["top_p"] = body.top_p
    if body.max_output_tokens is not None:
        options["num_predict"] = body.max_output_tokens
    if options:
        fields["options"] = options
    tools, choice = _tools(body)
    if tools:
        fields["tools"] = tools
    if choice not in (None, "none"):
        fields["tool_choice"] = choice
    fmt = body.text.format if body.text is not None else None
    if fmt is not None and fmt.type == "json_object":
        fields["format"] = "json"
    elif fmt is not None and fmt.type == "json_schema":
        if fmt.schema_ is None:
            raise _refuse("text.format.schema", "a json_schema format needs a schema")
        fields["format"] = fmt.schema_
    effort = body.reasoning.effort if body.reasoning is not None else None
    if effort is not None:
        fields["think"] = effort if effort in ("low", "medium", "high") else False
    return ResponsesCall(body, _input_messages(body.input), fields)


def chat_request_for(
    call: ResponsesCall, model: str | None, history: list[dict[str, Any]]
) -> ChatRequest:
    """The chat request: ``instructions``, then the previous response's conversation, then
    this input."""
    messages = [{k: v for k, v in m.items() if not k.startswith("_")} for m in history]
    if call.body.instructions:
        messages.insert(0, {"role": "system", "content": call.body.instructions})
    messages += [{k: v for k, v in m.items() if not k.startswith("_")} for m in call.input_messages]
    names = {
        c["id"]: c["function"]["name"]
        for m in messages
        for c in m.get("tool_calls") or ()
        if c.get("id")
    }
    for message in messages:  # a call's output names its function, as chat tool messages do
        if message["role"] == "tool" and "tool_name" not in message:
            name = names.get(message.get("tool_call_id", ""))
            if name is not None:
                message["tool_name"] = name
    data = {"model": model, "messages": messages, **call.fields}
    try:
        return validate(ChatRequest, data)
    except InvalidRequestError as exc:
        raise InvalidRequestError(str(exc), fields=["input"], errors=exc.errors) from exc


def history_of(
    call: ResponsesCall,
    previous: list[dict[str, Any]],
    content: str,
    tool_calls: list[ToolCall] | None,
) -> list[dict[str, Any]]:
    """The conversation a later ``previous_response_id`` continues: what came before, this
    input and this answer (``instructions`` are not carried over)."""
    answer: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        answer["tool_calls"] = [
            {"id": c.id, "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in tool_calls
        ]
    return [*previous, *call.input_messages, answer]


def new_response_id() -> str:
    return f"resp_{uuid.uuid4().hex}"


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def _call_item(call: ToolCall, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{uuid.uuid4().hex[:24]}",
        "call_id": call.id or f"call_{uuid.uuid4().hex[:24]}",
        "name": call.function.name,
        "arguments": json.dumps(call.function.arguments),
        "status": status,
    }


def _usage(prompt: int, output: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + output,
    }


def _envelope(
    call: ResponsesCall, response_id: str, created_at: int, model: str, status: str
) -> dict[str, Any]:
    body = call.body
    tools = [
        {"type": "function", "strict": False, **t["function"]} for t in call.fields.get("tools", ())
    ]
    for tool in tools:
        tool.setdefault("parameters", {})
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "model": model,
        "output": [],
        "error": None,
        "incomplete_details": None,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "parallel_tool_calls": True,
        "previous_response_id": body.previous_response_id,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "tool_choice": body.tool_choice if body.tool_choice is not None else "auto",
        "tools": tools,
        "text": {"format": {"type": "text"}},
        "truncation": body.truncation or "disabled",
        "metadata": body.metadata or {},
        "store": call.store,
        "usage": None,
    }


def response_body(
    call: ResponsesCall, response: ChatResponse, response_id: str, model: str
) -> dict[str, Any]:
    """The whole ``response`` object of a finished answer."""
    cut = response.done_reason == "length"
    status = "incomplete" if cut else "completed"
    body = _envelope(call, response_id, int(time.time()), model, status)
    output: list[dict[str, Any]] = []
    text = response.message.content or ""
    if text or not response.message.tool_calls:
        output.append(_message_item(f"msg_{uuid.uuid4().hex[:24]}", text, status))
    output += [_call_item(c) for c in response.message.tool_calls or ()]
    body["output"] = output
    body["usage"] = _usage(response.prompt_eval_count or 0, response.eval_count or 0)
    if cut:
        body["incomplete_details"] = {"reason": "max_output_tokens"}
    return body


class ResponseEvents:
    """Server-sent events of one streamed response (see the module docstring).

    :meth:`head` gives the opening events; :meth:`events` those of each llmkit event; at
    ``Done`` it closes the open items and sends the final response, which
    ``on_done(response)`` also receives (to keep it for ``previous_response_id``).
    """

    def __init__(self, call: ResponsesCall, response_id: str, model: str, on_done: Any) -> None:
        self.call = call
        self.response_id = response_id
        self.model = model
        self.on_done = on_done
        self.created_at = int(time.time())
        self.sequence = 0
        self.text: list[str] = []
        self.message_id = f"msg_{uuid.uuid4().hex[:24]}"
        self.message_open = False
        self.items: list[dict[str, Any]] = []
        self.calls: list[ToolCall] = []

    def _event(self, kind: str, **data: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **data}
        self.sequence += 1
        return f"event: {kind}\ndata: {dumps(payload)}\n\n".encode()

    def head(self) -> bytes:
        envelope = _envelope(
            self.call, self.response_id, self.created_at, self.model, "in_progress"
        )
        return self._event("response.created", response=envelope) + self._event(
            "response.in_progress", response=envelope
        )

    def _open_message(self) -> list[bytes]:
        self.message_open = True
        index = len(self.items)
        self.items.append(_message_item(self.message_id, "", "in_progress"))
        self.items[-1]["content"] = []
        return [
            self._event("response.output_item.added", output_index=index, item=self.items[-1]),
            self._event(
                "response.content_part.added",
                item_id=self.message_id,
                output_index=index,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            ),
        ]

    def _close_message(self, status: str) -> list[bytes]:
        index = next(i for i, item in enumerate(self.items) if item["id"] == self.message_id)
        text = "".join(self.text)
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        self.items[index] = _message_item(self.message_id, text, status)
        self.message_open = False
        return [
            self._event(
                "response.output_text.done",
                item_id=self.message_id,
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            ),
            self._event(
                "response.content_part.done",
                item_id=self.message_id,
                output_index=index,
                content_index=0,
                part=part,
            ),
            self._event("response.output_item.done", output_index=index, item=self.items[index]),
        ]

    def events(self, event: StreamEvent) -> list[bytes]:
        out: list[bytes] = []
        if isinstance(event, TextDelta) and event.text:
            if not self.message_open:
                out += self._open_message()
            self.text.append(event.text)
            index = len(self.items) - 1
            out.append(
                self._event(
                    "response.output_text.delta",
                    item_id=self.message_id,
                    output_index=index,
                    content_index=0,
                    delta=event.text,
                    logprobs=[],
                )
            )
        elif isinstance(event, ThinkingDelta):
            pass  # reasoning items are not written
        elif isinstance(event, ToolCallEvent):
            if self.message_open:
                out += self._close_message("completed")
            self.calls.append(event.call)
            item = _call_item(event.call, "in_progress")
            index = len(self.items)
            self.items.append(item)
            out.append(self._event("response.output_item.added", output_index=index, item=item))
            out.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=item["arguments"],
                )
            )
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    arguments=item["arguments"],
                    name=item["name"],
                )
            )
            item = {**item, "status": "completed"}
            self.items[index] = item
            out.append(self._event("response.output_item.done", output_index=index, item=item))
        elif isinstance(event, Done):
            cut = event.done_reason == "length"
            status = "incomplete" if cut else "completed"
            if self.message_open:
                out += self._close_message(status)
            elif not self.items:
                out += self._open_message()
                out += self._close_message(status)
            body = _envelope(self.call, self.response_id, self.created_at, self.model, status)
            body["output"] = self.items
            usage = event.usage
            body["usage"] = _usage(
                (usage.prompt_eval_count or 0) if usage else 0,
                (usage.eval_count or 0) if usage else 0,
            )
            if cut:
                body["incomplete_details"] = {"reason": "max_output_tokens"}
            self.on_done("".join(self.text), self.calls)
            kind = "response.incomplete" if cut else "response.completed"
            out.append(self._event(kind, response=body))
        return out

    def error(self, body: dict[str, Any]) -> bytes:
        """An ``error`` event for a failure once the stream has started."""
        error = body.get("error", {})
        return self._event(
            "error",
            code=error.get("code"),
            message=error.get("message", "error"),
            param=error.get("param"),
        )
