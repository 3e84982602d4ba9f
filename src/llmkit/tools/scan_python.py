"""An incremental scanner that finds where a Python list of calls ends (pure).

Llama 3.2/4 write their calls as ``[get_weather(city="Paris"), f()]``. The scanner is
fed each piece once and keeps its state (inside which string, bracket depth) in the
local variables of a generator, as :class:`llmkit.tools.scan.JsonScanner` does; runs
of code and string content are skipped with regular expressions. What the calls mean is
left to :mod:`llmkit.tools.formats.pythonic`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from typing import ClassVar

__all__ = ["PythonListScanner"]

_WS = re.compile(r"[ \t\n\r]+")
_WHITESPACE = frozenset(" \t\n\r")


def _show(char: str) -> str:
    return repr(char)


def _nested_run_pattern() -> str:
    """The pattern of :attr:`PythonListScanner._NESTED_RUN`; groups ``single`` and
    ``double`` hold a string that the end of the text cuts."""
    count = 0

    def atomic(body: str) -> str:
        nonlocal count
        count += 1
        return f"(?=(?P<a{count}>{body}))(?P=a{count})"

    def atom() -> str:
        code = atomic(r"""[^'"()\[\]{}]+""")
        single = "'(?:" + atomic(r"[^'\\]+") + "'|'(?=[^']))"
        double = '"(?:' + atomic(r'[^"\\]+') + '"|"(?=[^"]))'
        return f"(?:{code}|{single}|{double})"

    bracketed = "|".join(
        f"{opening}{atomic(f'(?:{atom()})*')}{closing}"
        for opening, closing in ((r"\(", r"\)"), (r"\[", r"\]"), (r"\{", r"\}"))
    )
    run = atomic(f"(?:{atom()}|{bracketed})*")
    return run + r"""(?:(?P<single>'[^'\\]+\Z)|(?P<double>"[^"\\]+\Z))?"""


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
        "_signature",
        "commas",
        "consumed",
        "done",
        "error",
        "looks_like_calls",
        "send",
        "stop",
    )

    _RUNS: ClassVar[dict[str, re.Pattern[str]]] = {
        "'": re.compile(r"[^'\\]+"),
        '"': re.compile(r'[^"\\]+'),
        "'''": re.compile(r"[^'\\]+"),
        '"""': re.compile(r'[^"\\]+'),
    }
    _CODE_RUN = re.compile(r"""[^'"()\[\]{},]+""")
    # Inside a call's parentheses commas do not matter: code, whole strings (that cannot
    # be the start of a triple quote) and balanced brackets one level deep are skipped at
    # once, and a string the end of the text cuts is entered. Atomic groups are emulated
    # (a lookahead captures, a backreference consumes): Python 3.11 before 3.11.5
    # mis-matches possessive quantifiers, and without atomicity an unclosed bracket would
    # make the engine try every way to split a run of code.
    _NESTED_RUN = re.compile(_nested_run_pattern())
    _NAME_START = re.compile(r"[A-Za-z_]")
    _NAME_RUN = re.compile(r"[A-Za-z0-9_.]+")

    def __init__(self) -> None:
        self._depth = 0
        self._signature = 0  # 0: before '[', 1: want a name, 2: in the name, 3: want '(', 4: ok
        self.commas: list[int] = []
        self.consumed = 0
        self.done = False
        self.error: str | None = None
        self.looks_like_calls = False
        self.stop = False  # set when a piece ends it, fails it or stops short; see JsonScanner
        scan = self._scan()
        next(scan)
        self.send: Callable[[tuple[str, int]], int] = scan.send  # feed((text, pos)), quicker

    def feed(self, text: str, pos: int) -> int:
        """Scan ``text[pos:]``; returns where it stopped (see the class docstring)."""
        return self.send((text, pos))

    def _scan(self) -> Generator[int, tuple[str, int], None]:
        """The scanner proper, its state in local variables (see
        :class:`~llmkit.tools.scan.JsonScanner`)."""
        depth = 0
        quote = ""
        escape = False
        commas = self.commas
        runs = self._RUNS
        code_run = self._CODE_RUN.match
        nested_run = self._NESTED_RUN.match
        text, pos = yield 0
        while True:
            n = len(text)
            # The frequent cases first: a piece inside a string, or inside a call's
            # parentheses (where commas do not matter).
            if quote:
                # Not an empty piece: it must leave a pending escape pending.
                if pos < n and quote[0] not in text and "\\" not in text:
                    escape = False
                    self.consumed += n - pos
                    text, pos = yield n
                    continue
            elif depth > 1 and self._signature == 4:
                match = nested_run(text, pos)
                if match is not None and match.end() > pos:
                    if match.group("single") is not None:
                        quote = "'"
                    elif match.group("double") is not None:
                        quote = '"'
                    self.consumed += match.end() - pos
                    pos = match.end()
                    if pos == n:
                        text, pos = yield n
                        continue
            base = self.consumed - pos
            while pos < n:
                if self._signature < 4:
                    self._depth = depth
                    pos = self._check_signature(text, pos, n)
                    depth = self._depth
                    if self.done or self.error is not None:
                        break
                    continue
                if quote:
                    if escape:
                        escape = False
                        pos += 1
                        continue
                    match = runs[quote].match(text, pos)
                    if match is not None:
                        pos = match.end()
                        continue
                    char = text[pos]
                    if char == "\\":
                        if pos + 1 < n:
                            pos += 2
                        else:
                            escape = True
                            pos += 1
                        continue
                    # A quote character of the string's kind.
                    if len(quote) == 1:
                        quote = ""
                        pos += 1
                    elif text.startswith(quote, pos):
                        quote = ""
                        pos += 3
                    elif n - pos < 3 and text[pos:] == char * (n - pos):
                        break  # maybe the closing triple quote, cut by the chunk: wait
                    else:
                        pos += 1
                    continue
                char = text[pos]
                if char in "'\"":
                    if text.startswith(char * 3, pos):
                        quote = char * 3
                        pos += 3
                    elif n - pos < 3 and text[pos:] == char * (n - pos):
                        break  # '' or ' at the end: wait to see whether a third quote follows
                    else:
                        quote = char
                        pos += 1
                elif char in "([{":
                    depth += 1
                    pos += 1
                elif char in ")]}":
                    depth -= 1
                    pos += 1
                    if depth == 0:
                        self.done = True
                        break
                elif char == ",":
                    if depth == 1:
                        commas.append(base + pos)
                    pos += 1
                else:
                    match = code_run(text, pos)
                    pos = match.end() if match else pos + 1
            self._depth = depth
            self.consumed = base + pos
            if pos != n or self.done or self.error is not None:
                self.stop = True
            text, pos = yield pos

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
