"""Calls written as JSON objects after a tag (pure): Hermes/Qwen ``<tool_call>``,
Nemotron ``<toolcall>``, Granite and Phi-4 ``<|tool_call|>``, Firefunction
``functools[``, Command-R ``Action: ```json``, Llama 3.x JSON, and the formats derived
from Ollama templates.

A block holds one or more call objects, or lists of them, separated by whitespace,
``,`` or ``;`` (or nothing: Ollama's mistral, firefunction and command-r templates
write objects back to back). A call object has a string name (``name``; Command-R:
``tool_name``) and its arguments under ``arguments``, else ``parameters``: an object,
or a string holding one.
"""

from __future__ import annotations

from llmkit.tools.formats.base import (
    AFTER,
    BEFORE,
    VALUE,
    BlockBase,
    BlockHost,
    CallShape,
    Failure,
    Opener,
    Stream,
    ToolCallFormat,
    decode_json,
    interpret_call,
)
from llmkit.tools.scan import JsonScanner
from llmkit.tools.tags import MAX_GAP, NEED_MORE

__all__ = [
    "COMMAND_R",
    "FIREFUNCTION",
    "GRANITE",
    "HERMES",
    "LLAMA3_JSON",
    "NEMOTRON",
    "PHI4",
    "JsonBlock",
]


class JsonBlock(BlockBase):
    """Reads a block of JSON call objects, streaming each call's arguments."""

    def __init__(self, host: BlockHost, opener: Opener, tag_raw: str) -> None:
        super().__init__(host, opener, tag_raw)
        self._shape = opener.shape
        self._in_opener_list = opener.elements
        self._in_item_list = False
        self._list_items = 0
        self._scanner: JsonScanner | None = None
        self._announced = False
        self._streaming = False  # inside the arguments object, all of it streamed so far

    def feed(self, text: str, pos: int) -> int:
        """See :meth:`BlockBase.feed`; a piece inside a call's arguments, the common case,
        takes a short way."""
        if self._state == VALUE:
            scanner = self._scanner
            assert scanner is not None
            new = scanner.send((text, pos))
            if not scanner.stop:  # no news: before the name or the arguments, or inside them
                if new > pos:
                    piece = text[pos:new]
                    self._value.append(piece)
                    if self._streaming:
                        self._host.arguments_delta(piece)
                return new
            return self.resume(text, pos, new)
        return BlockBase.feed(self, text, pos)

    def stream(self) -> Stream | None:
        """See :meth:`BlockBase.stream`: inside a call object until its name or its
        arguments start (no events), and inside its arguments (each piece a delta)."""
        scanner = self._scanner
        if (
            self._state != VALUE
            or scanner is None
            or scanner.done
            or scanner.error is not None
            or scanner.args_end is not None
            or not (
                self._streaming
                or (scanner.args_start is None and (self._announced or scanner.name is None))
            )
        ):
            return None
        scanner.stop = False
        return scanner.send, scanner, self._value.append, self._streaming

    def resume(self, text: str, pos: int, new: int) -> int:
        """See :meth:`BlockBase.resume`."""
        scanner = self._scanner
        assert scanner is not None
        new = self._scanned(text, pos, new, scanner.consumed - (new - pos))
        if new == len(text) or self.done:
            return new
        return BlockBase.feed(self, text, new)

    # -- between values ---------------------------------------------------------------

    def _before(self, text: str, pos: int) -> int:
        char = text[pos]
        in_list = self._in_opener_list or self._in_item_list
        if char == "{":
            self._start_value()
            self._scanner = JsonScanner(
                name_keys=self._shape.name_keys, args_keys=self._shape.args_keys
            )
            self._announced = False
            self._streaming = False
            self._list_items += 1
            return pos
        if char == "[" and not in_list:
            # A list of calls only if an object (or its end) follows: "[TOOL_CALLS]" after
            # a block, or "[1]", is not one.
            j = pos + 1
            while j < len(text) and j - pos <= MAX_GAP and text[j] in " \t\n\r":
                j += 1
            if j == len(text) and j - pos <= MAX_GAP:
                return NEED_MORE
            if j < len(text) and text[j] in "{]":
                self._in_item_list = True
                self._list_items = 0
                self._gap.append("[")
                return pos + 1
        if char == "]" and in_list:
            if not self._list_items:
                return self._fail(Failure("empty", "the list of calls is empty"), text, pos)
            self._state = AFTER  # a trailing comma: the list ends here
            return pos
        if not self._calls:
            return self._fail(
                Failure("invalid_json", f"expected a JSON object, found {char!r}"), text, pos
            )
        self._end()
        return pos

    def _after_char(self, text: str, pos: int) -> int | None:
        char = text[pos]
        if char in ",;":
            self._gap.append(char)
            self._state = BEFORE
            return pos + 1
        if char == "{" or (char == "[" and not (self._in_opener_list or self._in_item_list)):
            self._state = BEFORE
            return pos
        if char == "]" and self._in_item_list:
            self._attach("]")
            self._in_item_list = False
            return pos + 1
        return None

    def _silent(self) -> bool:
        opener = self._opener
        return (
            opener.position_bound
            and not self._calls
            and len("".join(opener.pieces)) <= 1
            and (self._scanner is None or not self._scanner.keys_seen)
        )

    # -- inside a value ---------------------------------------------------------------

    def _value_feed(self, text: str, pos: int) -> int:
        scanner = self._scanner
        assert scanner is not None
        before = scanner.consumed
        return self._scanned(text, pos, scanner.feed(text, pos), before)

    def _scanned(self, text: str, pos: int, new: int, before: int) -> int:
        """The scanner has read ``text[pos:new]``, from ``before`` in the value."""
        scanner = self._scanner
        assert scanner is not None
        if new > pos:
            self._value.append(text[pos:new])
        start = scanner.args_start
        if start is not None or (not self._announced and scanner.name is not None):
            # Report the call's start, and the part of its arguments this piece holds.
            if not self._announced:
                self._announced = True
                self._host.start_call(scanner.name)
            if start is not None:
                end = scanner.args_end if scanner.args_end is not None else scanner.consumed
                low = max(start, before)  # what earlier pieces held was reported with them
                if low < end:
                    self._host.arguments_delta(text[pos + low - before : pos + end - before])
                self._streaming = scanner.args_end is None
        if scanner.error is not None:  # after the report above, so that no cut changes it
            self._streaming = False
            return self._fail(Failure("invalid_json", f"not JSON: {scanner.error}"), text, new)
        if not scanner.done:
            return new
        raw = "".join(self._value)
        decoded = decode_json(raw)
        parts = decoded if isinstance(decoded, Failure) else interpret_call(decoded, self._shape)
        if isinstance(parts, Failure):
            return self._fail(parts, text, new)
        self._host.start_call(parts.name)
        self._value_complete(parts, raw)
        return new


_COMMAND_R = CallShape(name_keys=("tool_name",), id_keys=("tool_call_id",))

HERMES = ToolCallFormat("hermes", (Opener(("<tool_call>",), ("</tool_call>",)),))
"""Hermes 2/3, Qwen 2.5/3: ``<tool_call>{"name": ..., "arguments": ...}</tool_call>``."""

NEMOTRON = ToolCallFormat(
    "nemotron",
    (
        Opener(("<toolcall>",), ("</toolcall>",)),
        Opener(("<TOOLCALL>",), ("</TOOLCALL>",)),
    ),
)
"""Nemotron: ``<toolcall> {...} </toolcall>`` (Ollama's template) or
``<TOOLCALL>[...]</TOOLCALL>``."""

GRANITE = ToolCallFormat("granite", (Opener(("<|tool_call|>",)),))
"""Granite 3.x: ``<|tool_call|>[{"name": ..., "arguments": ...}]``, no closing tag."""

PHI4 = ToolCallFormat(
    "phi4",
    (Opener(("<|tool_call|>",), ("<|/tool_call|>",)), Opener(("functools", "["), ("]",))),
)
"""Phi-4-mini: ``<|tool_call|>[...]<|/tool_call|>`` (its model card), or ``functools[...]``
(the Firefunction-style prompt vLLM and SGLang give it)."""

FIREFUNCTION = ToolCallFormat("firefunction", (Opener(("functools", "["), ("]",)),))
"""Firefunction v2: ``functools[{"name": ..., "arguments": ...}, ...]``."""

COMMAND_R = ToolCallFormat(
    "command_r",
    (
        Opener(("Action:", "```json", "["), ("]", "```"), shape=_COMMAND_R),
        Opener(("Action:", "```", "["), ("]", "```"), shape=_COMMAND_R),
        Opener(("<|START_ACTION|>",), ("<|END_ACTION|>",), shape=_COMMAND_R),
    ),
)
"""Command-R/R+: ``Action: ```json [{"tool_name": ..., "parameters": ...}] ````; Command R7B:
``<|START_ACTION|>[...]<|END_ACTION|>``."""

LLAMA3_JSON = ToolCallFormat(
    "llama3_json",
    (Opener((), position_bound=True), Opener(("<|python_tag|>",))),
)
"""Llama 3.1-3.3: ``{"name": ..., "parameters": ...}`` at the start of the output (several
separated by ``;``, or a list of them), or after ``<|python_tag|>`` anywhere."""
