"""Small pure helpers both protocols share: JSON bodies, timestamps, durations.

Nothing here does I/O; the routes hand it bytes and get Python values back.
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
    "dumps",
    "now_rfc3339",
    "parse_duration",
    "parse_json_object",
    "validate",
]

M = TypeVar("M", bound=BaseModel)

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


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body that must be one JSON object; anything else names what is wrong."""
    if not raw.strip():
        raise InvalidRequestError("missing request body")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"invalid JSON in the request body: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"the request body must be a JSON object, not {type(value).__name__}"
        )
    return value


def validate(cls: type[M], data: dict[str, Any], *, prefix: str = "") -> M:
    """``cls.model_validate(data)``; pydantic's error becomes one naming each field."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequestError.from_validation_error(exc, prefix=prefix) from exc


def parse_duration(value: object, *, field: str = "keep_alive") -> float | None:
    """Seconds from an Ollama duration: a number of seconds or Go's ``"5m"``/``"1h30m"``.

    A negative duration means "forever" and gives ``None``.
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
    if math.isnan(seconds):
        raise InvalidRequestError(f"{field}: expected a duration, got {value!r}", fields=[field])
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
