"""The lexer: template text to items, as Go's ``text/template/parse/lex.go`` does (pure).

Items carry their byte... character offset; :func:`position` turns an offset
into a 1-based line and column.  Trim markers (``{{-`` and ``-}}``) are applied
here, by trimming the neighbouring text items, exactly as Go does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

__all__ = ["Item", "ItemType", "LexError", "lex"]

LEFT, RIGHT = "{{", "}}"
LEFT_COMMENT, RIGHT_COMMENT = "/*", "*/"
TRIM_MARKER = "-"
SPACE_CHARS = " \t\r\n"


class ItemType(Enum):
    ERROR = auto()
    BOOL = auto()
    CHAR = auto()
    CHAR_CONSTANT = auto()
    COMMENT = auto()
    COMPLEX = auto()
    ASSIGN = auto()
    DECLARE = auto()
    EOF = auto()
    FIELD = auto()
    IDENTIFIER = auto()
    LEFT_DELIM = auto()
    LEFT_PAREN = auto()
    NUMBER = auto()
    PIPE = auto()
    RAW_STRING = auto()
    RIGHT_DELIM = auto()
    RIGHT_PAREN = auto()
    SPACE = auto()
    STRING = auto()
    TEXT = auto()
    VARIABLE = auto()
    # keywords
    BLOCK = auto()
    BREAK = auto()
    CONTINUE = auto()
    DOT = auto()
    DEFINE = auto()
    ELSE = auto()
    END = auto()
    IF = auto()
    NIL = auto()
    RANGE = auto()
    TEMPLATE = auto()
    WITH = auto()


KEYWORDS = {
    ".": ItemType.DOT,
    "block": ItemType.BLOCK,
    "break": ItemType.BREAK,
    "continue": ItemType.CONTINUE,
    "define": ItemType.DEFINE,
    "else": ItemType.ELSE,
    "end": ItemType.END,
    "if": ItemType.IF,
    "range": ItemType.RANGE,
    "nil": ItemType.NIL,
    "template": ItemType.TEMPLATE,
    "with": ItemType.WITH,
}


@dataclass(frozen=True, slots=True)
class Item:
    type: ItemType
    pos: int
    val: str

    def describe(self) -> str:
        """How Go's parser names this item in error messages (``item.String()``)."""
        if self.type is ItemType.EOF:
            return "EOF"
        if self.type is ItemType.ERROR:
            return self.val
        if self.type in _KEYWORD_TYPES:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return _go_quote(self.val[:10]) + "..."
        return _go_quote(self.val)


_KEYWORD_TYPES = frozenset(KEYWORDS.values())


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class LexError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


def _is_space(ch: str) -> bool:
    return ch in " \t\r\n"


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdigit()


def lex(text: str) -> list[Item]:
    """All items of ``text``; a lexing error becomes a final ERROR item."""
    return _Lexer(text).run()


class _Lexer:
    def __init__(self, text: str) -> None:
        self.input = text
        self.items: list[Item] = []
        self.paren_depth = 0
        self.insidecomment = False

    def emit(self, type_: ItemType, start: int, end: int) -> None:
        self.items.append(Item(type_, start, self.input[start:end]))

    def run(self) -> list[Item]:
        try:
            self._lex_all()
        except LexError as exc:
            self.items.append(Item(ItemType.ERROR, exc.pos, str(exc)))
        return self.items

    # -- text -----------------------------------------------------------------

    def _lex_all(self) -> None:
        text = self.input
        pos = 0
        n = len(text)
        while True:
            at = text.find(LEFT, pos)
            if at < 0:
                if pos < n:
                    self.emit(ItemType.TEXT, pos, n)
                self.items.append(Item(ItemType.EOF, n, ""))
                return
            trim_left = (
                text.startswith(TRIM_MARKER, at + 2) and at + 3 < n and _is_space(text[at + 3])
            )
            end_text = at
            if trim_left:
                end_text = len(text[pos:at].rstrip(SPACE_CHARS)) + pos
            if end_text > pos:
                self.emit(ItemType.TEXT, pos, end_text)
            pos = self._lex_action(at, trim_left)

    # -- actions --------------------------------------------------------------

    def _after_left(self, at: int, trim: bool) -> int:
        return at + 2 + (2 if trim else 0)

    def _at_right(self, pos: int) -> tuple[bool, bool]:
        """(at a right delimiter, with a trim marker before it)."""
        text = self.input
        if (
            pos + 1 < len(text)
            and _is_space(text[pos])
            and text.startswith(TRIM_MARKER + RIGHT, pos + 1)
        ):
            return True, True
        return text.startswith(RIGHT, pos), False

    def _skip_trailing_space(self, pos: int) -> int:
        n = len(self.input)
        while pos < n and _is_space(self.input[pos]):
            pos += 1
        return pos

    def _lex_action(self, at: int, trim_left: bool) -> int:
        text = self.input
        pos = self._after_left(at, trim_left)
        # A comment must come straight after the delimiter (and trim marker).
        if text.startswith(LEFT_COMMENT, pos):
            return self._lex_comment(at, pos)
        self.emit(ItemType.LEFT_DELIM, at, at + 2)
        self.paren_depth = 0
        n = len(text)
        while True:
            at_right, trim_right = self._at_right(pos)
            if at_right and self.paren_depth == 0:
                end = pos + (2 if trim_right else 0)
                self.items.append(Item(ItemType.RIGHT_DELIM, end, RIGHT))
                pos = end + 2
                if trim_right:
                    pos = self._skip_trailing_space(pos)
                return pos
            if pos >= n:
                raise LexError("unclosed action", at)
            pos = self._lex_inside(pos)

    def _lex_comment(self, at: int, pos: int) -> int:
        text = self.input
        end = text.find(RIGHT_COMMENT, pos + 2)
        if end < 0:
            raise LexError("unclosed comment", at)
        after = end + 2
        at_right, trim_right = self._at_right(after)
        if not at_right:
            raise LexError("comment ends before closing delimiter", at)
        self.emit(ItemType.COMMENT, pos, after)
        pos = after + (2 if trim_right else 0) + 2
        if trim_right:
            pos = self._skip_trailing_space(pos)
        return pos

    def _lex_inside(self, pos: int) -> int:
        text = self.input
        ch = text[pos]
        n = len(text)
        if _is_space(ch):
            end = pos
            while end < n and _is_space(text[end]):
                # stop before " -}}" so the trim marker is seen
                if self._at_right(end) == (True, True):
                    break
                end += 1
            if end == pos:
                end = pos + 1
            self.emit(ItemType.SPACE, pos, end)
            return end
        if ch == "=":
            self.emit(ItemType.ASSIGN, pos, pos + 1)
            return pos + 1
        if ch == ":":
            if text.startswith(":=", pos):
                self.emit(ItemType.DECLARE, pos, pos + 2)
                return pos + 2
            raise LexError("expected :=", pos)
        if ch == "|":
            self.emit(ItemType.PIPE, pos, pos + 1)
            return pos + 1
        if ch == '"':
            return self._lex_quote(pos)
        if ch == "`":
            end = text.find("`", pos + 1)
            if end < 0:
                raise LexError("unterminated raw quoted string", pos)
            self.emit(ItemType.RAW_STRING, pos, end + 1)
            return end + 1
        if ch == "$":
            return self._lex_variable(pos)
        if ch == "'":
            return self._lex_char(pos)
        if ch == ".":
            if pos + 1 < n and not ("0" <= text[pos + 1] <= "9"):
                return self._lex_field(pos)
            return self._lex_number(pos)
        if ch in "+-" or "0" <= ch <= "9":
            return self._lex_number(pos)
        if _is_alnum(ch):
            return self._lex_identifier(pos)
        if ch == "(":
            self.paren_depth += 1
            self.emit(ItemType.LEFT_PAREN, pos, pos + 1)
            return pos + 1
        if ch == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                raise LexError("unexpected right paren", pos)
            self.emit(ItemType.RIGHT_PAREN, pos, pos + 1)
            return pos + 1
        if ch.isprintable() and ord(ch) < 0x80:
            self.emit(ItemType.CHAR, pos, pos + 1)
            return pos + 1
        raise LexError(f"unrecognized character in action: {_go_rune(ch)}", pos)

    def _lex_quote(self, pos: int) -> int:
        text = self.input
        i = pos + 1
        n = len(text)
        while True:
            if i >= n or text[i] == "\n":
                raise LexError("unterminated quoted string", pos)
            if text[i] == "\\":
                i += 1
                if i >= n or text[i] == "\n":
                    raise LexError("unterminated quoted string", pos)
            elif text[i] == '"':
                break
            i += 1
        self.emit(ItemType.STRING, pos, i + 1)
        return i + 1

    def _lex_char(self, pos: int) -> int:
        text = self.input
        i = pos + 1
        n = len(text)
        while True:
            if i >= n or text[i] == "\n":
                raise LexError("unterminated character constant", pos)
            if text[i] == "\\":
                i += 1
                if i >= n or text[i] == "\n":
                    raise LexError("unterminated character constant", pos)
            elif text[i] == "'":
                break
            i += 1
        self.emit(ItemType.CHAR_CONSTANT, pos, i + 1)
        return i + 1

    def _scan_word(self, pos: int) -> int:
        n = len(self.input)
        while pos < n and _is_alnum(self.input[pos]):
            pos += 1
        return pos

    def _check_terminator(self, pos: int, what: str, start: int) -> None:
        text = self.input
        if pos >= len(text):
            return
        ch = text[pos]
        if _is_space(ch) or ch in ".,|:)(":
            return
        if self._at_right(pos)[0]:
            return
        raise LexError(f"bad character {_go_rune(ch)}", pos)

    def _lex_variable(self, pos: int) -> int:
        end = self._scan_word(pos + 1)
        self._check_terminator(end, "variable", pos)
        self.emit(ItemType.VARIABLE, pos, end)
        return end

    def _lex_field(self, pos: int) -> int:
        end = self._scan_word(pos + 1)
        if end == pos + 1:
            self._check_terminator(end, "dot", pos)
            self.emit(ItemType.DOT, pos, end)
            return end
        self._check_terminator(end, "field", pos)
        self.emit(ItemType.FIELD, pos, end)
        return end

    def _lex_identifier(self, pos: int) -> int:
        end = self._scan_word(pos)
        self._check_terminator(end, "identifier", pos)
        word = self.input[pos:end]
        if word in KEYWORDS and KEYWORDS[word] is not ItemType.DOT:
            self.emit(KEYWORDS[word], pos, end)
        elif word in ("true", "false"):
            self.emit(ItemType.BOOL, pos, end)
        else:
            self.emit(ItemType.IDENTIFIER, pos, end)
        return end

    def _lex_number(self, pos: int) -> int:
        end = self._scan_number(pos)
        if end is None:
            stop = pos + 1
            while stop < len(self.input) and _is_alnum(self.input[stop]):
                stop += 1
            raise LexError(f"bad number syntax: {self.input[pos:stop]!r}".replace("'", '"'), pos)
        text = self.input
        if end < len(text) and text[end] in "+-":
            # complex: 1+2i
            second = self._scan_number(end)
            if second is None or text[second - 1] != "i":
                raise LexError(f'bad number syntax: "{text[pos : (second or end + 1)]}"', pos)
            self.emit(ItemType.COMPLEX, pos, second)
            return second
        self.emit(ItemType.NUMBER, pos, end)
        return end

    def _scan_number(self, pos: int) -> int | None:
        """Go's scanNumber: the end of a number starting at ``pos``, or None if it is bad."""
        text = self.input
        n = len(text)
        i = pos
        if i < n and text[i] in "+-":
            i += 1
        digits = "0123456789_"
        if i + 1 < n and text[i] == "0" and text[i + 1] in "xXoObB":
            kind = text[i + 1].lower()
            i += 2
            digits = {"x": "0123456789abcdefABCDEF_", "o": "01234567_", "b": "01_"}[kind]
        while i < n and text[i] in digits:
            i += 1
        if i < n and text[i] == ".":
            i += 1
            while i < n and text[i] in digits:
                i += 1
        if len(digits) == 11 and i < n and text[i] in "eE":
            i += 1
            if i < n and text[i] in "+-":
                i += 1
            while i < n and text[i] in "0123456789_":
                i += 1
        if len(digits) == 23 and i < n and text[i] in "pP":
            i += 1
            if i < n and text[i] in "+-":
                i += 1
            while i < n and text[i] in "0123456789_":
                i += 1
        if i < n and text[i] == "i":
            i += 1
        if i < n and _is_alnum(text[i]):
            return None
        return i


def _go_rune(ch: str) -> str:
    """Go's ``%#U``: ``U+0023 '#'``."""
    code = ord(ch)
    return f"U+{code:04X} '{ch}'" if ch.isprintable() else f"U+{code:04X}"
