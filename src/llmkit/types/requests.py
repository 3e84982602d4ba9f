"""Chat, generate and embed requests in Ollama's JSON shape.

An Ollama ``/api/chat``, ``/api/generate`` or ``/api/embed`` body validates as
it is.  Unknown keys are errors that name the key, as with :class:`Options`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmkit.types.messages import Message, Tool
from llmkit.types.options import Options

ThinkLevel = Literal["low", "medium", "high"]
Format = Literal["json"] | dict[str, Any]
ToolChoice = Literal["auto", "none", "required"] | str
"""``auto``: the model chooses; ``none``: no tool is offered; ``required``: the model must
call one of the tools; any other string: the model must call the tool of that name."""


_MAX_KEEP_ALIVE_SECONDS = 9_223_372_036.0


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    """The model; ``None`` lets the backend use its default."""
    options: Options | None = None
    keep_alive: str | float | None = None
    """How long the model stays loaded after the request: seconds, or a Go duration such as
    ``"5m"``; 0 unloads at once, a negative value keeps it loaded."""
    stream: bool | None = None

    @field_validator("keep_alive")
    @classmethod
    def _bounded_keep_alive(cls, value: str | float | None) -> str | float | None:
        # A Go duration holds at most about 292 years (int64 nanoseconds), as Ollama's does.
        number: float | None = None
        if isinstance(value, float | int):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())  # "300", "inf", "1e20"; "5m" is Go's form
            except ValueError:
                number = None
        if number is not None and not (
            math.isfinite(number) and abs(number) <= _MAX_KEEP_ALIVE_SECONDS
        ):
            raise ValueError(
                f"must be a finite number of seconds of at most {_MAX_KEEP_ALIVE_SECONDS:.0f} "
                f"(a Go duration's range), got {value!r}"
            )
        if isinstance(value, str) and len(value) > 64:
            raise ValueError("must be a duration such as '5m' (at most 64 characters)")
        return value


class ChatRequest(_Request):
    """An ``/api/chat`` body."""

    messages: list[Message] = Field(default_factory=list)
    tools: list[Tool] | None = None
    format: Format | None = None
    think: bool | ThinkLevel | None = None
    truncate: bool | None = None
    shift: bool | None = None
    logprobs: bool | None = None
    """Return each generated token's log probability (Ollama's and OpenAI's name)."""
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    """With ``logprobs``: also the likeliest this many tokens at each position."""
    tool_choice: ToolChoice | None = None
    """llmkit's own field (OpenAI's ``tool_choice``, not Ollama's); ``None`` is ``auto``."""

    @model_validator(mode="after")
    def _check_tool_choice(self) -> ChatRequest:
        choice = self.tool_choice
        if choice is None or choice in ("auto", "none"):
            return self
        names = [tool.function.name for tool in self.tools or []]
        if not names:
            raise ValueError(f"tool_choice={choice!r} needs tools to choose from")
        if choice != "required" and choice not in names:
            raise ValueError(
                f"tool_choice={choice!r} is not one of the offered tools ({', '.join(names)})"
            )
        return self

    def offered_tools(self) -> list[Tool] | None:
        """The tools the model is offered: none for ``tool_choice="none"``, else ``tools``
        (a named tool is forced by the backend, the others are still shown)."""
        return None if self.tool_choice == "none" else self.tools


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
    logprobs: bool | None = None
    """Return each generated token's log probability (Ollama's and OpenAI's name)."""
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    """With ``logprobs``: also the likeliest this many tokens at each position."""


class EmbedRequest(_Request):
    """An ``/api/embed`` body."""

    input: str | list[str]
    truncate: bool | None = None
    dimensions: int | None = Field(default=None, ge=1)
