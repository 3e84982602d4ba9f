"""Small pure helpers both protocols share: JSON bodies, timestamps, durations.

Nothing here does I/O; the routes hand it bytes and get Python values back.

:func:`parse_json_object` reads a body as RFC 8259 JSON a client may send: UTF-8
(invalid bytes, and escaped lone surrogates such as ``"\\ud800"``, are refused
naming the field that holds them), finite numbers only (``NaN``, ``Infinity``,
``1e999``), and nested at most :data:`MAX_JSON_DEPTH` levels.  Each refusal is an
:class:`~llmkit.errors.InvalidRequestError` naming the field, so none of them
reaches a backend (whose tokenizer would fail to encode the text) or Python's
recursion limit.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from llmkit.errors import InvalidRequestError

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_KEEP_ALIVE_SECONDS",
    "dumps",
    "now_rfc3339",
    "parse_duration",
    "parse_json_object",
    "validate",
]

M = TypeVar("M", bound=BaseModel)

#: How deep a request body's arrays and objects may nest (the body itself is level 1).
MAX_JSON_DEPTH = 100
#: The longest ``keep_alive``: a Go duration's range (int64 nanoseconds), as Ollama's.
MAX_KEEP_ALIVE_SECONDS = 9_223_372_036.0
_SURROGATE = re.compile("[\ud800-\udfff]")
#: JSON strings and punctuation, for finding where a body nests too deeply.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},:]')
_PART_CHARS = 40
_PATH_PARTS = 8

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def dumps(value: Any) -> str:
    """Compact JSON, as Go's ``encoding/json`` writes it (no spaces, UTF-8 kept)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def now_rfc3339() -> str:
    """The time now as RFC 3339 with a ``Z``, as Ollama stamps ``created_at``."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def parse_json_object(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """A request body that must be one JSON object; anything else names what is wrong.

    See the module docstring for what is refused besides malformed JSON.
    """
    if not raw.strip():
        raise InvalidRequestError("missing request body")
    # Invalid bytes become lone surrogates here, found below with the field that holds them.
    text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "surrogateescape")
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep(_deep_path(text, max_depth), max_depth) from None
    except ValueError as exc:
        raise InvalidRequestError(f"invalid JSON in the request body: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"the request body must be a JSON object, not {type(value).__name__}"
        )
    check_json(value, max_depth=max_depth)
    return value


def field_path(parts: tuple[str, ...] | list[str]) -> str:
    """``messages.0.content`` from its parts, each cut short and made printable."""
    shown = []
    for part in parts[:_PATH_PARTS]:
        text = part if len(part) <= _PART_CHARS else part[:_PART_CHARS] + "…"
        shown.append(text.encode("utf-8", "backslashreplace").decode("utf-8"))
    if len(parts) > _PATH_PARTS:
        shown.append("…")
    return ".".join(shown)


def _too_deep(parts: tuple[str, ...], max_depth: int) -> InvalidRequestError:
    if not parts:
        return InvalidRequestError(f"the request body nests JSON deeper than {max_depth} levels")
    path = field_path(parts)
    return InvalidRequestError(f"{path}: JSON nested deeper than {max_depth} levels", fields=[path])


def _scalar_problem(value: object) -> str | None:
    """What is wrong with a string or number, if anything (the common case is fast)."""
    if isinstance(value, str):
        if value.isascii() or _SURROGATE.search(value) is None:
            return None
        return "not valid UTF-8 text (an invalid byte, or a lone surrogate such as \\ud800)"
    if isinstance(value, float) and not math.isfinite(value):
        return f"numbers must be finite, got {value!r}"
    return None


def _refuse_scalar(parts: tuple[str, ...], problem: str) -> InvalidRequestError:
    if not parts:
        return InvalidRequestError(f"the request body: {problem}")
    path = field_path(parts)
    return InvalidRequestError(f"{path}: {problem}", fields=[path])


def check_json(value: object, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse text that is not UTF-8, numbers that are not finite, and nesting past
    ``max_depth``, naming the first field (in document order) that has any.

    Iterative, so any depth is safe to check.
    """
    stack: list[tuple[object, tuple[str, ...], int]] = [(value, (), 1)]
    while stack:
        node, parts, depth = stack.pop()
        if isinstance(node, dict):
            if depth > max_depth:
                raise _too_deep(parts, max_depth)
            children: list[tuple[object, tuple[str, ...], int]] = []
            for key, child in node.items():
                problem = _scalar_problem(key)
                if problem is None and isinstance(child, dict | list):
                    children.append((child, (*parts, key), depth + 1))
                elif problem is not None or (problem := _scalar_problem(child)) is not None:
                    raise _refuse_scalar((*parts, key), problem)
            stack.extend(reversed(children))
        elif isinstance(node, list):
            if depth > max_depth:
                raise _too_deep(parts, max_depth)
            children = []
            for index, child in enumerate(node):
                if isinstance(child, dict | list):
                    children.append((child, (*parts, str(index)), depth + 1))
                elif (problem := _scalar_problem(child)) is not None:
                    raise _refuse_scalar((*parts, str(index)), problem)
            stack.extend(reversed(children))
        elif (problem := _scalar_problem(node)) is not None:
            raise _refuse_scalar(parts, problem)


def _deep_path(text: str, max_depth: int) -> tuple[str, ...]:
    """Where ``text`` (JSON too deep for :func:`json.loads`) first nests past ``max_depth``.

    Only strings and punctuation are scanned; a key is shown as written (escapes kept).
    """
    stack: list[list[Any]] = []  # [opening bracket, current key or index]
    last_string = ""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0] == '"':
            last_string = token[1:-1]
        elif token in "[{":
            stack.append([token, 0 if token == "[" else ""])
            if len(stack) > max_depth:
                return tuple(str(entry[1]) for entry in stack[:-1])
        elif token in "]}":
            if stack:
                stack.pop()
        elif token == ":" and stack and stack[-1][0] == "{":
            stack[-1][1] = last_string
        elif token == "," and stack and stack[-1][0] == "[":
            stack[-1][1] += 1
    return ()


def validate(cls: type[M], data: dict[str, Any], *, prefix: str = "") -> M:
    """``cls.model_validate(data)``; pydantic's error becomes one naming each field."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError.from_validation_error(exc, prefix=prefix) from exc


def parse_duration(value: object, *, field: str = "keep_alive") -> float | None:
    """Seconds from an Ollama duration: a number of seconds or Go's ``"5m"``/``"1h30m"``.

    A negative duration means "forever" and gives ``None``.  Anything that is not a
    finite duration of at most :data:`MAX_KEEP_ALIVE_SECONDS` (``"inf"``, ``1e20``) is
    refused, naming ``field``.
    """
    seconds: float
    if isinstance(value, bool):
        raise InvalidRequestError(f"{field}: expected a duration, got {value!r}", fields=[field])
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = _go_duration(text, field)
    else:
        raise InvalidRequestError(f"{field}: expected a duration, got {value!r}", fields=[field])
    if not math.isfinite(seconds) or abs(seconds) > MAX_KEEP_ALIVE_SECONDS:
        raise InvalidRequestError(
            f"{field}: expected a duration of at most {MAX_KEEP_ALIVE_SECONDS:.0f} seconds "
            f"(a negative one keeps the model loaded), got {value!r}",
            fields=[field],
        )
    return None if seconds < 0 else seconds


def _go_duration(text: str, field: str) -> float:
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    position = 0
    total = 0.0
    while position < len(body):
        match = _PART.match(body, position)
        if match is None:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not body or position != len(body):
        raise InvalidRequestError(
            f"{field}: invalid duration {text!r} (give seconds, or Go's form: 5m, 1h30m)",
            fields=[field],
        )
    return sign * total
