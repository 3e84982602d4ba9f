"""The one vocabulary of stream events every backend yields.

A backend turns its raw output into these; the accumulator
(:mod:`llmkit.streaming.accumulator`) turns them into the final response, so
a streamed and a non-streamed call can never disagree.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmkit.types.messages import ToolCall
from llmkit.types.responses import TokenLogprob, Usage


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TextDelta(_Event):
    """A piece of the answer's text."""

    type: Literal["text"] = "text"
    text: str
    logprobs: list[TokenLogprob] | None = None
    """The log probabilities of the tokens this text came from (when asked)."""


_SHARED_DELTAS: dict[str, TextDelta] = {}


def text_delta(text: str) -> TextDelta:
    """A :class:`TextDelta` of ``text``; short ones are shared, as events are immutable.

    A stream's pieces are tokens, and tokens repeat (``" the"``, ``","``):
    handing out one frozen event per distinct short text spares building a
    model per token.  The table is bounded and simply cleared when full.
    """
    delta = _SHARED_DELTAS.get(text)
    if delta is None:
        delta = TextDelta(text=text)
        if len(text) <= 32:
            if len(_SHARED_DELTAS) >= 16384:
                _SHARED_DELTAS.clear()
            _SHARED_DELTAS[text] = delta
    return delta


class ThinkingDelta(_Event):
    """A piece of the model's reasoning, kept apart from the answer."""

    type: Literal["thinking"] = "thinking"
    text: str


class ToolCallEvent(_Event):
    """A complete tool call.

    ``unknown`` is true when the model called a tool that the request did not offer
    (every backend flags these the same way; :func:`~llmkit.agent.run_tools` answers
    them with an error that lists the offered tools). ``raw`` is the call's text as the
    model wrote it, where llmkit parsed the call from raw output (in-process runtimes),
    else ``None``.
    """

    type: Literal["tool_call"] = "tool_call"
    call: ToolCall
    unknown: bool = False
    raw: str | None = None


class Done(_Event):
    """The end of a response: why it ended, and its usage."""

    type: Literal["done"] = "done"
    done_reason: str = "stop"
    model: str | None = None
    created_at: str | None = None
    usage: Usage = Field(default_factory=Usage)
    context: list[int] | None = None
    dropped_messages: list[int] | None = None
    """Indexes of the request's messages dropped to fit ``num_ctx`` (``None``: none were)."""


StreamEvent = Annotated[
    TextDelta | ThinkingDelta | ToolCallEvent | Done, Field(discriminator="type")
]
