"""A GGUF header reader, written for the pre-flight check (pure: bytes in, facts out).

It reads what ctransformers' loader reads: the header, every key and value,
and the tensor table, from any GGUF version (1, 2 and 3; either byte order),
and keeps arrays as their element type and length, except the token list,
which the checks need.  It never reads tensor data.

Written by hand rather than with the ``gguf`` package's ``GGUFReader``
(which refuses GGUF version 1 and tensor type ids it does not know, and
explaining exactly such files is this reader's job) or llmkit's own
``llmkit.tokens.gguf`` (metadata only, versions 2 and 3: the check needs the
tensor table and version 1 too).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmap import mmap

    Data = bytes | bytearray | memoryview | mmap

__all__ = [
    "GGML_TYPE_NAMES",
    "GgufArray",
    "GgufFile",
    "GgufFormatError",
    "GgufTensor",
    "ValueType",
    "parse_gguf",
]

MAGIC = b"GGUF"


class ValueType:
    """GGUF's value type ids."""

    UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY = range(10)
    UINT64, INT64, FLOAT64 = 10, 11, 12
    NAMES = (
        *("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool"),
        *("string", "array", "uint64", "int64", "float64"),
    )


_SCALARS = {
    ValueType.UINT8: "B",
    ValueType.INT8: "b",
    ValueType.UINT16: "H",
    ValueType.INT16: "h",
    ValueType.UINT32: "I",
    ValueType.INT32: "i",
    ValueType.FLOAT32: "f",
    ValueType.BOOL: "?",
    ValueType.UINT64: "Q",
    ValueType.INT64: "q",
    ValueType.FLOAT64: "d",
}

#: ggml's tensor type ids as llama.cpp numbers them today (for messages).
GGML_TYPE_NAMES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    4: "Q4_2 (removed)",
    5: "Q4_3 (removed)",
    6: "Q5_0",
    7: "Q5_1",
    8: "Q8_0",
    9: "Q8_1",
    10: "Q2_K",
    11: "Q3_K",
    12: "Q4_K",
    13: "Q5_K",
    14: "Q6_K",
    15: "Q8_K",
    16: "IQ2_XXS",
    17: "IQ2_XS",
    18: "IQ3_XXS",
    19: "IQ1_S",
    20: "IQ4_NL",
    21: "IQ3_S",
    22: "IQ2_S",
    23: "IQ4_XS",
    24: "I8",
    25: "I16",
    26: "I32",
    27: "I64",
    28: "F64",
    29: "IQ1_M",
    30: "BF16",
    34: "TQ1_0",
    35: "TQ2_0",
    39: "MXFP4",
}


class GgufFormatError(ValueError):
    """The bytes are not a well-formed GGUF file (says where it went wrong)."""


@dataclass(frozen=True)
class GgufArray:
    """An array value: its element type and length (its items when kept; strings as bytes)."""

    item_type: int
    length: int
    items: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class GgufTensor:
    """One entry of the tensor table; ``shape`` is in ggml's order (``ne``)."""

    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int

    @property
    def type_name(self) -> str:
        return GGML_TYPE_NAMES.get(self.type_id, f"type {self.type_id}")


@dataclass
class GgufFile:
    """What a GGUF file's header says."""

    version: int
    big_endian: bool
    values: dict[str, Any] = field(default_factory=dict)
    """Scalars as Python values, strings as ``str``, arrays as :class:`GgufArray`."""
    types: dict[str, int] = field(default_factory=dict)
    """Each key's value type (a :class:`ValueType` id)."""
    tensors: list[GgufTensor] = field(default_factory=list)
    data_offset: int = 0
    file_size: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    @property
    def architecture(self) -> str | None:
        value = self.values.get("general.architecture")
        return value if isinstance(value, str) else None

    def tokens(self) -> tuple[bytes, ...]:
        """The vocabulary's token texts, as bytes (empty if the file has none)."""
        array = self.values.get("tokenizer.ggml.tokens")
        if isinstance(array, GgufArray) and array.items is not None:
            return tuple(array.items)
        return ()


_KEEP_ITEMS = frozenset({"tokenizer.ggml.tokens"})


class _Cursor:
    def __init__(self, view: memoryview, order: str, version: int) -> None:
        self.view = view
        self.at = 0
        self.order = order
        self.count_format = "I" if version == 1 else "Q"

    def take(self, size: int, what: str) -> memoryview:
        if size < 0 or self.at + size > len(self.view):
            raise GgufFormatError(
                f"the file ends at byte {len(self.view)}, inside {what} (at byte {self.at})"
            )
        piece = self.view[self.at : self.at + size]
        self.at += size
        return piece

    def scalar(self, fmt: str, what: str) -> Any:
        size = struct.calcsize(fmt)
        return struct.unpack(self.order + fmt, self.take(size, what))[0]

    def count(self, what: str) -> int:
        return int(self.scalar(self.count_format, what))

    def string(self, what: str) -> bytes:
        length = self.count(what)
        return bytes(self.take(length, what))


def _value(cursor: _Cursor, kind: int, key: str, keep: bool) -> Any:
    """One value; an array keeps its items only when ``keep``."""
    if kind == ValueType.STRING:
        return cursor.string(f"the value of {key!r}").decode("utf-8", "replace")
    if kind in _SCALARS:
        return cursor.scalar(_SCALARS[kind], f"the value of {key!r}")
    if kind != ValueType.ARRAY:
        raise GgufFormatError(f"the key {key!r} has an unknown value type {kind}")
    item_type = int(cursor.scalar("I", f"the array type of {key!r}"))
    length = cursor.count(f"the array length of {key!r}")
    if item_type == ValueType.STRING:
        items = [cursor.string(f"item {i} of {key!r}") for i in range(length)]
        return GgufArray(item_type, length, tuple(items) if keep else None)
    if item_type not in _SCALARS:
        raise GgufFormatError(f"the array {key!r} has an unsupported item type {item_type}")
    size = struct.calcsize(_SCALARS[item_type])
    raw = cursor.take(size * length, f"the items of {key!r}")
    if not keep:
        return GgufArray(item_type, length)
    values = struct.unpack(f"{cursor.order}{length}{_SCALARS[item_type]}", raw)
    return GgufArray(item_type, length, values)


def parse_gguf(data: Data, *, keep_arrays: bool = False) -> GgufFile:
    """Read a GGUF file's header, keys and tensor table from its bytes (an mmap will do).

    Arrays keep their items only for the token list, or for all with ``keep_arrays``.
    """
    view = memoryview(data)
    if len(view) < 8 or bytes(view[:4]) != MAGIC:
        raise GgufFormatError("it does not start with the GGUF magic bytes")
    (version,) = struct.unpack("<I", view[4:8])
    big_endian = False
    if version & 0xFFFF == 0 and version != 0:  # a big-endian file read as little-endian
        (version,) = struct.unpack(">I", view[4:8])
        big_endian = True
    if version not in (1, 2, 3):
        raise GgufFormatError(f"it is GGUF version {version}, which this reader does not know")
    cursor = _Cursor(view, ">" if big_endian else "<", version)
    cursor.at = 8
    n_tensors = cursor.count("the header")
    n_kv = cursor.count("the header")
    info = GgufFile(version=version, big_endian=big_endian, file_size=len(view))
    for index in range(n_kv):
        key = cursor.string(f"key {index}").decode("utf-8", "replace")
        kind = int(cursor.scalar("I", f"the type of {key!r}"))
        info.types[key] = kind
        info.values[key] = _value(cursor, kind, key, keep_arrays or key in _KEEP_ITEMS)
    for index in range(n_tensors):
        name = cursor.string(f"tensor {index}'s name").decode("utf-8", "replace")
        n_dims = int(cursor.scalar("I", f"tensor {name!r}"))
        if n_dims > 4:
            raise GgufFormatError(f"tensor {name!r} has {n_dims} dimensions (ggml has at most 4)")
        shape = tuple(cursor.count(f"tensor {name!r}") for _ in range(n_dims))
        type_id = int(cursor.scalar("I", f"tensor {name!r}"))
        offset = int(cursor.scalar("Q", f"tensor {name!r}"))
        info.tensors.append(GgufTensor(name, shape, type_id, offset))
    alignment = info.values.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = 32
    info.data_offset = cursor.at + (-cursor.at % alignment)
    return info
