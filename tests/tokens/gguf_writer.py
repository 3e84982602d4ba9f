"""A minimal GGUF writer for the tests: a header and metadata, no tensors.

Written from the format description (not with llmkit's reader), so the reader
is checked against an independent encoder; llama.cpp loads what it writes with
``vocab_only=True``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from llmkit.tokens.gguf import GGUFValueType as T

_FORMATS = {
    T.UINT8: "B",
    T.INT8: "b",
    T.UINT16: "H",
    T.INT16: "h",
    T.UINT32: "I",
    T.INT32: "i",
    T.FLOAT32: "f",
    T.BOOL: "?",
    T.UINT64: "Q",
    T.INT64: "q",
    T.FLOAT64: "d",
}


def _string(text: str, order: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(order + "Q", len(raw)) + raw


def _value(kind: T, value, order: str, element: T | None = None) -> bytes:
    if kind == T.STRING:
        return _string(value, order)
    if kind == T.ARRAY:
        assert element is not None
        head = struct.pack(order + "IQ", element, len(value))
        if element == T.ARRAY:
            # nested arrays: value is a list of (element type, items)
            return head + b"".join(_value(T.ARRAY, items, order, inner) for inner, items in value)
        return head + b"".join(_value(element, item, order) for item in value)
    return struct.pack(order + _FORMATS[kind], value)


def gguf_bytes(
    entries: Iterable[tuple[str, T, object] | tuple[str, T, object, T]],
    *,
    version: int = 3,
    tensor_count: int = 0,
    big_endian: bool = False,
) -> bytes:
    """A GGUF file with these metadata entries: (key, type, value[, element type])."""
    order = ">" if big_endian else "<"
    items = list(entries)
    out = [b"GGUF", struct.pack(order + "IQQ", version, tensor_count, len(items))]
    for entry in items:
        key, kind, value = entry[0], entry[1], entry[2]
        element = entry[3] if len(entry) == 4 else None
        out.append(_string(key, order) + struct.pack(order + "I", kind))
        out.append(_value(kind, value, order, element))
    return b"".join(out)


def copy_metadata(metadata, **overrides) -> bytes:
    """A GGUF with ``metadata``'s entries (a parsed GGUFMetadata), some replaced by ``overrides``.

    An override is ``key=(type, value)`` or ``key=None`` to drop the key; keys
    use ``__`` for ``.`` (``tokenizer__ggml__pre``).
    """
    changes = {key.replace("__", "."): change for key, change in overrides.items()}
    entries = []
    for key in metadata:
        if key in changes:
            continue
        kind = metadata.types[key]
        if kind == T.ARRAY:
            entries.append((key, kind, metadata[key], metadata.array_types[key]))
        else:
            entries.append((key, kind, metadata[key]))
    for key, change in changes.items():
        if change is not None:
            entries.append((key, *change))
    return gguf_bytes(entries)
