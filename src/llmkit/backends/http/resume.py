"""What a cut-off stream had produced, for resuming it (pure).

An HTTP backend with ``resume_interrupted=N`` watches its events through a
:class:`PartialOutput`; when the connection breaks after output has arrived,
the partial text goes back to the server as an assistant prefill (or, for a
raw completion, joins the prompt) and the stream goes on.  A stream that had
produced a tool call is not resumed: the call may already be acted on, and
nor is one whose whole-call deadline passed (the deadline spans the resumes).

The loop itself, shared by the Ollama and OpenAI backends, is
:func:`llmkit.backends.http._async.resume.resuming` (and its sync twin); what
it decides comes from :meth:`PartialOutput.next_body` here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmkit.errors import RemoteTimeoutError
from llmkit.types.events import StreamEvent, TextDelta, ThinkingDelta, ToolCallEvent

__all__ = ["Continuation", "PartialOutput", "gives_up"]

#: The body that continues a cut-off answer from its request body and what it had
#: produced, or ``None`` when it cannot be continued.
Continuation = Callable[[dict[str, Any], "PartialOutput"], dict[str, Any] | None]


def gives_up(error: BaseException) -> bool:
    """Whether ``error`` ends the answer for good: the whole-call deadline has passed."""
    return isinstance(error, RemoteTimeoutError) and error.phase == "total"


class PartialOutput:
    """The text and reasoning seen so far, and whether a tool call was among them."""

    __slots__ = ("_text", "_thinking", "called", "resumes")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._thinking: list[str] = []
        self.called = False
        self.resumes = 0

    def observe(self, event: StreamEvent) -> None:
        """Take note of one event on its way to the caller."""
        if isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ThinkingDelta):
            self._thinking.append(event.text)
        elif isinstance(event, ToolCallEvent):
            self.called = True

    @property
    def text(self) -> str:
        """The answer's text so far."""
        return "".join(self._text)

    @property
    def thinking(self) -> str:
        """The reasoning so far."""
        return "".join(self._thinking)

    def resumable(self, limit: int) -> bool:
        """Whether another continuation is allowed and makes sense."""
        return self.resumes < limit and not self.called and bool(self._text or self._thinking)

    def next_body(
        self, error: BaseException, body: dict[str, Any], limit: int, continuation: Continuation
    ) -> dict[str, Any] | None:
        """The body that resumes the answer ``error`` cut off, or ``None`` to give up.

        Counts the resume when there is one.
        """
        if gives_up(error) or not self.resumable(limit):
            return None
        resumed = continuation(body, self)
        if resumed is not None:
            self.resumes += 1
        return resumed
