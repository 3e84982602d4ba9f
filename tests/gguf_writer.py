"""A minimal GGUF writer for the tests: a header, metadata and, if asked, a tensor table.

Written from the format description (not with llmkit's reader), so the reader
is checked against an independent encoder; llama.cpp loads what it writes with
``vocab_only=True``.  Versions 1 to 3, either byte order (version 1 writes every
count and length in 32 bits).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from llmkit.gguf import GGUFValueType as T

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

# A tensor to describe: (name, shape in ggml's order, ggml type id, data offset).
Tensor = tuple[str, tuple[int, ...], int, int]


class _Encoder:
    def __init__(self, version: int, big_endian: bool) -> None:
        self.order = ">" if big_endian else "<"
        self.count_format = self.order + ("I" if version == 1 else "Q")

    def count(self, n: int) -> bytes:
        return struct.pack(self.count_format, n)

    def string(self, text: str | bytes) -> bytes:
        raw = text if isinstance(text, bytes) else text.encode("utf-8")
        return self.count(len(raw)) + raw

    def value(self, kind: T, value, element: T | None = None) -> bytes:
        if kind == T.STRING:
            return self.string(value)
        if kind == T.ARRAY:
            assert element is not None
            head = struct.pack(self.order + "I", element) + self.count(len(value))
            if element == T.ARRAY:
                # nested arrays: value is a list of (element type, items)
                return head + b"".join(self.value(T.ARRAY, items, inner) for inner, items in value)
            return head + b"".join(self.value(element, item) for item in value)
        return struct.pack(self.order + _FORMATS[kind], value)

    def tensor(self, name: str, shape: tuple[int, ...], type_id: int, offset: int) -> bytes:
        head = self.string(name) + struct.pack(self.order + "I", len(shape))
        dims = b"".join(self.count(n) for n in shape)
        return head + dims + struct.pack(self.order + "IQ", type_id, offset)


def gguf_bytes(
    entries: Iterable[tuple[str, T, object] | tuple[str, T, object, T]],
    *,
    version: int = 3,
    tensor_count: int | None = None,
    big_endian: bool = False,
    tensors: Iterable[Tensor] = (),
) -> bytes:
    """A GGUF file with these metadata entries: (key, type, value[, element type]).

    ``tensors`` are described after the metadata (nothing is padded or appended);
    ``tensor_count`` (default: their number) is what the header says.
    """
    encoder = _Encoder(version, big_endian)
    items = list(entries)
    table = list(tensors)
    count = len(table) if tensor_count is None else tensor_count
    out = [b"GGUF", struct.pack(encoder.order + "I", version)]
    out += [encoder.count(count), encoder.count(len(items))]
    for entry in items:
        key, kind, value = entry[0], entry[1], entry[2]
        element = entry[3] if len(entry) == 4 else None
        out.append(encoder.string(key) + struct.pack(encoder.order + "I", kind))
        out.append(encoder.value(kind, value, element))
    out += [encoder.tensor(*tensor) for tensor in table]
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
