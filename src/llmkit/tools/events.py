"""What the tool-call parser reports as it reads a model's output (pure).

These are the parser's own events, finer than the stream vocabulary of
:mod:`llmkit.types.events`: a backend turns them into ``TextDelta``,
``ThinkingDelta`` and ``ToolCallEvent``.

Every character of the output ends up in exactly one of ``TextChunk.text``,
``ThinkingChunk.text``, ``Markup.raw`` or ``ToolCallComplete.raw``, in order, so
concatenating those reproduces the output exactly. ``ToolCallStart`` and
``ToolCallArgumentsDelta`` are progress reports on a call being read, and
``ParseProblem.raw`` repeats text that has already come out as ``TextChunk``.

They are frozen slotted dataclasses rather than pydantic models because a
response produces one or more per generated token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from llmkit.types.messages import ToolCall, ToolCallFunction

__all__ = [
    "Markup",
    "ParseProblem",
    "ParserEvent",
    "ProblemKind",
    "TextChunk",
    "ThinkingChunk",
    "ToolCallArgumentsDelta",
    "ToolCallComplete",
    "ToolCallStart",
]

ProblemKind = Literal[
    "invalid_json",
    "invalid_python",
    "missing_name",
    "invalid_arguments",
    "not_a_call",
    "empty",
    "truncated",
]
"""Why an attempted tool call failed:

* ``invalid_json`` / ``invalid_python``: the payload is not JSON / not a Python literal call list;
* ``missing_name``: a call object without a string name;
* ``invalid_arguments``: arguments that are neither an object nor a string holding one;
* ``not_a_call``: a well-formed value that is not a call (a number in a call list, say);
* ``empty``: an opening tag with no call after it (``[TOOL_CALLS] []``);
* ``truncated``: the output ended inside the payload.
"""


@dataclass(frozen=True, slots=True, init=False)
class TextChunk:
    """Answer text: everything that is not a tool call or thinking, verbatim."""

    text: str

    def __init__(self, text: str) -> None:
        _set_text(self, text)


@dataclass(frozen=True, slots=True)
class ThinkingChunk:
    """Reasoning text, from between the thinking tags."""

    text: str


@dataclass(frozen=True, slots=True)
class Markup:
    """Text the parser consumed as structure and that carries no content: thinking tags
    and the whitespace right after them (which Ollama drops). Reported so that nothing of
    the output is lost."""

    raw: str


@dataclass(frozen=True, slots=True, init=False)
class ToolCallStart:
    """A tool call is being read. ``name`` is ``None`` when its arguments come before its
    name. If the attempt fails, a ``ParseProblem`` with the same ``index`` follows and
    the index is used again by the next call."""

    index: int
    name: str | None

    def __init__(self, index: int, name: str | None) -> None:
        _set_start_index(self, index)
        _set_start_name(self, name)


@dataclass(frozen=True, slots=True, init=False)
class ToolCallArgumentsDelta:
    """A piece of a call's arguments as JSON text. For one index, the pieces concatenate
    to the arguments object: the model's own text when it wrote an object, else
    ``json.dumps`` of the decoded arguments, sent once just before the call completes.
    (When a call object has both ``arguments`` and ``parameters``, the pieces follow
    whichever came first, while the call takes ``arguments``.)"""

    index: int
    text: str

    def __init__(self, index: int, text: str) -> None:
        _set_delta_index(self, index)
        _set_delta_text(self, text)


# Several of these are made per generated token or call: their ``__init__`` sets the slots
# directly, which is cheaper than the ``object.__setattr__`` calls of a frozen dataclass.
_set_text = TextChunk.__dict__["text"].__set__
_set_delta_index = ToolCallArgumentsDelta.__dict__["index"].__set__
_set_delta_text = ToolCallArgumentsDelta.__dict__["text"].__set__
_set_start_index = ToolCallStart.__dict__["index"].__set__
_set_start_name = ToolCallStart.__dict__["name"].__set__


@dataclass(frozen=True, slots=True, init=False)
class ToolCallComplete:
    """A whole tool call.

    ``index`` counts the calls of one response from 0. ``id`` is the one the model wrote
    (Mistral's ``id`` or ``[CALL_ID]``, Command-R's ``tool_call_id``), else a generated
    ``call_`` id. ``unknown`` is true when the model called a tool that was not offered.
    ``raw`` is the call's span of the output: from its opening tag (or bracket) to the end
    of its closing markup, separators before it included.
    """

    index: int
    id: str
    name: str
    arguments: dict[str, Any] = field(hash=False)
    raw: str
    unknown: bool = False

    def __init__(
        self,
        index: int,
        id: str,
        name: str,
        arguments: dict[str, Any],
        raw: str,
        unknown: bool = False,
    ) -> None:
        set_index, set_id, set_name, set_arguments, set_raw, set_unknown = _COMPLETE_SETTERS
        set_index(self, index)
        set_id(self, id)
        set_name(self, name)
        set_arguments(self, arguments)
        set_raw(self, raw)
        set_unknown(self, unknown)

    def to_tool_call(self) -> ToolCall:
        """The call as llmkit's public :class:`~llmkit.types.ToolCall`."""
        return ToolCall(
            id=self.id,
            function=ToolCallFunction(
                name=self.name, arguments=dict(self.arguments), index=self.index
            ),
        )


_COMPLETE_SETTERS = tuple(
    getattr(ToolCallComplete, name).__set__
    for name in ("index", "id", "name", "arguments", "raw", "unknown")
)


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """Text that looked like a tool call and was not one. The text itself has already
    come out as ``TextChunk`` (``raw`` repeats it); ``index`` is that of the abandoned
    ``ToolCallStart``, if one was sent."""

    kind: ProblemKind
    reason: str
    raw: str
    index: int | None = None


ParserEvent = (
    TextChunk
    | ThinkingChunk
    | Markup
    | ToolCallStart
    | ToolCallArgumentsDelta
    | ToolCallComplete
    | ParseProblem
)
"""Any event :class:`~llmkit.tools.parser.ToolCallParser` yields."""
