"""Chat, generate and embed requests in Ollama's JSON shape.

An Ollama ``/api/chat``, ``/api/generate`` or ``/api/embed`` body validates as
it is.  Unknown keys are errors that name the key, as with :class:`Options`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmkit.types.messages import Message, Tool
from llmkit.types.options import Options

ThinkLevel = Literal["low", "medium", "high"]
Format = Literal["json"] | dict[str, Any]
ToolChoice = Literal["auto", "none", "required"] | str
"""``auto``: the model chooses; ``none``: no tool is offered; ``required``: the model must
call one of the tools; any other string: the model must call the tool of that name."""


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


class EmbedRequest(_Request):
    """An ``/api/embed`` body."""

    input: str | list[str]
    truncate: bool | None = None
    dimensions: int | None = Field(default=None, ge=1)
