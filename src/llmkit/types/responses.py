"""Responses and usage, with the token counts and durations Ollama reports."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

from llmkit.types.messages import Message

DoneReason = Literal["stop", "length", "cancelled", "tool_calls"] | str


class _Counts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class TopLogprob(BaseModel):
    """One of the likeliest tokens at a position, and its log probability."""

    model_config = ConfigDict(frozen=True)

    token: str
    logprob: float
    bytes: list[int] | None = None
    """The token's UTF-8 bytes (a token may hold part of a character)."""


class TokenLogprob(TopLogprob):
    """A generated token's log probability (natural log, under the model's own distribution
    before sampling), with the ``top_logprobs`` likeliest tokens at its position when asked."""

    top_logprobs: list[TopLogprob] | None = None


class Usage(_Counts):
    """Token counts and durations (nanoseconds), named as Ollama names them."""

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed, from ``eval_count`` and ``eval_duration``."""
        if not self.eval_count or not self.eval_duration:
            return None
        return self.eval_count / (self.eval_duration / 1e9)


class _Timed(_Counts):
    model: str | None = None
    created_at: str | None = None
    done: bool | None = None
    done_reason: DoneReason | None = None
    _parsed: Any = PrivateAttr(default=None)

    @property
    def parsed(self) -> Any:
        """The validated output of a request made with ``format``: an instance of the
        pydantic model given as ``format``, else the decoded JSON value; ``None`` without
        ``format`` (or for a stream).  Not part of the response's JSON."""
        return self._parsed

    @property
    def usage(self) -> Usage:
        """The counts and durations of this response as one :class:`Usage`."""
        return Usage.model_validate(self.model_dump(include=set(_Counts.model_fields)))


class ChatResponse(_Timed):
    """An ``/api/chat`` response (or the final, accumulated one of a stream)."""

    message: Message
    dropped_messages: list[int] | None = None
    logprobs: list[TokenLogprob] | None = None
    """Each generated token's log probability, when the request asked (``logprobs``)."""
    """Indexes of the request's messages dropped to fit ``num_ctx`` (llmkit's own field,
    not Ollama's); ``None``, and so left out of ``exclude_none`` dumps, when none were."""

    @property
    def text(self) -> str:
        """The assistant's text."""
        return self.message.content


class GenerateResponse(_Timed):
    """An ``/api/generate`` response."""

    response: str = ""
    thinking: str | None = None
    context: list[int] | None = None
    logprobs: list[TokenLogprob] | None = None
    """Each generated token's log probability, when the request asked (``logprobs``)."""

    @property
    def text(self) -> str:
        """The generated text."""
        return self.response


class EmbedResponse(BaseModel):
    """An ``/api/embed`` response: one vector per input."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    embeddings: list[list[float]]
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
