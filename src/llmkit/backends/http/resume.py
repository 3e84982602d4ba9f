"""What a cut-off stream had produced, for resuming it (pure).

An HTTP backend with ``resume_interrupted=N`` watches its events through a
:class:`PartialOutput`; when the connection breaks after output has arrived,
the partial text goes back to the server as an assistant prefill (or, for a
raw completion, joins the prompt) and the stream goes on.  A stream that had
produced a tool call is not resumed: the call may already be acted on, and
nor is one whose whole-call deadline passed (the deadline spans the resumes).
"""

from __future__ import annotations

from llmkit.errors import RemoteTimeoutError
from llmkit.types.events import StreamEvent, TextDelta, ThinkingDelta, ToolCallEvent

__all__ = ["PartialOutput", "gives_up"]


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
