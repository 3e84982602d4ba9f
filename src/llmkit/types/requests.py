"""Chat, generate and embed requests in Ollama's JSON shape.

An Ollama ``/api/chat``, ``/api/generate`` or ``/api/embed`` body validates as
it is.  Unknown keys are errors that name the key, as with :class:`Options`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmkit.types.messages import Message, Tool
from llmkit.types.options import Options

ThinkLevel = Literal["low", "medium", "high"]
Format = Literal["json"] | dict[str, Any]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    """The model; ``None`` lets the backend use its default."""
    options: Options | None = None
    keep_alive: str | float | None = None
    stream: bool | None = None


class ChatRequest(_Request):
    """An ``/api/chat`` body."""

    messages: list[Message] = Field(default_factory=list)
    tools: list[Tool] | None = None
    format: Format | None = None
    think: bool | ThinkLevel | None = None
    truncate: bool | None = None
    shift: bool | None = None


class GenerateRequest(_Request):
    """An ``/api/generate`` body (``raw`` skips the template; ``suffix`` is fill-in-the-middle)."""

    prompt: str = ""
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    context: list[int] | None = None
    raw: bool | None = None
    format: Format | None = None
    images: list[str] | None = None
    think: bool | ThinkLevel | None = None
    truncate: bool | None = None
    shift: bool | None = None


class EmbedRequest(_Request):
    """An ``/api/embed`` body."""

    input: str | list[str]
    truncate: bool | None = None
    dimensions: int | None = Field(default=None, ge=1)
