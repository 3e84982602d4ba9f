"""Messages, tools and tool calls in Ollama's JSON shape."""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["system", "user", "assistant", "tool"]


class ToolCallFunction(BaseModel):
    """The function part of a tool call: its name and parsed JSON arguments."""

    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    index: int | None = None


class ToolCall(BaseModel):
    """A call the model asked for (``{"function": {"name", "arguments"}}``)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    function: ToolCallFunction


class ToolFunction(BaseModel):
    """A function offered to the model: name, description, JSON-schema parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Tool(BaseModel):
    """A tool offered to the model (``{"type": "function", "function": {...}}``)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["function"] = "function"
    function: ToolFunction


class Message(BaseModel):
    """One chat message.

    ``images`` holds base64 strings (bytes are encoded for you); ``tool_name``
    (Ollama) or ``tool_call_id`` (OpenAI) tie a ``tool`` message to its call.
    """

    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str = ""
    thinking: str | None = None
    images: list[str] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None

    @field_validator("images", mode="before")
    @classmethod
    def _encode_images(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [
                base64.b64encode(bytes(item)).decode("ascii")
                if isinstance(item, bytes | bytearray | memoryview)
                else item
                for item in value
            ]
        return value
