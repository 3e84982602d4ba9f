"""A small docstring reader for tool descriptions: Google, NumPy and reST styles (pure).

:func:`parse_docstring` returns what a tool needs from a docstring and nothing more: the
summary, the description (the text before the first section or field), each parameter's
description, and the text of the returns section. Types written in docstrings are ignored:
the schema takes types from the annotations.

Written by hand rather than taken from ``docstring-parser`` or ``griffe`` to keep llmkit's
dependencies small; the three styles are recognised as follows:

* **NumPy**: a known section name underlined with dashes (``Parameters`` / ``----------``);
  entries are ``name : type`` with the description indented below.
* **reST** (Sphinx): field lines such as ``:param city: ...`` or ``:param str city: ...``.
* **Google**: a known section name followed by a colon on its own line (``Args:``); entries
  are ``name (type): description`` with continuation lines indented deeper.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Docstring", "DocstringStyle", "parse_docstring"]

DocstringStyle = Literal["google", "numpy", "rest", "plain"]

_PARAM_SECTIONS = frozenset(
    {
        "args",
        "arguments",
        "parameters",
        "params",
        "keyword args",
        "keyword arguments",
        "kwargs",
        "other parameters",
        "attributes",
    }
)
_RETURN_SECTIONS = frozenset({"returns", "return", "yields", "yield"})
_OTHER_SECTIONS = frozenset(
    {
        "raises",
        "raise",
        "warns",
        "examples",
        "example",
        "note",
        "notes",
        "warning",
        "warnings",
        "see also",
        "references",
        "todo",
        "methods",
        "receives",
    }
)
_SECTIONS = _PARAM_SECTIONS | _RETURN_SECTIONS | _OTHER_SECTIONS

_GOOGLE_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_GOOGLE_ENTRY = re.compile(r"^(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:(?:\s+(.*))?$")
_NUMPY_RULE = re.compile(r"^\s*-{3,}\s*$")
_NUMPY_ENTRY = re.compile(r"^(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?::.*)?$")
_REST_FIELD = re.compile(r"^\s*:([A-Za-z]+)((?:\s+[^:\s][^:]*)?):\s*(.*)$")
_REST_PARAM_FIELDS = frozenset({"param", "parameter", "arg", "argument", "key", "keyword"})
_REST_RETURN_FIELDS = frozenset({"returns", "return"})
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d+[.)])\s")


@dataclass(frozen=True)
class Docstring:
    """What a docstring says about a function or model, for a tool's description.

    ``description`` is the text before the first section (the summary included);
    ``params`` maps each documented parameter name (without ``*``) to its description.
    """

    summary: str = ""
    description: str = ""
    params: dict[str, str] = field(default_factory=dict)
    returns: str | None = None
    style: DocstringStyle = "plain"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _join(lines: Sequence[str]) -> str:
    """Join a wrapped description: lines of a paragraph with spaces, list items on their own
    lines, paragraphs separated by a blank line."""
    paragraphs: list[str] = []
    current = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            if current:
                paragraphs.append(current)
                current = ""
        elif not current:
            current = line
        elif _LIST_ITEM.match(line):
            current += "\n" + line
        else:
            current += " " + line
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs)


def _summary(description: str) -> str:
    return " ".join(description.split("\n\n", 1)[0].split())


def _block(lines: Sequence[str]) -> str:
    """Lines dedented and stripped of blank lines at both ends, newlines kept."""
    return textwrap.dedent("\n".join(line.rstrip() for line in lines)).strip("\n")


def _numpy_header(lines: Sequence[str], i: int) -> str | None:
    if i + 1 < len(lines) and _NUMPY_RULE.match(lines[i + 1]):
        name = lines[i].strip().lower()
        if name in _SECTIONS:
            return name
    return None


def _google_header(line: str) -> str | None:
    match = _GOOGLE_HEADER.match(line.strip())
    if match and match.group(1).lower() in _SECTIONS:
        return match.group(1).lower()
    return None


def _detect(lines: Sequence[str]) -> DocstringStyle:
    if any(_numpy_header(lines, i) for i in range(len(lines))):
        return "numpy"
    if any(_REST_FIELD.match(line) for line in lines):
        return "rest"
    if any(_google_header(line) for line in lines):
        return "google"
    return "plain"


def _entries(body: Sequence[str], entry: re.Pattern[str]) -> list[tuple[re.Match[str], list[str]]]:
    """Split a section's lines into entries: a line at the section's base indentation that
    matches ``entry``, followed by its deeper-indented continuation lines."""
    base = min((_indent(line) for line in body if line.strip()), default=0)
    found: list[tuple[re.Match[str], list[str]]] = []
    for line in body:
        match = entry.match(line.strip()) if line.strip() and _indent(line) == base else None
        if match:
            found.append((match, []))
        elif found:
            found[-1][1].append(line)
    return found


def _sections(
    lines: Sequence[str], header_at: dict[int, tuple[str, int]]
) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """Split lines into the text before the first section and each (name, body) section;
    ``header_at`` maps a header's line index to its name and the number of header lines."""
    first = min(header_at, default=len(lines))
    sections: list[tuple[str, list[str]]] = []
    i = first
    while i < len(lines):
        name, size = header_at[i]
        j = i + size
        while j < len(lines) and j not in header_at:
            j += 1
        sections.append((name, list(lines[i + size : j])))
        i = j
    return list(lines[:first]), sections


def _parse_google(lines: Sequence[str]) -> Docstring:
    header_at: dict[int, tuple[str, int]] = {}
    for i, line in enumerate(lines):
        name = _google_header(line)
        if name is not None and _indent(line) == 0:
            header_at[i] = (name, 1)
    intro, sections = _sections(lines, header_at)
    params: dict[str, str] = {}
    returns: str | None = None
    for name, section in sections:
        # A section ends at the first line back at the header's indentation.
        ends = [i for i, line in enumerate(section) if line.strip() and _indent(line) == 0]
        body = section[: ends[0]] if ends else section
        if name in _PARAM_SECTIONS:
            for match, rest in _entries(body, _GOOGLE_ENTRY):
                params[match.group(1).lstrip("*")] = _join([match.group(3) or "", *rest])
        elif name in _RETURN_SECTIONS and returns is None:
            returns = _join(body)
    description = _block(intro)
    return Docstring(_summary(description), description, params, returns, "google")


def _parse_numpy(lines: Sequence[str]) -> Docstring:
    header_at: dict[int, tuple[str, int]] = {}
    for i in range(len(lines)):
        name = _numpy_header(lines, i)
        if name is not None:
            header_at[i] = (name, 2)
    intro, sections = _sections(lines, header_at)
    params: dict[str, str] = {}
    returns: str | None = None
    for name, body in sections:
        if name in _PARAM_SECTIONS:
            for match, rest in _entries(body, _NUMPY_ENTRY):
                text = _join(rest)
                for each in match.group(1).split(","):
                    params[each.strip().lstrip("*")] = text
        elif name in _RETURN_SECTIONS and returns is None:
            returns = _block(body)
    description = _block(intro)
    return Docstring(_summary(description), description, params, returns, "numpy")


def _parse_rest(lines: Sequence[str]) -> Docstring:
    fields = [(i, m) for i, line in enumerate(lines) if (m := _REST_FIELD.match(line))]
    description = _block(lines[: fields[0][0]] if fields else lines)
    params: dict[str, str] = {}
    returns: str | None = None
    for n, (start, match) in enumerate(fields):
        end = fields[n + 1][0] if n + 1 < len(fields) else len(lines)
        # A field runs to the next field or to the first line back at (or left of) its indent.
        rest: list[str] = []
        for line in lines[start + 1 : end]:
            if line.strip() and _indent(line) <= _indent(lines[start]):
                break
            rest.append(line)
        kind, argument = match.group(1).lower(), match.group(2).split()
        text = _join([match.group(3), *rest])
        if kind in _REST_PARAM_FIELDS and argument:
            params[argument[-1].lstrip("*")] = text
        elif kind in _REST_RETURN_FIELDS and returns is None:
            returns = text
    return Docstring(_summary(description), description, params, returns, "rest")


def parse_docstring(text: str | None) -> Docstring:
    """Read a docstring in Google, NumPy or reST style (detected); plain text is all description.

    >>> doc = parse_docstring('''Get the weather.
    ...
    ... Args:
    ...     city: The city, e.g. "Paris".
    ... ''')
    >>> doc.summary, doc.params
    ('Get the weather.', {'city': 'The city, e.g. "Paris".'})
    """
    if not text or not text.strip():
        return Docstring()
    lines = inspect.cleandoc(text).expandtabs().splitlines()
    style = _detect(lines)
    if style == "numpy":
        return _parse_numpy(lines)
    if style == "rest":
        return _parse_rest(lines)
    if style == "google":
        return _parse_google(lines)
    description = _block(lines)
    return Docstring(_summary(description), description)
