"""Incremental scanners that find where a JSON value or a Python call list ends (pure).

Text arrives in pieces; a scanner is fed each piece once and keeps its state (depth,
inside a string, after a backslash, ...) between pieces, so the total work is linear in
the length of the value however it is split. Runs of string content, whitespace and
digits are skipped with regular expressions, so most characters are never looked at
one by one in Python.

:class:`JsonScanner` also checks the JSON grammar as it goes, so that text that is
not JSON is caught at its first wrong character rather than at the end of the output,
and it follows the top-level object of a tool call: its ``name`` as soon as that
string is complete, and where its arguments object starts and ends, so that the
arguments can be streamed.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

__all__ = ["JsonScanner", "PythonListScanner"]

_OBJ, _ARR = 0, 1
# What the JSON grammar expects next.
_VALUE, _VALUE_OR_END, _KEY_OR_END, _KEY, _COLON, _AFTER = range(6)
# Kinds of unfinished bare word: none, number, literal.
_NO_WORD, _NUMBER, _LITERAL = range(3)

_WS = re.compile(r"[ \t\n\r]+")
_STRING_RUN = re.compile(r'[^"\\]+')
_NUMBER_RUN = re.compile(r"[-+0-9.eE]+")
_LITERAL_RUN = re.compile(r"[a-zA-Z]+")
_NUMBER_SYNTAX = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS = frozenset({"true", "false", "null"})
_WHITESPACE = frozenset(" \t\n\r")
_DECODER = json.JSONDecoder(strict=False)

MAX_DEPTH = 512
"""Deeper nesting than this is refused (and would overflow ``json.loads`` anyway)."""


def _show(char: str) -> str:
    return repr(char)


class JsonScanner:
    """Finds the end of one JSON value (an object or an array) fed in pieces.

    :meth:`feed` scans ``text[pos:]`` and returns where it stopped: just after the
    value's last character (``done``), at the first character that cannot continue
    JSON (``error`` says why), or at the end of the text (more is needed).

    With ``name_keys`` / ``args_keys`` it follows a call object: ``name`` is the string
    under the first name key of the top-level object, and ``args_start`` /
    ``args_end`` are the offsets (from the value's first character) of the first
    arguments key's object value. ``keys_seen`` counts the top-level object's keys.
    """

    __slots__ = (
        "_args_keys",
        "_capture",
        "_capture_kind",
        "_escape",
        "_expect",
        "_in_args",
        "_in_string",
        "_key",
        "_name_keys",
        "_stack",
        "_string_is_key",
        "_word",
        "_word_kind",
        "args_end",
        "args_start",
        "consumed",
        "done",
        "error",
        "keys_seen",
        "name",
    )

    def __init__(self, *, name_keys: tuple[str, ...] = (), args_keys: tuple[str, ...] = ()) -> None:
        self._name_keys = name_keys
        self._args_keys = args_keys
        self._stack: list[int] = []
        self._expect = _VALUE
        self._in_string = False
        self._escape = False
        self._string_is_key = False
        self._word = ""
        self._word_kind = _NO_WORD
        self._capture: list[str] | None = None
        self._capture_kind = 0  # 1: a top-level key, 2: the name's value
        self._key: str | None = None
        self._in_args = False
        self.consumed = 0
        self.done = False
        self.error: str | None = None
        self.keys_seen = 0
        self.name: str | None = None
        self.args_start: int | None = None
        self.args_end: int | None = None

    # -- the scanning loop ------------------------------------------------------------

    def feed(self, text: str, pos: int) -> int:
        """Scan ``text[pos:]``; see the class docstring for what the result means."""
        # The frequent cases (runs inside strings, quotes, ':', ',', whitespace) are handled
        # inline: this loop runs once or twice per generated token.
        n = len(text)
        base = self.consumed - pos
        string_run = _STRING_RUN.match
        while pos < n:
            if self._in_string:
                capture = self._capture
                if self._escape:
                    self._escape = False
                    if capture is not None:
                        capture.append(text[pos])
                    pos += 1
                    continue
                match = string_run(text, pos)
                if match is not None:
                    end = match.end()
                    if capture is not None:
                        capture.append(text[pos:end])
                    pos = end
                    if pos == n:
                        break
                if text[pos] == '"':
                    pos += 1
                    self._in_string = False
                    if capture is not None:
                        self._end_string()
                        if self.error is not None or self.done:
                            break
                    else:  # strings are never top-level values here
                        self._expect = _COLON if self._string_is_key else _AFTER
                    continue
                # A backslash: it and the next character belong to the string.
                if capture is not None:
                    capture.append("\\")
                if pos + 1 < n:
                    if capture is not None:
                        capture.append(text[pos + 1])
                    pos += 2
                else:
                    self._escape = True
                    pos += 1
                continue
            if self._word_kind:
                pos = self._bare_word(text, pos, n)
                if self.error is not None:
                    break
                continue
            char = text[pos]
            if char in _WHITESPACE:
                match = _WS.match(text, pos)
                pos = match.end() if match else pos + 1
                continue
            expect = self._expect
            if char == '"' and expect in (_KEY, _KEY_OR_END):
                self._in_string = True
                self._string_is_key = True
                if len(self._stack) == 1:
                    self.keys_seen += 1
                    self._capture = []
                    self._capture_kind = 1
                pos += 1
                continue
            if char == ":" and expect == _COLON:
                self._expect = _VALUE
                pos += 1
                continue
            if char == "," and expect == _AFTER:
                self._expect = _KEY if self._stack[-1] == _OBJ else _VALUE
                pos += 1
                continue
            if not self._structural(char, base + pos):
                break
            pos += 1
            if self.done:
                break
        self.consumed = base + pos
        return pos

    def _bare_word(self, text: str, pos: int, n: int) -> int:
        pattern = _NUMBER_RUN if self._word_kind == _NUMBER else _LITERAL_RUN
        match = pattern.match(text, pos)
        if match:
            self._word += match.group()
            pos = match.end()
            if pos == n:
                return pos
        word, kind = self._word, self._word_kind
        self._word, self._word_kind = "", _NO_WORD
        if kind == _NUMBER and _NUMBER_SYNTAX.fullmatch(word) is None:
            self.error = f"{word!r} is not a JSON number"
        elif kind == _LITERAL and word not in _LITERALS:
            self.error = f"{word!r} is not a JSON value"
        else:
            self._value_done()
        return pos

    def _structural(self, char: str, offset: int) -> bool:
        """Handle one character outside strings and words; False on an error."""
        expect = self._expect
        if expect in (_VALUE, _VALUE_OR_END):
            if char == "]" and expect == _VALUE_OR_END:
                return self._pop(offset)
            return self._value_start(char, offset)
        if expect in (_KEY_OR_END, _KEY):
            if char == '"':
                self._in_string = True
                self._string_is_key = True
                if len(self._stack) == 1:
                    self.keys_seen += 1
                    self._capture = []
                    self._capture_kind = 1
                return True
            if char == "}" and expect == _KEY_OR_END:
                return self._pop(offset)
            return self._fail(char, "a quoted key" if expect == _KEY else "a quoted key or '}'")
        if expect == _COLON:
            if char == ":":
                self._expect = _VALUE
                return True
            return self._fail(char, "':'")
        # _AFTER: after a value inside a container.
        top = self._stack[-1]
        if char == ",":
            self._expect = _KEY if top == _OBJ else _VALUE
            return True
        if char == "}" and top == _OBJ:
            return self._pop(offset)
        if char == "]" and top == _ARR:
            return self._pop(offset)
        return self._fail(char, "',' or '}'" if top == _OBJ else "',' or ']'")

    def _value_start(self, char: str, offset: int) -> bool:
        at_call_level = len(self._stack) == 1 and self._stack[0] == _OBJ
        key = self._key if at_call_level else None
        if char == "{" or char == "[":
            if len(self._stack) >= MAX_DEPTH:
                self.error = f"nested deeper than {MAX_DEPTH} levels"
                return False
            if (
                char == "{"
                and key is not None
                and key in self._args_keys
                and self.args_start is None
            ):
                self.args_start = offset
                self._in_args = True
            self._stack.append(_OBJ if char == "{" else _ARR)
            self._expect = _KEY_OR_END if char == "{" else _VALUE_OR_END
            return True
        if not self._stack:
            return self._fail(char, "'{' or '['")
        if char == '"':
            self._in_string = True
            self._string_is_key = False
            if key is not None and key in self._name_keys and self.name is None:
                self._capture = []
                self._capture_kind = 2
            return True
        if char in "-0123456789":
            self._word, self._word_kind = char, _NUMBER
            return True
        if char in "tfn":
            self._word, self._word_kind = char, _LITERAL
            return True
        return self._fail(char, "a JSON value")

    def _end_string(self) -> None:
        capture, kind = self._capture, self._capture_kind
        self._capture, self._capture_kind = None, 0
        text: str | None = None
        if capture is not None:
            try:
                text = _DECODER.decode('"' + "".join(capture) + '"')
            except ValueError:
                self.error = "a string with an invalid escape"
                return
        if self._string_is_key:
            if kind == 1:
                self._key = text
            self._expect = _COLON
            return
        if kind == 2:
            self.name = text
        self._value_done()

    def _pop(self, offset: int) -> bool:
        self._stack.pop()
        if self._in_args and len(self._stack) == 1:
            self._in_args = False
            self.args_end = offset + 1
        self._value_done()
        return True

    def _value_done(self) -> None:
        if self._stack:
            self._expect = _AFTER
        else:
            self.done = True

    def _fail(self, char: str, wanted: str) -> bool:
        self.error = f"expected {wanted}, found {_show(char)}"
        return False


class PythonListScanner:
    """Finds the end of a Python list of calls, ``[get_weather(city="Paris"), f()]``.

    It tracks strings (single, double and triple quoted, with escapes) and bracket depth,
    records where the top-level commas are (``commas``, offsets from the ``[``), and
    checks that the list starts like a call list: ``[`` then a dotted name then ``(``
    (or ``]`` for an empty list). Everything else is left to :mod:`ast`.

    :meth:`feed` may stop before the end of the text when a run of quotes there could
    start a triple-quoted string; feed it again from that position with more text.
    """

    __slots__ = (
        "_depth",
        "_escape",
        "_quote",
        "_signature",
        "commas",
        "consumed",
        "done",
        "error",
        "looks_like_calls",
    )

    _RUNS: ClassVar[dict[str, re.Pattern[str]]] = {
        "'": re.compile(r"[^'\\]+"),
        '"': re.compile(r'[^"\\]+'),
        "'''": re.compile(r"[^'\\]+"),
        '"""': re.compile(r'[^"\\]+'),
    }
    _CODE_RUN = re.compile(r"""[^'"()\[\]{},]+""")
    _NAME_START = re.compile(r"[A-Za-z_]")
    _NAME_RUN = re.compile(r"[A-Za-z0-9_.]+")

    def __init__(self) -> None:
        self._depth = 0
        self._quote = ""
        self._escape = False
        self._signature = 0  # 0: before '[', 1: want a name, 2: in the name, 3: want '(', 4: ok
        self.commas: list[int] = []
        self.consumed = 0
        self.done = False
        self.error: str | None = None
        self.looks_like_calls = False

    def feed(self, text: str, pos: int) -> int:
        """Scan ``text[pos:]``; returns where it stopped (see the class docstring)."""
        n = len(text)
        base = self.consumed - pos
        while pos < n and not self.done and self.error is None:
            if self._signature < 4:
                pos = self._check_signature(text, pos, n)
                continue
            if self._quote:
                new = self._string(text, pos, n)
                if new == pos:  # a quote run that may be a triple quote: wait for more
                    break
                pos = new
                continue
            char = text[pos]
            if char in "'\"":
                if text.startswith(char * 3, pos):
                    self._quote = char * 3
                    pos += 3
                elif n - pos < 3 and text[pos:] == char * (n - pos):
                    break  # '' or ' at the end: wait to see whether a third quote follows
                else:
                    self._quote = char
                    pos += 1
            elif char in "([{":
                self._depth += 1
                pos += 1
            elif char in ")]}":
                self._depth -= 1
                pos += 1
                if self._depth == 0:
                    self.done = True
            elif char == ",":
                if self._depth == 1:
                    self.commas.append(base + pos)
                pos += 1
            else:
                match = self._CODE_RUN.match(text, pos)
                pos = match.end() if match else pos + 1
        self.consumed = base + pos
        return pos

    def _check_signature(self, text: str, pos: int, n: int) -> int:
        char = text[pos]
        state = self._signature
        if state == 0:
            if char != "[":
                self.error = f"expected '[', found {_show(char)}"
                return pos
            self._depth = 1
            self._signature = 1
            return pos + 1
        if char in _WHITESPACE and state != 2:
            match = _WS.match(text, pos)
            return match.end() if match else pos + 1
        if state == 1:
            if char == "]":
                self._depth = 0
                self.done = True
                self._signature = 4
                return pos + 1
            if self._NAME_START.match(char) is None:
                self.error = f"expected a function name, found {_show(char)}"
                return pos
            self._signature = 2
            return pos
        if state == 2:
            match = self._NAME_RUN.match(text, pos)
            if match is None:
                self._signature = 3
                return pos
            end = match.end()
            if end < n:
                self._signature = 3
            return end
        # state 3: the name is complete; '(' must follow.
        if char != "(":
            self.error = f"expected '(' after the function name, found {_show(char)}"
            return pos
        self._signature = 4
        self.looks_like_calls = True
        self._depth = 2
        return pos + 1

    def _string(self, text: str, pos: int, n: int) -> int:
        quote = self._quote
        if self._escape:
            self._escape = False
            return pos + 1
        match = self._RUNS[quote].match(text, pos)
        if match:
            return match.end()
        char = text[pos]
        if char == "\\":
            if pos + 1 < n:
                return pos + 2
            self._escape = True
            return pos + 1
        # A quote character of the string's kind.
        if len(quote) == 1:
            self._quote = ""
            return pos + 1
        if text.startswith(quote, pos):
            self._quote = ""
            return pos + 3
        if n - pos < 3 and text[pos:] == char * (n - pos):
            return pos  # maybe the closing triple quote, cut by the chunk: wait
        return pos + 1
