"""Recursive-descent parser: items to a parse tree, as Go's ``parse.go`` does (pure).

Go's rules are kept, with Go's messages: functions must exist at parse time,
variables must be declared, ``break``/``continue`` only inside ``range``,
``else if`` / ``else with`` chains, ``define`` and ``block`` add templates to
the set, and a redefinition of a non-empty template is an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection

from llmkit.errors import TemplateSyntaxError
from llmkit.template.lexer import Item, ItemType, lex
from llmkit.template.nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
    WithNode,
)

__all__ = ["BUILTIN_FUNCTIONS", "parse", "position", "unquote"]

BUILTIN_FUNCTIONS = frozenset(
    {
        "and",
        "call",
        "html",
        "index",
        "slice",
        "js",
        "len",
        "not",
        "or",
        "print",
        "printf",
        "println",
        "urlquery",
        "eq",
        "ge",
        "gt",
        "le",
        "lt",
        "ne",
    }
)

T = ItemType
#: Deeper nesting is refused: Python's compiler allows about 100 levels of indentation.
MAX_NESTING = 60

_OPERAND_START = {
    T.BOOL, T.CHAR_CONSTANT, T.COMPLEX, T.DOT, T.FIELD, T.IDENTIFIER, T.NUMBER, T.NIL,
    T.RAW_STRING, T.STRING, T.VARIABLE, T.LEFT_PAREN,
}  # fmt: skip


class _End(Node):
    pass


class _Else(Node):
    pass


def position(text: str, pos: int) -> tuple[int, int, str]:
    """1-based line and column of an offset, and the text of that line."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line_text = text[line_start : line_end if line_end >= 0 else len(text)]
    return text.count("\n", 0, pos) + 1, pos - line_start + 1, line_text


def parse(text: str, *, name: str = "", functions: Collection[str] = ()) -> dict[str, ListNode]:
    """Parse a template; returns every template of the set by name (the root is ``name``)."""
    known = BUILTIN_FUNCTIONS | frozenset(functions)
    trees: dict[str, ListNode] = {}
    _Parser(text, name, known, lex(text), trees).parse_root()
    return trees


_GO_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "'": "'", '"': '"',
}  # fmt: skip


def unquote(quoted: str) -> str:
    """Go's ``strconv.Unquote`` for "..." and `...` strings (raises ValueError)."""
    if len(quoted) >= 2 and quoted[0] == quoted[-1] == "`":
        return quoted[1:-1].replace("\r", "")
    if len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
        raise ValueError("invalid syntax")
    return _unescape(quoted[1:-1], '"')


def _unescape(body: str, quote: str) -> str:
    out: list[str] = []
    pending = bytearray()
    i = 0
    n = len(body)

    def flush() -> None:
        if pending:
            out.append(pending.decode("utf-8", "replace"))
            pending.clear()

    while i < n:
        ch = body[i]
        if ch != "\\":
            if ch == quote or ch == "\n":
                raise ValueError("invalid syntax")
            flush()
            out.append(ch)
            i += 1
            continue
        i += 1
        if i >= n:
            raise ValueError("invalid syntax")
        esc = body[i]
        if esc in _GO_ESCAPES:
            if esc in "'\"" and esc != quote:
                raise ValueError("invalid syntax")
            flush()
            out.append(_GO_ESCAPES[esc])
            i += 1
        elif esc in "01234567":
            digits = body[i : i + 3]
            if len(digits) < 3 or any(d not in "01234567" for d in digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            pending.append(int(digits, 8))
            i += 3
        elif esc in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i + 1 : i + 1 + size]
            if len(digits) < size or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError("invalid syntax")
            value = int(digits, 16)
            if esc == "x":
                pending.append(value)
            else:
                if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                    raise ValueError("invalid syntax")
                flush()
                out.append(chr(value))
            i += 1 + size
        else:
            raise ValueError("invalid syntax")
    flush()
    return "".join(out)


_INT_RE = re.compile(r"[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)")


def _go_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)`` without the range check (None: not an integer)."""
    if not _INT_RE.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if "__" in body or body.endswith("_"):
        return None
    if len(body) > 1 and body[0] == "0" and body[1] in "0123456789_":
        body = "0o" + body[1:]  # legacy octal: 0777
    try:
        return sign * int(body, 0)
    except ValueError:
        return None


def _go_float(text: str) -> float | None:
    """``strconv.ParseFloat(text, 64)`` for Go literal syntax (None: not a float)."""
    body = text.lstrip("+-")
    sign = -1.0 if text.startswith("-") else 1.0
    if "__" in body or body.startswith("_") or body.endswith("_"):
        return None
    clean = body.replace("_", "")
    try:
        if clean[:2].lower() == "0x":
            if "p" not in clean.lower():
                return None
            return sign * float.fromhex(clean)
        if not re.fullmatch(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", clean):
            return None
        value = float(clean)
    except (ValueError, OverflowError):
        return None
    # ParseFloat fails with ErrRange past the largest float64 (Python says inf)
    return None if math.isinf(value) else sign * value


def _go_float_overflows(text: str) -> bool:
    """Whether ``text`` is a decimal float literal past the float64 range (ErrRange)."""
    clean = text.lstrip("+-").replace("_", "")
    if not re.fullmatch(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", clean):
        return False
    return math.isinf(float(clean))


class _Parser:
    def __init__(
        self, text: str, name: str, functions: frozenset[str], items: list[Item],
        trees: dict[str, ListNode],
    ) -> None:  # fmt: skip
        self.text = text
        self.name = name
        self.functions = functions
        self.items = items  # always ends with an EOF or ERROR item
        self.last = len(items) - 1
        self.index = 0
        self.trees = trees
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.nesting = 0

    # -- items -----------------------------------------------------------------

    def next(self) -> Item:
        item = self.items[min(self.index, self.last)]
        self.index += 1
        return item

    def backup(self, count: int = 1) -> None:
        self.index -= count

    def peek(self) -> Item:
        return self.items[min(self.index, self.last)]

    def next_non_space(self) -> Item:
        item = self.next()
        while item.type in (T.SPACE, T.COMMENT):
            item = self.next()
        return item

    def peek_non_space(self) -> Item:
        """The next non-space item; spaces before it are consumed (as in Go)."""
        while self.peek().type in (T.SPACE, T.COMMENT):
            self.index += 1
        return self.peek()

    def error(self, message: str, pos: int | None = None) -> TemplateSyntaxError:
        at = self.items[min(max(self.index - 1, 0), self.last)].pos if pos is None else pos
        line, column, source = position(self.text, at)
        return TemplateSyntaxError(
            message, name=self.name, line=line, column=column, source_line=source
        )

    def expect(self, expected: ItemType, context: str) -> Item:
        token = self.next_non_space()
        if token.type is not expected:
            raise self.unexpected(token, context)
        return token

    def unexpected(self, token: Item, context: str) -> TemplateSyntaxError:
        if token.type is T.ERROR:
            return self.error(token.val, token.pos)
        return self.error(f"unexpected {token.describe()} in {context}", token.pos)

    # -- structure ---------------------------------------------------------------

    def parse_root(self) -> None:
        root = ListNode(self.peek().pos)
        # peek_non_space: a comment between actions is no item in Go (parse.Mode 0), so
        # "{{/* c */}}{{ define ... }}" is still a top-level define.
        while self.peek_non_space().type is not T.EOF:
            if self.peek().type is T.LEFT_DELIM:
                start = self.index
                self.next()
                if self.next_non_space().type is T.DEFINE:
                    self._parse_definition()
                    continue
                self.index = start
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                kind = "<end>" if isinstance(node, _End) else "<else>"
                raise self.error(f"unexpected {kind}", node.pos)
            if node is not None:
                root.nodes.append(node)
        self._add(self.name, root)

    def _add(self, name: str, tree: ListNode) -> None:
        existing = self.trees.get(name)
        if existing is not None and not _is_empty(existing):
            if _is_empty(tree):
                return
            raise self.error(
                f"template: multiple definition of template {name!r}".replace("'", '"')
            )
        self.trees[name] = tree

    def _sub_parser(self) -> _Parser:
        sub = _Parser(self.text, self.name, self.functions, self.items, self.trees)
        sub.index = self.index
        return sub

    def _parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.type not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(token, context)
        name = self._unquote(token)
        self.expect(T.RIGHT_DELIM, context)
        sub = self._sub_parser()
        body, end = sub.item_list()
        self.index = sub.index
        if not isinstance(end, _End):
            raise self.error(f"unexpected <else> in {context}", end.pos)
        self._add(name, body)

    def _unquote(self, token: Item) -> str:
        try:
            return unquote(token.val)
        except ValueError as exc:
            raise self.error(str(exc), token.pos) from None

    def item_list(self) -> tuple[ListNode, Node]:
        body = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().type is not T.EOF:
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                return body, node
            if node is not None:
                body.nodes.append(node)
        raise self.error("unexpected EOF", self.peek().pos)

    def text_or_action(self) -> Node | None:
        token = self.next_non_space()
        if token.type is T.TEXT:
            return TextNode(token.pos, token.val)
        if token.type is T.LEFT_DELIM:
            return self.action()
        if token.type is T.EOF:
            return None
        raise self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        kind = token.type
        if kind is T.BLOCK:
            return self._block_control()
        if kind in (T.BREAK, T.CONTINUE):
            word = token.val
            after = self.next_non_space()
            if after.type is not T.RIGHT_DELIM:
                raise self.unexpected(after, f"{{{{{word}}}}}")
            if self.range_depth == 0:
                raise self.error(f"{{{{{word}}}}} outside {{{{range}}}}", token.pos)
            return BreakNode(token.pos) if kind is T.BREAK else ContinueNode(token.pos)
        if kind is T.ELSE:
            peek = self.peek_non_space()
            if peek.type in (T.IF, T.WITH):
                return _Else(peek.pos)
            return _Else(self.expect(T.RIGHT_DELIM, "else").pos)
        if kind is T.END:
            return _End(self.expect(T.RIGHT_DELIM, "end").pos)
        if kind is T.IF:
            return IfNode(*self._parse_control("if"))
        if kind is T.RANGE:
            return RangeNode(*self._parse_control("range"))
        if kind is T.WITH:
            return WithNode(*self._parse_control("with"))
        if kind is T.TEMPLATE:
            return self._template_control()
        self.backup()
        start = self.peek()
        return ActionNode(start.pos, self.pipeline("command", T.RIGHT_DELIM))

    def _parse_control(self, context: str) -> tuple[int, PipeNode, ListNode, ListNode | None]:
        depth = len(self.vars)
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(f"control structures nest deeper than {MAX_NESTING}")
        try:
            pipe = self.pipeline(context, T.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            body, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list: ListNode | None = None
            if isinstance(nxt, _Else):
                peek = self.peek()
                if context == "if" and peek.type is T.IF:
                    self.next()
                    else_list = ListNode(nxt.pos, [IfNode(*self._parse_control("if"))])
                elif context == "with" and peek.type is T.WITH:
                    self.next()
                    else_list = ListNode(nxt.pos, [WithNode(*self._parse_control("with"))])
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, _End):
                        raise self.error("expected end; found <else>", nxt.pos)
            return pipe.pos, pipe, body, else_list
        finally:
            self.nesting -= 1
            del self.vars[depth:]

    def _template_name(self, token: Item, context: str) -> str:
        if token.type not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(token, context)
        return self._unquote(token)

    def _template_control(self) -> Node:
        context = "template clause"
        token = self.next_non_space()
        name = self._template_name(token, context)
        pipe = None
        if self.next_non_space().type is not T.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, T.RIGHT_DELIM)
        return TemplateNode(token.pos, name, pipe)

    def _block_control(self) -> Node:
        context = "block clause"
        token = self.next_non_space()
        name = self._template_name(token, context)
        pipe = self.pipeline(context, T.RIGHT_DELIM)
        sub = self._sub_parser()
        body, end = sub.item_list()
        self.index = sub.index
        if not isinstance(end, _End):
            raise self.error(f"unexpected <else> in {context}", end.pos)
        self._add(name, body)
        return TemplateNode(token.pos, name, pipe)

    # -- pipelines ---------------------------------------------------------------

    def pipeline(self, context: str, end: ItemType) -> PipeNode:
        self.nesting += 1
        try:
            return self._pipeline(context, end)
        finally:
            self.nesting -= 1

    def _pipeline(self, context: str, end: ItemType) -> PipeNode:
        if self.nesting > MAX_NESTING:
            raise self.error(f"pipelines nest deeper than {MAX_NESTING}")
        pipe = PipeNode(self.peek_non_space().pos)
        self._declarations(pipe, context)
        while True:
            token = self.next_non_space()
            if token.type is end:
                self._check_pipeline(pipe, context, token)
                return pipe
            if token.type in _OPERAND_START:
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(token, context)

    def _declarations(self, pipe: PipeNode, context: str) -> None:
        while True:
            variable = self.peek_non_space()
            if variable.type is not T.VARIABLE:
                return
            start = self.index
            self.next_non_space()
            after_variable = self.peek()
            nxt = self.peek_non_space()
            if nxt.type in (T.ASSIGN, T.DECLARE):
                pipe.is_assign = nxt.type is T.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(variable.pos, [variable.val]))
                self.vars.append(variable.val)
                return
            if nxt.type is T.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(variable.pos, [variable.val]))
                self.vars.append(variable.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().type in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue
                    raise self.error("range can only initialize variables")
                raise self.error(f"too many declarations in {context}")
            del after_variable
            self.index = start
            return

    def _check_pipeline(self, pipe: PipeNode, context: str, token: Item) -> None:
        if not pipe.cmds:
            raise self.error(f"missing value for {context}", token.pos)
        for stage, cmd in enumerate(pipe.cmds[1:], start=2):
            if isinstance(cmd.args[0], BoolNode | DotNode | NilNode | NumberNode | StringNode):
                raise self.error(f"non executable command in pipeline stage {stage}", cmd.pos)

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.type is T.SPACE:
                continue
            if token.type in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup()
            elif token.type is not T.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.error("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().type is T.FIELD:
            fields: list[str] = []
            chain_pos = self.peek().pos
            while self.peek().type is T.FIELD:
                fields.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(node.pos, [*node.ident, *fields])
            if isinstance(node, VariableNode):
                return VariableNode(node.pos, [*node.ident, *fields])
            if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
                raise self.error(
                    f"unexpected . after term {_node_text(self.text, node)!r}".replace("'", '"'),
                    chain_pos,
                )
            return ChainNode(chain_pos, node, fields)
        return node

    def term(self) -> Node | None:
        token = self.next_non_space()
        kind = token.type
        if kind is T.IDENTIFIER:
            if token.val not in self.functions:
                raise self.error(f'function "{token.val}" not defined', token.pos)
            return IdentifierNode(token.pos, token.val)
        if kind is T.DOT:
            return DotNode(token.pos)
        if kind is T.NIL:
            return NilNode(token.pos)
        if kind is T.VARIABLE:
            name, *fields = token.val.split(".")
            if name not in self.vars:
                raise self.error(f'undefined variable "{name}"', token.pos)
            return VariableNode(token.pos, [name, *fields])
        if kind is T.FIELD:
            return FieldNode(token.pos, token.val[1:].split("."))
        if kind is T.BOOL:
            return BoolNode(token.pos, token.val == "true")
        if kind in (T.CHAR_CONSTANT, T.COMPLEX, T.NUMBER):
            return self._number(token)
        if kind is T.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
        if kind in (T.STRING, T.RAW_STRING):
            return StringNode(token.pos, token.val, self._unquote(token))
        self.backup()
        return None

    def _number(self, token: Item) -> NumberNode:
        text = token.val
        node = NumberNode(token.pos, text)
        if token.type is T.CHAR_CONSTANT:
            try:
                body = _unescape(text[1:-1], "'")
            except ValueError:
                raise self.error("invalid syntax", token.pos) from None
            if len(body) != 1:
                raise self.error(f"malformed character constant: {text}", token.pos)
            code = ord(body)
            node.is_int = node.is_uint = node.is_float = True
            node.int64 = node.uint64 = code
            node.float64 = float(code)
            return node
        if token.type is T.COMPLEX:
            split = max(text.rfind("+"), text.rfind("-"))
            real, imag = _go_float(text[:split]), _go_float(text[split:-1])
            for part, value in ((text[:split], real), (text[split:-1], imag)):
                if value is None and _go_float_overflows(part):
                    raise self.error(
                        f'strconv.ParseFloat: parsing "{part}": value out of range', token.pos
                    )
            if real is None or imag is None:
                raise self.error(f"illegal number syntax: {text!r}", token.pos)
            return self._simplify(node, complex(real, imag))
        if text.endswith("i"):
            imag = _go_float(text[:-1])
            if imag is None and (as_int := _go_int(text[:-1])) is not None:
                imag = float(as_int)
            if imag is not None:
                return self._simplify(node, complex(0, imag))
        value = _go_int(text)
        if value is not None and 0 <= value < 2**64:
            node.is_uint, node.uint64 = True, value
        if value is not None and -(2**63) <= value < 2**63:
            node.is_int, node.int64 = True, value
        if node.is_int:
            node.is_float, node.float64 = True, float(node.int64)
        elif node.is_uint:
            node.is_float, node.float64 = True, float(node.uint64)
        else:
            number = _go_float(text)
            if number is not None:
                if not any(c in text for c in ".eEpP"):
                    raise self.error(f"integer overflow: {text}", token.pos)
                node.is_float, node.float64 = True, number
                if number.is_integer() and -(2**63) <= number < 2**63:
                    node.is_int, node.int64 = True, int(number)
                if number.is_integer() and 0 <= number < 2**64:
                    node.is_uint, node.uint64 = True, int(number)
        if not (node.is_int or node.is_uint or node.is_float):
            raise self.error(f'illegal number syntax: "{text}"', token.pos)
        return node

    @staticmethod
    def _simplify(node: NumberNode, value: complex) -> NumberNode:
        node.is_complex, node.complex128 = True, value
        if value.imag == 0:
            node.is_float, node.float64 = True, value.real
            if value.real.is_integer() and -(2**63) <= value.real < 2**63:
                node.is_int, node.int64 = True, int(value.real)
            if value.real.is_integer() and 0 <= value.real < 2**64:
                node.is_uint, node.uint64 = True, int(value.real)
        return node


def _node_text(text: str, node: Node) -> str:
    if isinstance(node, StringNode):
        return node.quoted
    if isinstance(node, NumberNode):
        return node.text
    if isinstance(node, BoolNode):
        return "true" if node.true else "false"
    if isinstance(node, NilNode):
        return "nil"
    return "."


def _is_empty(tree: ListNode) -> bool:
    return all(isinstance(n, TextNode) and not n.text.strip() for n in tree.nodes)
