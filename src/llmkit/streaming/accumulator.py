"""Turn stream events into the final response (pure, no I/O).

The same accumulator builds the answer of a streamed call and of a
non-streamed one, so the two always agree.
"""

from __future__ import annotations

from llmkit.types.events import Done, StreamEvent, TextDelta, ThinkingDelta, ToolCallEvent
from llmkit.types.messages import Message, ToolCall
from llmkit.types.responses import ChatResponse, GenerateResponse, TokenLogprob


class _Accumulator:
    def __init__(self, model: str | None = None) -> None:
        self.model = model
        self.texts: list[str] = []
        """The text pieces so far; a stream's hot loop appends a :class:`TextDelta`'s here."""
        self._thinking: list[str] = []
        self.tool_calls: list[ToolCall] = []
        self.done: Done | None = None
        self.logprobs: list[TokenLogprob] | None = None
        self._other_events = 0

    @property
    def event_count(self) -> int:
        """How many events were taken (each text piece is one)."""
        return len(self.texts) + self._other_events

    def add(self, event: StreamEvent) -> None:
        """Take one event into the response."""
        if isinstance(event, TextDelta):
            self.texts.append(event.text)
            if event.logprobs is not None:
                if self.logprobs is None:
                    self.logprobs = []
                self.logprobs.extend(event.logprobs)
            return
        self._other_events += 1
        if isinstance(event, ThinkingDelta):
            self._thinking.append(event.text)
        elif isinstance(event, ToolCallEvent):
            self.tool_calls.append(event.call)
        elif isinstance(event, Done):
            self.done = event
            if event.model is not None:
                self.model = event.model

    @property
    def text(self) -> str:
        """The text so far."""
        return "".join(self.texts)

    @property
    def thinking(self) -> str | None:
        """The reasoning so far, or ``None`` when there was none."""
        return "".join(self._thinking) if self._thinking else None

    def _common(self) -> dict[str, object]:
        done = self.done
        fields: dict[str, object] = {"model": self.model, "done": done is not None}
        if done is not None:
            fields["done_reason"] = done.done_reason
            fields["created_at"] = done.created_at
            fields.update(done.usage.model_dump(exclude_none=True))
        if self.logprobs is not None:
            fields["logprobs"] = self.logprobs
        return fields


class ChatAccumulator(_Accumulator):
    """Builds a :class:`ChatResponse` from chat events."""

    def response(self) -> ChatResponse:
        """The response so far (``done`` is ``False`` until a :class:`Done` arrived)."""
        message = Message(
            role="assistant",
            content=self.text,
            thinking=self.thinking,
            tool_calls=list(self.tool_calls) or None,
        )
        fields = self._common()
        if self.done is not None and self.done.dropped_messages is not None:
            fields["dropped_messages"] = self.done.dropped_messages
        return ChatResponse.model_validate({**fields, "message": message})


class GenerateAccumulator(_Accumulator):
    """Builds a :class:`GenerateResponse` from generate events."""

    def response(self) -> GenerateResponse:
        """The response so far (``done`` is ``False`` until a :class:`Done` arrived)."""
        fields = self._common()
        if self.done is not None and self.done.context is not None:
            fields["context"] = self.done.context
        return GenerateResponse.model_validate(
            {**fields, "response": self.text, "thinking": self.thinking}
        )
