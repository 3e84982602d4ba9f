"""What identifies a batch line across runs (pure, no I/O).

A line's **key** says *which* line it is; its **hash** says *what* it asks.
A result counts as done on a rerun only when both match, so a line whose
request changed is run again rather than mistaken for done.

- A line with a ``custom_id`` is keyed by it: ``id:<custom_id>``.
- A line without one is keyed by its request hash, with the occurrence number
  after the first (``sha256:<hex>``, ``sha256:<hex>#2``), so two identical lines
  each get their own result.
- A line that could not be read (not JSON, not an object) is keyed by the hash of
  its bytes (``line:<hex>``, ``line:<hex>#2``).

The hash covers the endpoint, the body as written (keys sorted) and the model
override, if any: the request actually sent.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import orjson

__all__ = ["KeyCounter", "line_hash", "request_hash"]


def request_hash(url: str, body: dict[str, Any], model_override: str | None) -> str:
    """The SHA-256 (hex) of a request: its endpoint, body (keys sorted) and model override."""
    canonical = orjson.dumps(
        {"url": url, "body": body, "model": model_override}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


def line_hash(raw: bytes) -> str:
    """The SHA-256 (hex) of a line's bytes, surrounding whitespace removed."""
    return hashlib.sha256(raw.strip()).hexdigest()


class KeyCounter:
    """Hands out keys for lines without a ``custom_id``, counting repeats of one hash."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def key(self, prefix: str, digest: str) -> str:
        """``prefix:digest`` the first time, then ``prefix:digest#2``, ``#3``, ..."""
        base = f"{prefix}:{digest}"
        self._seen[base] += 1
        count = self._seen[base]
        return base if count == 1 else f"{base}#{count}"
