"""Mistral's calls (pure), in both of its shapes:

* v3 (Mistral 7B v0.3, Nemo, Ollama's template): ``[TOOL_CALLS] [{"name": ..., "arguments":
  ..., "id": ...}, ...]``, read as JSON call objects;
* v11+ (Small 3.2, Magistral, Devstral, Ministral 3): ``[TOOL_CALLS]name[ARGS]{...}``,
  optionally ``name[CALL_ID]id[ARGS]{...}``, one ``[TOOL_CALLS]`` per call.

There is no closing tag: a call ends with its JSON.
"""

from __future__ import annotations

import re

from llmkit.tools.formats.base import (
    BlockHost,
    CallParts,
    Failure,
    Opener,
    Stream,
    ToolCallFormat,
    decode_arguments,
)
from llmkit.tools.formats.json_tagged import JsonBlock
from llmkit.tools.scan import JsonScanner
from llmkit.tools.tags import NEED_MORE

__all__ = ["MISTRAL", "MistralBlock"]

TAG = "[TOOL_CALLS]"
_NAME_RUN = re.compile(r"[A-Za-z0-9_.\-]+")
_ID_RUN = re.compile(r"[A-Za-z0-9_\-]+")
_WS = re.compile(r"[ \t\n\r]+")
MAX_NAME = 256
"""Longer function names or call ids are not taken for one."""

_START, _NAME, _ID, _ARGS, _VALUE = range(5)
_JSON_OPENER = Opener((TAG,))


class MistralBlock:
    """Reads what follows one ``[TOOL_CALLS]``."""

    def __init__(self, host: BlockHost, opener: Opener, tag_raw: str) -> None:
        del opener  # one shape of block only
        self.done = False
        self._host = host
        self._raw = [tag_raw]
        self._state = _START
        self._name = ""
        self._id = ""
        self._json: JsonBlock | None = None
        self._scanner: JsonScanner | None = None
        self._value_at = 0

    def feed(self, text: str, pos: int) -> int:
        """Consume ``text[pos:]`` as far as it can be decided; returns where it stopped."""
        n = len(text)
        if self._state == _NAME:  # a piece of the name, kept short
            match = _NAME_RUN.match(text, pos)
            if match is not None and match.end() == n:
                word = text[pos:]
                self._raw.append(word)
                self._name += word
                if len(self._name) > MAX_NAME:
                    return self._fail(Failure("missing_name", "the function name is too long"), n)
                return n
        if self._state == _VALUE:  # the common case, kept short: a piece of the arguments
            scanner = self._scanner
            assert scanner is not None
            new = scanner.send((text, pos))
            if not scanner.stop:  # no news: the piece is more of the arguments
                if new > pos:
                    piece = text[pos:new]
                    self._raw.append(piece)
                    self._host.arguments_delta(piece)
                return new
            return self._value_end(text, pos, new)
        while pos < n and not self.done:
            if self._json is not None:
                pos = self._json.feed(text, pos)
                self.done = self._json.done
                return pos
            state = self._state
            if state in (_START, _ARGS):
                match = _WS.match(text, pos)
                if match:
                    self._raw.append(match.group())
                    pos = match.end()
                    if pos == n:
                        break
                char = text[pos]
                if state == _START and char in "[{":
                    self._json = JsonBlock(self._host, _JSON_OPENER, "".join(self._raw))
                elif state == _START and _NAME_RUN.match(char):
                    self._state = _NAME
                elif state == _ARGS and char == "{":
                    self._scanner = JsonScanner()
                    self._state = _VALUE
                    self._value_at = len(self._raw)
                else:
                    wanted = "a JSON list or a function name" if state == _START else "'{'"
                    return self._fail(
                        Failure(
                            "invalid_json" if state == _START else "invalid_arguments",
                            f"expected {wanted} after {TAG if state == _START else '[ARGS]'}, "
                            f"found {char!r}",
                        ),
                        pos,
                    )
            elif state in (_NAME, _ID):
                pos = self._word(text, pos)
                if self.done or pos == n:
                    break
                new = self._marker(text, pos)
                if new == NEED_MORE:
                    break
                pos = new
            else:
                pos = self._value(text, pos)
        return pos

    def stream(self) -> Stream | None:
        """See :meth:`BlockBase.stream`: inside the arguments, each piece a delta."""
        if self._json is not None:
            return self._json.stream()
        scanner = self._scanner
        if (
            self._state != _VALUE
            or self.done
            or scanner is None
            or scanner.done
            or scanner.error is not None
        ):
            return None
        scanner.stop = False
        return scanner.send, scanner, self._raw.append, True

    def resume(self, text: str, pos: int, new: int) -> int:
        """See :meth:`BlockBase.resume`."""
        if self._json is not None:
            new = self._json.resume(text, pos, new)
            self.done = self._json.done
            return new
        return self._value_end(text, pos, new)

    def _word(self, text: str, pos: int) -> int:
        """Read the function name (or call id) as far as it goes."""
        naming = self._state == _NAME
        match = (_NAME_RUN if naming else _ID_RUN).match(text, pos)
        if match is None:
            return pos
        word = match.group()
        self._raw.append(word)
        if naming:
            self._name += word
        else:
            self._id += word
        pos = match.end()
        if len(self._name) > MAX_NAME or len(self._id) > MAX_NAME:
            return self._fail(Failure("missing_name", "the function name is too long"), pos)
        return pos

    def _marker(self, text: str, pos: int) -> int:
        """After the name: ``[ARGS]`` (or ``[CALL_ID]``); consumes nothing while undecided."""
        naming = self._state == _NAME
        rest = text[pos : pos + 9]  # as long as the longest marker
        marker = ""
        if rest.startswith("[ARGS]"):
            marker = "[ARGS]"
        elif naming and rest.startswith("[CALL_ID]"):
            marker = "[CALL_ID]"
        if marker:
            if naming and not self._name:
                return self._fail(Failure("missing_name", f"{TAG} has no function name"), pos)
            self._raw.append(marker)
            if marker == "[CALL_ID]":
                self._state = _ID
            else:
                self._host.start_call(self._name)
                self._state = _ARGS
            return pos + len(marker)
        if (len(rest) < 6 and "[ARGS]".startswith(rest)) or (
            naming and len(rest) < 9 and "[CALL_ID]".startswith(rest)
        ):  # the text ends inside a marker
            return NEED_MORE
        return self._fail(
            Failure("not_a_call", f"a function name after {TAG} must be followed by [ARGS]"), pos
        )

    def _value(self, text: str, pos: int) -> int:
        scanner = self._scanner
        assert scanner is not None
        return self._value_end(text, pos, scanner.feed(text, pos))

    def _value_end(self, text: str, pos: int, new: int) -> int:
        """The scanner has read ``text[pos:new]`` of the arguments."""
        scanner = self._scanner
        assert scanner is not None
        if new > pos:
            self._raw.append(text[pos:new])
        if scanner.error is not None:
            return self._fail(Failure("invalid_json", f"not JSON: {scanner.error}"), new)
        if new > pos:
            self._host.arguments_delta(text[pos:new])
        if scanner.done:
            raw = "".join(self._raw)
            arguments = decode_arguments("".join(self._raw[self._value_at :]))
            if isinstance(arguments, Failure):
                return self._fail(arguments, new)
            self._host.complete_call(CallParts(self._name, arguments, self._id or None), raw)
            self.done = True
        return new

    def _fail(self, failure: Failure, pos: int) -> int:
        self._host.fail(failure, "".join(self._raw))
        self._raw = []
        self.done = True
        return pos

    def finish(self, text: str, pos: int) -> None:
        """The output ended; ``text[pos:]`` is what was held back."""
        if self._json is not None:
            self._json.finish(text, pos)
            return
        self._raw.append(text[pos:])
        self._fail(Failure("truncated", "the output ended inside a tool call"), pos)


MISTRAL = ToolCallFormat("mistral", (Opener((TAG,), payload="mistral"),))
"""Mistral: ``[TOOL_CALLS] [...]`` or ``[TOOL_CALLS]name[ARGS]{...}``."""
