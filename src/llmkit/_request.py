"""Turning a client call's arguments into a validated request (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from llmkit.errors import InvalidRequestError
from llmkit.tools.functions import FunctionTool, as_tool
from llmkit.types.messages import Message, Tool
from llmkit.types.options import Options
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest

__all__ = ["MessageLike", "OptionsLike", "RequestBuilder", "ToolLike"]

MessageLike = Message | Mapping[str, Any]
ToolLike = Tool | Mapping[str, Any] | FunctionTool[..., Any] | type[BaseModel] | Callable[..., Any]
"""A tool in any form: a ``Tool`` or its dict, a ``@tool`` object, a function, a pydantic
model class, or a JSON-schema / function-declaration dict (see ``llmkit.tools.as_tool``)."""
OptionsLike = Options | Mapping[str, Any]

RequestT = TypeVar("RequestT", bound=BaseModel)


def _validate(cls: type[RequestT], data: dict[str, Any]) -> RequestT:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError.from_validation_error(exc) from exc


def _dump(value: BaseModel | Mapping[str, Any]) -> Any:
    return value.model_dump(exclude_unset=True) if isinstance(value, BaseModel) else dict(value)


def _tool_data(tool: ToolLike, index: int) -> Any:
    """One entry of ``tools=[...]`` in the request's JSON shape; errors name ``tools.N``."""
    if isinstance(tool, Tool) or (isinstance(tool, Mapping) and "function" in tool):
        return _dump(tool)  # already the wire shape: ChatRequest validates it
    try:
        return as_tool(tool).to_tool().model_dump(exclude_unset=True)
    except InvalidRequestError as exc:
        raise InvalidRequestError(
            f"tools.{index}: {exc}",
            fields=[f"tools.{index}", *(f"tools.{index}.{f}" for f in exc.fields)],
            errors=exc.errors,
        ) from exc


def coerce_options(options: OptionsLike | None) -> Options | None:
    """Validate options given as a model or a dict; errors name ``options.FIELD``."""
    if options is None or isinstance(options, Options):
        return options
    try:
        return Options.model_validate(dict(options))
    except ValidationError as exc:
        raise InvalidRequestError.from_validation_error(exc, prefix="options") from exc


class RequestBuilder:
    """Holds a client's defaults and builds each call's request from them."""

    def __init__(self, model: str | None, options: OptionsLike | None) -> None:
        self.model = model
        self.options = coerce_options(options)

    def _common(
        self, model: str | None, options: OptionsLike | None, extra: dict[str, Any]
    ) -> dict[str, Any]:
        merged = (
            self.options.merged(coerce_options(options))
            if self.options
            else coerce_options(options)
        )
        data = {key: value for key, value in extra.items() if value is not None}
        data["model"] = model or self.model
        if merged is not None:
            data["options"] = merged
        return data

    def chat(
        self,
        messages: Sequence[MessageLike] | None,
        *,
        model: str | None,
        tools: Sequence[ToolLike] | None,
        options: OptionsLike | None,
        **fields: Any,
    ) -> ChatRequest:
        if isinstance(messages, str):
            raise InvalidRequestError(
                "messages: expected a list of messages, got a string; "
                'use [{"role": "user", "content": ...}] or generate() for a plain prompt',
                fields=["messages"],
            )
        data = self._common(model, options, fields)
        data["messages"] = [_dump(m) for m in messages or []]
        if tools is not None:
            data["tools"] = [_tool_data(t, i) for i, t in enumerate(tools)]
        return _validate(ChatRequest, data)

    def generate(
        self, prompt: str, *, model: str | None, options: OptionsLike | None, **fields: Any
    ) -> GenerateRequest:
        data = self._common(model, options, fields)
        data["prompt"] = prompt
        return _validate(GenerateRequest, data)

    def embed(
        self,
        input: str | Sequence[str],
        *,
        model: str | None,
        options: OptionsLike | None,
        **fields: Any,
    ) -> EmbedRequest:
        data = self._common(model, options, fields)
        data["input"] = input if isinstance(input, str) else list(input)
        return _validate(EmbedRequest, data)
