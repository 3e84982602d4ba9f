"""Incremental scanners that find where a JSON value or a Python call list ends (pure).

(:class:`PythonListScanner` lives in :mod:`llmkit.tools.scan_python`; it is re-exported here.)

Pure Python on purpose: a model writes a few KB a second per stream and these read over
1 MB/s on every shape of ``bench/toolparse.py``, so C would buy nothing a user sees and
would parse untrusted output without memory safety.

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
from collections.abc import Callable, Generator
from typing import TypeAlias

from llmkit.tools.scan_python import PythonListScanner

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


# -- the fast path for long pieces: runs of JSON tokens inside a container, one regex each --
# A container's tokens follow a cycle (object: key, ':', value, ','; array: value, ',').
# For each place in the cycle one regular expression consumes whole cycles, part of one,
# and perhaps a string cut by the end of the text; empty marker groups tell where it
# stopped (``Match.lastindex``). Numbers and literals count only when followed by a
# character that cannot continue them; what is left (a bracket, a number or a backslash
# at the end, an error) goes to the character loop.

_FAST_MIN = 24
"""Shorter pieces (a token or two, as models stream) go through the character loop."""
# No possessive quantifiers: Python 3.11 before 3.11.5 mis-matches some of them. Each
# repetition below has one way to match any text (its alternatives start with different
# characters), so backtracking stays linear without them.
_WSP = r"[ \t\n\r]*"
_STRING_REST = r'[^"\\]*(?:\\[\s\S][^"\\]*)*"'
_STRING_CUT = r'"[^"\\]*(?:\\[\s\S][^"\\]*)*\Z'
_SCALAR = (
    f'(?:"{_STRING_REST}'
    r"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?(?=[^-+0-9.eE])"
    r"|(?:true|false|null)(?=[^a-zA-Z]))"
)
_Step: TypeAlias = "tuple[str, int, int | None]"
_IN_KEY, _IN_VALUE = 100, 101  # marker states: inside a key / a value string at the end
# Each step: its pattern, the state after it, the state when the text ends inside it.
_CYCLES: dict[int, tuple[_Step, ...]] = {
    _OBJ: (
        ('"' + _STRING_REST, _COLON, _IN_KEY),
        (":", _VALUE, None),
        (_SCALAR, _AFTER, _IN_VALUE),
        (",", _KEY, None),
    ),
    _ARR: ((_SCALAR, _AFTER, _IN_VALUE), (",", _VALUE, None)),
}

FastRun: TypeAlias = "tuple[Callable[[str, int], re.Match[str] | None], tuple[int, ...]]"


def _part(steps: list[_Step], k: int, states: list[int]) -> str:
    """Steps ``k`` on, each optional after the one before; appends the states of their
    marker groups to ``states`` in the groups' order."""
    pattern, after, cut = steps[k]
    if k == len(steps) - 1:  # a whole last step would make a whole cycle
        if cut is None:
            return ""
        states.append(cut)
        return f"(?:{_STRING_CUT}())?"
    states.append(after)
    inner = _part(steps, k + 1, states)
    if cut is None:
        return f"(?:{pattern}(){_WSP}{inner})?"
    states.append(cut)
    return f"(?:{pattern}(){_WSP}{inner}|{_STRING_CUT}())?"


def _runs_from(cycle: tuple[_Step, ...], first: int, states: list[int]) -> str:
    """Whole cycles starting at step ``first``, then part of one."""
    steps = [cycle[(first + k) % len(cycle)] for k in range(len(cycle))]
    whole = "".join(f"{pattern}{_WSP}" for pattern, _, _ in steps)
    states.append(steps[-1][1])
    return f"{_WSP}(?:{whole}())*{_part(steps, 0, states)}"


def _fast_run(top: int, first: int, *, in_string: bool = False) -> FastRun:
    cycle = _CYCLES[top]
    states = [-1]  # group 0 is the whole match
    if in_string:
        states.append(cycle[first][1])
        body = _STRING_REST + "()" + _runs_from(cycle, (first + 1) % len(cycle), states)
    else:
        body = _runs_from(cycle, first, states)
    return re.compile(body).match, tuple(states)


def _fast_table() -> list[FastRun | None]:
    """Indexed by the scanner's state: ``expect + 6 * top`` outside strings, ``12 + 2 *
    top + is_key`` inside one."""
    table: list[FastRun | None] = [None] * 16
    for expect, first in ((_KEY_OR_END, 0), (_KEY, 0), (_COLON, 1), (_VALUE, 2), (_AFTER, 3)):
        table[expect + 6 * _OBJ] = _fast_run(_OBJ, first)
    for expect, first in ((_VALUE_OR_END, 0), (_VALUE, 0), (_AFTER, 1)):
        table[expect + 6 * _ARR] = _fast_run(_ARR, first)
    table[12 + 2 * _OBJ] = _fast_run(_OBJ, 2, in_string=True)  # a value string
    table[12 + 2 * _OBJ + 1] = _fast_run(_OBJ, 0, in_string=True)  # a key
    table[12 + 2 * _ARR] = _fast_run(_ARR, 0, in_string=True)
    return table


_FAST = _fast_table()


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

    ``stop`` is set when a piece brings news: the name, the start or end of the
    arguments, the end of the value or an error (whoever acts on it may clear it); a
    piece that leaves it unset was plain progress.

    The scanning state lives in the local variables of a generator that each piece
    resumes (:meth:`_scan`): a piece costs a few steps of Python, and local variables
    are the cheapest Python has.
    """

    __slots__ = (
        "_args_keys",
        "_name_keys",
        "args_end",
        "args_start",
        "consumed",
        "done",
        "error",
        "keys_seen",
        "name",
        "send",
        "stop",
    )

    def __init__(self, *, name_keys: tuple[str, ...] = (), args_keys: tuple[str, ...] = ()) -> None:
        self._name_keys = name_keys
        self._args_keys = args_keys
        self.consumed = 0
        self.done = False
        self.error: str | None = None
        self.keys_seen = 0
        self.name: str | None = None
        self.args_start: int | None = None
        self.args_end: int | None = None
        self.stop = False
        scan = self._scan()
        next(scan)
        self.send: Callable[[tuple[str, int]], int] = scan.send  # feed((text, pos)), quicker

    def feed(self, text: str, pos: int) -> int:
        """Scan ``text[pos:]``; see the class docstring for what the result means."""
        return self.send((text, pos))

    def _scan(self) -> Generator[int, tuple[str, int], None]:
        """The scanner proper: receives ``(text, pos)`` pieces, yields where it stopped."""
        name_keys, args_keys = self._name_keys, self._args_keys
        stack: list[int] = []
        expect = _VALUE
        in_string = escape = is_key = in_args = False
        word, word_kind = "", _NO_WORD
        capture: list[str] | None = None
        capture_kind = 0  # 1: a top-level key, 2: the name's value
        key: str | None = None
        string_run = _STRING_RUN.match
        text, pos = yield 0
        while True:
            n = len(text)
            base = self.consumed - pos
            if in_string and pos < n and '"' not in text and "\\" not in text:
                # A piece inside a string, the most frequent case: all of it is content.
                # (Not an empty piece: it must leave a pending escape pending, for the
                # character after the backslash has not come yet.)
                escape = False
                if capture is not None:
                    capture.append(text[pos:])
                pos = n
            long_piece = n - pos > _FAST_MIN
            error: str | None = None
            while pos < n:
                # Inside nested containers nothing is captured: a long piece is read in
                # whole runs of tokens (for a token or two the loop below is quicker).
                if (
                    long_piece
                    and len(stack) > 1
                    and not escape
                    and not word_kind
                    and n - pos > _FAST_MIN
                ):
                    top = stack[-1]
                    run = _FAST[12 + 2 * top + is_key if in_string else expect + 6 * top]
                    if run is not None:
                        match = run[0](text, pos)
                        if match is not None and match.end() > pos:
                            pos = match.end()
                            state = run[1][match.lastindex] if match.lastindex else -1
                            if state >= _IN_KEY:
                                in_string = True
                                is_key = state == _IN_KEY
                            else:
                                in_string = False
                                if state >= 0:
                                    expect = state
                            if pos == n:
                                break
                if in_string:
                    if escape:
                        escape = False
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
                        in_string = False
                        if capture is None:  # strings are never top-level values here
                            expect = _COLON if is_key else _AFTER
                            continue
                        value = "".join(capture)
                        kind, capture, capture_kind = capture_kind, None, 0
                        if "\\" in value:
                            try:
                                value = _DECODER.decode('"' + value + '"')
                            except ValueError:
                                error = "a string with an invalid escape"
                                break
                        if is_key:
                            if kind == 1:
                                key = value
                            expect = _COLON
                            continue
                        if kind == 2:
                            self.name = value
                            self.stop = True
                        if stack:
                            expect = _AFTER
                            continue
                        self.done = self.stop = True
                        break
                    # A backslash: it and the next character belong to the string.
                    if capture is not None:
                        capture.append("\\")
                    if pos + 1 < n:
                        if capture is not None:
                            capture.append(text[pos + 1])
                        pos += 2
                    else:
                        escape = True
                        pos += 1
                    continue
                if word_kind:
                    match = (_NUMBER_RUN if word_kind == _NUMBER else _LITERAL_RUN).match(text, pos)
                    if match is not None:
                        word += match.group()
                        pos = match.end()
                        if pos == n:
                            break
                    if word_kind == _NUMBER and _NUMBER_SYNTAX.fullmatch(word) is None:
                        error = f"{word!r} is not a JSON number"
                        break
                    if word_kind == _LITERAL and word not in _LITERALS:
                        error = f"{word!r} is not a JSON value"
                        break
                    word, word_kind = "", _NO_WORD
                    expect = _AFTER  # words are never top-level values
                    continue
                char = text[pos]
                if char in _WHITESPACE:
                    match = _WS.match(text, pos)
                    pos = match.end() if match else pos + 1
                    continue
                if char == '"':
                    if expect in (_KEY, _KEY_OR_END):
                        in_string = is_key = True
                        if len(stack) == 1:
                            self.keys_seen += 1
                            capture, capture_kind = [], 1
                        pos += 1
                        continue
                    if (expect in (_VALUE, _VALUE_OR_END)) and stack:
                        in_string, is_key = True, False
                        if (
                            key is not None
                            and len(stack) == 1
                            and stack[0] == _OBJ
                            and key in name_keys
                            and self.name is None
                        ):
                            capture, capture_kind = [], 2
                        pos += 1
                        continue
                elif char == ":":
                    if expect == _COLON:
                        expect = _VALUE
                        pos += 1
                        if pos < n and text[pos] == " ":  # the usual single space after it
                            pos += 1
                        continue
                elif char == ",":
                    if expect == _AFTER:
                        expect = _KEY if stack[-1] == _OBJ else _VALUE
                        pos += 1
                        if pos < n and text[pos] == " ":
                            pos += 1
                        continue
                elif char == "}" or char == "]":
                    top = stack[-1] if stack else -1
                    if (char == "}" and top == _OBJ and expect in (_AFTER, _KEY_OR_END)) or (
                        char == "]" and top == _ARR and expect in (_AFTER, _VALUE_OR_END)
                    ):
                        stack.pop()
                        if in_args and len(stack) == 1:
                            in_args = False
                            self.args_end = base + pos + 1
                            self.stop = True
                        pos += 1
                        if stack:
                            expect = _AFTER
                            continue
                        self.done = self.stop = True
                        break
                elif char == "{" or char == "[":
                    if expect in (_VALUE, _VALUE_OR_END):
                        if len(stack) >= MAX_DEPTH:
                            error = f"nested deeper than {MAX_DEPTH} levels"
                            break
                        if (
                            char == "{"
                            and key is not None
                            and len(stack) == 1
                            and stack[0] == _OBJ
                            and key in args_keys
                            and self.args_start is None
                        ):
                            self.args_start = base + pos
                            in_args = self.stop = True
                        stack.append(_OBJ if char == "{" else _ARR)
                        expect = _KEY_OR_END if char == "{" else _VALUE_OR_END
                        pos += 1
                        continue
                elif (
                    (char in "-0123456789" or char in "tfn")
                    and stack
                    and (expect in (_VALUE, _VALUE_OR_END))
                ):
                    word, word_kind = char, _NUMBER if char in "-0123456789" else _LITERAL
                    pos += 1
                    continue
                error = _unexpected(char, expect, stack)
                break
            self.consumed = base + pos
            if error is not None:
                self.error = error
                self.stop = True
            text, pos = yield pos


def _unexpected(char: str, expect: int, stack: list[int]) -> str:
    """Why ``char`` cannot come next in JSON."""
    if expect in (_VALUE, _VALUE_OR_END):
        wanted = "a JSON value" if stack else "'{' or '['"
    elif expect == _KEY:
        wanted = "a quoted key"
    elif expect == _KEY_OR_END:
        wanted = "a quoted key or '}'"
    elif expect == _COLON:
        wanted = "':'"
    else:
        wanted = "',' or '}'" if stack[-1] == _OBJ else "',' or ']'"
    return f"expected {wanted}, found {_show(char)}"
