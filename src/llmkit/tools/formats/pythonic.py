"""Calls written as a Python list (pure): ``[get_weather(city="Paris"), get_time()]``.

Llama 3.2 and Llama 4 write their calls this way at the start of the output (Llama 4
also between ``<|python_start|>`` and ``<|python_end|>``). Arguments are keyword
arguments whose values are Python literals (``True``, ``None``, tuples, ...) or JSON's
``true`` / ``false`` / ``null``; they are decoded with :mod:`ast`, never evaluated.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import tokenize
from collections.abc import Sequence
from typing import Any

from llmkit.tools.formats.base import (
    VALUE,
    BlockBase,
    BlockHost,
    CallParts,
    Failure,
    Opener,
    Stream,
    ToolCallFormat,
)
from llmkit.tools.scan_python import PythonListScanner

__all__ = ["PYTHONIC", "PythonicBlock", "parse_call_list"]

_JSON_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None}


class _NotJson(ValueError):
    pass


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _literal(node: ast.expr) -> Any:
    """A keyword argument's value as JSON data, read off the syntax tree (nothing runs):
    Python literals (tuples become lists) and JSON's ``true`` / ``false`` / ``null``."""
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise _NotJson(f"a {type(value).__name__} has no JSON form")
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        result: dict[str, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            key = _literal(key_node) if key_node is not None else None
            if not isinstance(key, str):
                raise _NotJson("a dict with keys that are not strings")
            result[key] = _literal(value_node)
        return result
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub | ast.UAdd)
        and isinstance(node.operand, ast.Constant)
    ):
        number = node.operand.value
        if isinstance(number, int | float) and not isinstance(number, bool):
            return -number if isinstance(node.op, ast.USub) else number
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return _JSON_NAMES[node.id]
    raise _NotJson(f"{type(node).__name__} is not a literal")


_RENAMED = "__llmkit_keyword_"


def _rename_keyword_arguments(source: str) -> str | None:
    """``f(from="SFO")`` is no Python, but a model writes it for a parameter named
    ``from``: such keyword arguments are renamed (outside strings), or ``None`` if there
    are none or the text does not tokenize."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    significant = [t for t in tokens if t.type not in (tokenize.NL, tokenize.NEWLINE)]
    renamed = False
    rewritten: list[tuple[int, str]] = []
    for number, token in enumerate(significant):
        text = token.string
        if (
            token.type == tokenize.NAME
            and keyword.iskeyword(text)
            and 0 < number < len(significant) - 1
            and significant[number - 1].string in ("(", ",")
            and significant[number + 1].string == "="
        ):
            text = _RENAMED + text
            renamed = True
        rewritten.append((token.type, text))
    return tokenize.untokenize(rewritten) if renamed else None


def _parse(source: str) -> ast.Expression | Failure:
    try:
        return ast.parse(source, mode="eval")
    except SyntaxError as error:
        renamed = _rename_keyword_arguments(source)
        if renamed is not None:
            retry = _parse(renamed)
            if not isinstance(retry, Failure):
                return retry
        return Failure("invalid_python", f"not a Python call list: {error.msg}")
    except (ValueError, RecursionError, MemoryError) as error:
        return Failure("invalid_python", f"not a Python call list: {error}")


def _call_parts(number: int, element: ast.expr) -> CallParts | Failure:
    if not isinstance(element, ast.Call):
        return Failure("not_a_call", f"item {number} of the list is not a call")
    name = _dotted(element.func)
    if name is None:
        return Failure("missing_name", f"call {number} is not to a plain function name")
    if element.args:
        return Failure(
            "invalid_arguments", f"{name}() has positional arguments; only keywords are named"
        )
    arguments: dict[str, Any] = {}
    for kwarg in element.keywords:
        if kwarg.arg is None:
            return Failure("invalid_arguments", f"{name}() unpacks arguments with **")
        key = kwarg.arg.removeprefix(_RENAMED)
        try:
            arguments[key] = _literal(kwarg.value)
        except (ValueError, RecursionError) as error:
            return Failure("invalid_arguments", f"{name}({key}=...) is not a literal: {error}")
    return CallParts(name, arguments)


def _parse_whole(source: str) -> list[CallParts] | Failure:
    tree = _parse(source)
    if isinstance(tree, Failure):
        return tree
    if not isinstance(tree.body, ast.List):
        return Failure("not_a_call", "the calls must be a Python list")
    calls: list[CallParts] = []
    for number, element in enumerate(tree.body.elts):
        parts = _call_parts(number, element)
        if isinstance(parts, Failure):
            return parts
        calls.append(parts)
    return calls


# The common shape of a call, read without building a syntax tree: a plain (dotted) name
# and keyword arguments whose values are simple literals (strings without escapes or line
# breaks, decimal numbers, True/False/None or JSON's names) or flat lists and tuples of
# them. Anything else, or anything doubtful, goes to :mod:`ast`.
_SIMPLE_CALL = re.compile(
    r"[ \t\n\r]*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)[ \t\n\r]*\("
)
_SCALAR = (
    r"'[^'\\\n\r\0]*'|\"[^\"\\\n\r\0]*\""
    r"|-?(?:0|[1-9][0-9]{0,30})(?:\.[0-9]{1,30})?(?:[eE][-+]?[0-9]{1,4})?(?![0-9A-Za-z_.])"
    r"|(?:True|False|None|true|false|null)(?![0-9A-Za-z_])"
)
_SIMPLE_ARGUMENT = re.compile(
    r"[ \t\n\r]*([A-Za-z_][A-Za-z0-9_]*)[ \t\n\r]*=[ \t\n\r]*"
    rf"(?:({_SCALAR})|\[((?:[ \t\n\r]*(?:{_SCALAR})[ \t\n\r]*,)*"
    rf"[ \t\n\r]*(?:(?:{_SCALAR})[ \t\n\r]*)?)\]|\(((?:[ \t\n\r]*(?:{_SCALAR})[ \t\n\r]*,)+"
    rf"[ \t\n\r]*(?:(?:{_SCALAR})[ \t\n\r]*)?)\))"
    r"[ \t\n\r]*(?:(,)|(?=\)))"
)
_LIST_ITEM = re.compile(rf"[ \t\n\r]*({_SCALAR})[ \t\n\r]*,?")
_CLOSE = re.compile(r"[ \t\n\r]*\)[ \t\n\r]*")
_NAMES: dict[str, Any] = {**_JSON_NAMES, "True": True, "False": False, "None": None}
_KEYWORDS = frozenset(keyword.kwlist)


def _scalar(token: str) -> Any:
    first = token[0]
    if first == "'" or first == '"':
        return token[1:-1]
    if first in _NAMES_FIRST:
        return _NAMES[token]
    return float(token) if "." in token or "e" in token or "E" in token else int(token)


_NAMES_FIRST = frozenset(name[0] for name in _NAMES)


def _simple_call(item: str) -> CallParts | None:
    """The call ``item`` holds, when it has the common simple shape; else ``None``."""
    match = _SIMPLE_CALL.match(item)
    if match is None:
        return None
    name = match.group(1)
    if name in _KEYWORDS or ("." in name and not _KEYWORDS.isdisjoint(name.split("."))):
        return None
    pos = match.end()
    arguments: dict[str, Any] = {}
    more = True
    while more:
        argument = _SIMPLE_ARGUMENT.match(item, pos)
        if argument is None:
            break
        key, scalar, listed, tupled, comma = argument.groups()
        if key in arguments or key in _KEYWORDS:
            return None
        if scalar is not None:
            arguments[key] = _scalar(scalar)
        else:
            inner = listed if listed is not None else tupled
            arguments[key] = [_scalar(found.group(1)) for found in _LIST_ITEM.finditer(inner)]
        pos = argument.end()
        more = comma is not None
    close = _CLOSE.match(item, pos)
    if close is None or close.end() != len(item):
        return None
    return CallParts(name, arguments)


def _parse_items(source: str, commas: Sequence[int]) -> list[CallParts] | None:
    """The calls, parsed one list item at a time (``None``: let the whole parse explain).

    One ``ast.parse`` of a huge list costs more than linear time; items cut at
    the scanner's top-level commas are parsed alone, so the total stays linear.
    """
    starts = [1, *(comma + 1 for comma in commas)]
    ends = [*commas, len(source) - 1]
    calls: list[CallParts] = []
    for number, (start, end) in enumerate(zip(starts, ends, strict=True)):
        item = source[start:end].strip()
        if not item:
            if number == len(starts) - 1 and number > 0:
                break  # a trailing comma
            return None
        simple = _simple_call(item)
        if simple is not None:
            calls.append(simple)
            continue
        tree = _parse(item)
        if isinstance(tree, Failure):
            return None
        parts = _call_parts(number, tree.body)
        if isinstance(parts, Failure):
            return None
        calls.append(parts)
    return calls


def parse_call_list(source: str, commas: Sequence[int] | None = None) -> list[CallParts] | Failure:
    """The calls of a Python list of calls, or why it is not one.

    ``commas`` (the positions of the list's top-level commas, as the scanner
    found them) lets each item be parsed alone; any doubt falls back to one
    parse of the whole list, which also words the failure.
    """
    if commas is not None and source.startswith("[") and source.endswith("]"):
        calls = _parse_items(source, commas)
        if calls is not None:
            return calls
    return _parse_whole(source)


class PythonicBlock(BlockBase):
    """Reads one Python list of calls."""

    def __init__(self, host: BlockHost, opener: Opener, tag_raw: str) -> None:
        super().__init__(host, opener, tag_raw)
        self._scanner: PythonListScanner | None = None

    def feed(self, text: str, pos: int) -> int:
        """See :meth:`BlockBase.feed`; a piece inside the list takes a short way."""
        scanner = self._scanner
        if self._state == VALUE and scanner is not None:
            return self.resume(text, pos, scanner.send((text, pos)))
        return BlockBase.feed(self, text, pos)

    def stream(self) -> Stream | None:
        """See :meth:`BlockBase.stream`: inside the list (no events until it ends)."""
        scanner = self._scanner
        if self._state != VALUE or scanner is None or scanner.done or scanner.error is not None:
            return None
        scanner.stop = False
        return scanner.send, scanner, self._value.append, False

    def resume(self, text: str, pos: int, new: int) -> int:
        """See :meth:`BlockBase.resume`."""
        scanner = self._scanner
        assert scanner is not None
        if new > pos:
            self._value.append(text[pos:new])
        if not scanner.done and scanner.error is None:
            return new  # short of the end: a run of quotes that may open a triple quote
        pos = self._scanned(text, new)
        if pos == len(text) or self.done:
            return pos
        return BlockBase.feed(self, text, pos)

    def _before(self, text: str, pos: int) -> int:
        char = text[pos]
        if char == "[" and not self._calls:
            self._start_value()
            self._scanner = PythonListScanner()
            return pos
        if not self._calls:
            return self._fail(Failure("invalid_python", f"expected '[', found {char!r}"), text, pos)
        self._end()
        return pos

    def _silent(self) -> bool:
        return (
            self._opener.position_bound
            and not self._calls
            and (self._scanner is None or not self._scanner.looks_like_calls)
        )

    def _value_feed(self, text: str, pos: int) -> int:
        scanner = self._scanner
        assert scanner is not None
        new = scanner.feed(text, pos)
        if new > pos:
            self._value.append(text[pos:new])
        return self._scanned(text, new)

    def _scanned(self, text: str, new: int) -> int:
        """The scanner has read the value up to ``text[new]``."""
        scanner = self._scanner
        assert scanner is not None
        if scanner.error is not None:
            return self._fail(Failure("invalid_python", scanner.error), text, new)
        if not scanner.done:
            return new
        raw = "".join(self._value)
        calls = parse_call_list(raw, scanner.commas)
        if isinstance(calls, Failure):
            return self._fail(calls, text, new)
        if not calls:
            return self._fail(Failure("empty", "the list of calls is empty"), text, new)
        count = len(calls)
        commas = scanner.commas
        if len(commas) in (count - 1, count):
            bounds = [0, *commas[: count - 1], len(raw)]
        else:  # cannot happen with a list ast accepted; keep the text whole
            bounds = [0, *([len(raw)] * count)]
        pieces = [raw[bounds[i] : bounds[i + 1]] for i in range(count)]
        for number, parts in enumerate(calls[:-1]):
            self._host.start_call(parts.name)
            prefix = "".join(self._value_prefix) if number == 0 else ""
            self._host.complete_call(parts, prefix + pieces[number])
        if count > 1:
            self._value_prefix = []
        self._host.start_call(calls[-1].name)
        self._value_complete(calls[-1], pieces[-1])
        return new


PYTHONIC = ToolCallFormat(
    "pythonic",
    (
        Opener((), payload="python", position_bound=True),
        Opener(("<|python_start|>",), ("<|python_end|>",), payload="python"),
    ),
)
"""Llama 3.2 / 4: ``[get_weather(city="Paris")]`` at the start of the output, or inside
``<|python_start|>`` ... ``<|python_end|>`` anywhere."""
