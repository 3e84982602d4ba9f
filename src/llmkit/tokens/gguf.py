"""A small GGUF metadata reader: the header and every metadata key and value.

GGUF (llama.cpp's model format) starts with a header (``GGUF``, a version, the
tensor count, the metadata count), then the metadata as key/value pairs, then
the tensor descriptions and the tensor data.  :func:`parse_gguf_metadata` reads
the header and the metadata from bytes and stops there: it never looks at a
tensor.  It is pure (no I/O); :func:`read_gguf_metadata` is the thin shell
that reads a growing prefix of the file until the metadata fits in it, so a
model of many gigabytes costs a read of a few megabytes.

Every value type is read: the integers, ``float32``/``float64``, ``bool``,
strings and arrays (of any type, arrays of arrays included).  Versions 2 and 3
are supported, little- and big-endian.  A corrupt or truncated file raises
:class:`~llmkit.errors.GGUFError`, which names the byte offset and the key
being read.

Written by hand rather than with the ``gguf`` package (llama.cpp's own): that
package maps the whole file and builds numpy views of every tensor, while a
tokenizer needs only the metadata at its start.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Literal, TypeAlias, cast

from llmkit.errors import GGUFError, ModelNotFoundError

__all__ = [
    "GGUF_MAGIC",
    "GGUFMetadata",
    "GGUFValue",
    "GGUFValueType",
    "parse_gguf_metadata",
    "read_gguf_metadata",
]

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)

GGUFValue: TypeAlias = "int | float | bool | str | list[GGUFValue]"
"""A metadata value as Python sees it (arrays become lists)."""


class GGUFValueType(IntEnum):
    """The value types of GGUF metadata, with their numbers in the file."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


# struct format character and size of each fixed-size type; ``array`` codes for bulk reads.
_SCALARS: dict[GGUFValueType, tuple[str, int]] = {
    GGUFValueType.UINT8: ("B", 1),
    GGUFValueType.INT8: ("b", 1),
    GGUFValueType.UINT16: ("H", 2),
    GGUFValueType.INT16: ("h", 2),
    GGUFValueType.UINT32: ("I", 4),
    GGUFValueType.INT32: ("i", 4),
    GGUFValueType.FLOAT32: ("f", 4),
    GGUFValueType.BOOL: ("?", 1),
    GGUFValueType.UINT64: ("Q", 8),
    GGUFValueType.INT64: ("q", 8),
    GGUFValueType.FLOAT64: ("d", 8),
}
_ARRAY_CODES: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}
# The smallest number of bytes one element of each type takes (a string: its length).
_MIN_SIZE: dict[GGUFValueType, int] = {
    **{kind: size for kind, (_, size) in _SCALARS.items()},
    GGUFValueType.STRING: 8,
    GGUFValueType.ARRAY: 12,
}
_MAX_DEPTH = 8


@dataclass(frozen=True)
class GGUFMetadata(Mapping[str, "GGUFValue"]):
    """A GGUF file's header and metadata: a read-only mapping of key to value.

    ``kv`` holds the values; ``types`` gives each key's value type (for an array, ``ARRAY``;
    ``array_types`` then gives its element type).  ``end_offset`` is where the
    metadata ends and the tensor descriptions begin.
    """

    version: int
    tensor_count: int
    byte_order: Literal["little", "big"]
    kv: dict[str, GGUFValue]
    types: dict[str, GGUFValueType]
    array_types: dict[str, GGUFValueType] = field(default_factory=dict)
    end_offset: int = 0

    def __getitem__(self, key: str) -> GGUFValue:
        return self.kv[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.kv)

    def __len__(self) -> int:
        return len(self.kv)

    def get_str(self, key: str, default: str | None = None) -> str | None:
        """The string at ``key``, ``default`` when absent; another type is a :class:`GGUFError`."""
        value = self.kv.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._wrong_type(key, "a string")
        return value

    def get_int(self, key: str, default: int | None = None) -> int | None:
        """The integer at ``key`` (any integer type), ``default`` when absent."""
        value = self.kv.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong_type(key, "an integer")
        return value

    def get_bool(self, key: str, default: bool | None = None) -> bool | None:
        """The boolean at ``key``, ``default`` when absent."""
        value = self.kv.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._wrong_type(key, "a bool")
        return value

    def get_str_list(self, key: str) -> list[str] | None:
        """The array of strings at ``key``, or ``None`` when absent."""
        value = self.kv.get(key)
        if value is None:
            return None
        if self.array_types.get(key) != GGUFValueType.STRING or not isinstance(value, list):
            raise self._wrong_type(key, "an array of strings")
        return [str(item) for item in value]

    def get_int_list(self, key: str) -> list[int] | None:
        """The array of integers at ``key``, or ``None`` when absent."""
        value = self.kv.get(key)
        if value is None:
            return None
        kind = self.array_types.get(key)
        if kind not in _ARRAY_CODES or kind in _FLOATS or not isinstance(value, list):
            raise self._wrong_type(key, "an array of integers")
        return [int(cast(int, item)) for item in value]

    def _wrong_type(self, key: str, wanted: str) -> GGUFError:
        kind = self.types[key].name
        if kind == "ARRAY":
            kind = f"ARRAY of {self.array_types[key].name}"
        return GGUFError(f"GGUF key {key!r} should be {wanted}, not {kind}", field=key)


_FLOATS = frozenset({GGUFValueType.FLOAT32, GGUFValueType.FLOAT64})


class _Cursor:
    """Reads values from a buffer, tracking the offset and the key being read."""

    def __init__(self, data: memoryview, order: Literal["little", "big"]) -> None:
        self.data = data
        self.pos = 0
        self.order: Literal["little", "big"] = order
        self.prefix = "<" if order == "little" else ">"
        self.u32 = struct.Struct(self.prefix + "I")
        self.u64 = struct.Struct(self.prefix + "Q")
        self.key: str | None = None

    def fail(
        self, message: str, offset: int | None = None, *, truncated: bool = False
    ) -> GGUFError:
        at = self.pos if offset is None else offset
        where = f" while reading {self.key!r}" if self.key is not None else ""
        return GGUFError(
            f"{message} at byte offset {at}{where}", offset=at, field=self.key, truncated=truncated
        )

    def need(self, size: int, what: str) -> None:
        left = len(self.data) - self.pos
        if size > left:
            raise self.fail(
                f"truncated GGUF file: {what} needs {size} bytes, {left} left", truncated=True
            )

    def read_u32(self, what: str) -> int:
        self.need(4, what)
        (value,) = self.u32.unpack_from(self.data, self.pos)
        self.pos += 4
        return int(value)

    def read_u64(self, what: str) -> int:
        self.need(8, what)
        (value,) = self.u64.unpack_from(self.data, self.pos)
        self.pos += 8
        return int(value)

    def read_string(self, what: str) -> str:
        start = self.pos
        length = self.read_u64(f"the length of {what}")
        self.need(length, what)
        raw = self.data[self.pos : self.pos + length]
        try:
            text = str(raw, "utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"{what} is not valid UTF-8 ({exc.reason})", start) from exc
        self.pos += length
        return text

    def read_type(self, what: str) -> GGUFValueType:
        start = self.pos
        number = self.read_u32(what)
        try:
            return GGUFValueType(number)
        except ValueError:
            raise self.fail(f"unknown GGUF value type {number} for {what}", start) from None

    def read_value(self, kind: GGUFValueType, depth: int = 0) -> GGUFValue:
        if kind == GGUFValueType.STRING:
            return self.read_string("a string value")
        if kind == GGUFValueType.ARRAY:
            return self.read_array(depth)[1]
        fmt, size = _SCALARS[kind]
        self.need(size, f"a {kind.name} value")
        (value,) = struct.unpack_from(self.prefix + fmt, self.data, self.pos)
        self.pos += size
        return bool(value) if kind == GGUFValueType.BOOL else value

    def read_array(self, depth: int = 0) -> tuple[GGUFValueType, list[GGUFValue]]:
        if depth >= _MAX_DEPTH:
            raise self.fail(f"arrays nested deeper than {_MAX_DEPTH} levels")
        kind = self.read_type("the element type of an array")
        count_at = self.pos
        count = self.read_u64("the length of an array")
        if count * _MIN_SIZE[kind] > len(self.data) - self.pos:
            raise self.fail(
                f"truncated GGUF file: an array of {count} {kind.name} values cannot fit in "
                f"the {len(self.data) - self.pos} bytes left",
                count_at,
                truncated=True,
            )
        code = _ARRAY_CODES.get(kind)
        if code is not None:
            size = _SCALARS[kind][1] * count
            numbers = array(code)
            numbers.frombytes(self.data[self.pos : self.pos + size])
            if (self.order == "little") != (sys.byteorder == "little"):
                numbers.byteswap()
            self.pos += size
            return kind, list(numbers.tolist())
        if kind == GGUFValueType.BOOL:
            flags = [byte != 0 for byte in self.data[self.pos : self.pos + count]]
            self.pos += count
            return kind, list(flags)
        if kind == GGUFValueType.STRING:
            return kind, list(self._read_strings(count))
        return kind, [self.read_array(depth + 1)[1] for _ in range(count)]

    def _read_strings(self, count: int) -> list[str]:
        # The hot loop of a vocabulary (tens of thousands of strings): kept tight.
        data, pos, end = self.data, self.pos, len(self.data)
        unpack = self.u64.unpack_from
        out: list[str] = []
        append = out.append
        for index in range(count):
            if pos + 8 > end:
                self.pos = pos
                raise self.fail(
                    f"truncated GGUF file: string {index} of {count} has no length", truncated=True
                )
            (length,) = unpack(data, pos)
            pos += 8
            if length > end - pos:
                self.pos = pos - 8
                raise self.fail(
                    f"truncated GGUF file: string {index} of {count} needs {length} bytes, "
                    f"{end - pos} left",
                    truncated=True,
                )
            try:
                append(str(data[pos : pos + length], "utf-8"))
            except UnicodeDecodeError as exc:
                raise self.fail(f"string {index} is not valid UTF-8 ({exc.reason})", pos) from exc
            pos += length
        self.pos = pos
        return out


def parse_gguf_metadata(data: bytes | bytearray | memoryview) -> GGUFMetadata:
    """Parse the header and metadata at the start of a GGUF file's bytes.

    ``data`` must hold at least the header and the metadata; whatever follows
    (tensor descriptions and data) is not read.
    """
    view = memoryview(data).cast("B")
    if len(view) < 4 or bytes(view[:4]) != GGUF_MAGIC:
        found = bytes(view[:4])
        raise GGUFError(
            f"not a GGUF file: the first 4 bytes are {found!r}, not {GGUF_MAGIC!r} "
            "(at byte offset 0)",
            offset=0,
            field="magic",
        )
    cursor = _Cursor(view, "little")
    cursor.pos = 4
    version = cursor.read_u32("the version")
    if version & 0xFFFF == 0 and version >> 16:  # written by a big-endian machine
        cursor = _Cursor(view, "big")
        cursor.pos = 4
        version = cursor.read_u32("the version")
    if version not in SUPPORTED_VERSIONS:
        raise GGUFError(
            f"unsupported GGUF version {version} at byte offset 4 (llmkit reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))})",
            offset=4,
            field="version",
        )
    tensor_count = cursor.read_u64("the tensor count")
    count_at = cursor.pos
    kv_count = cursor.read_u64("the metadata count")
    if kv_count * 12 > len(view) - cursor.pos:
        raise cursor.fail(
            f"truncated or corrupt GGUF file: {kv_count} metadata entries cannot fit in the "
            f"{len(view) - cursor.pos} bytes left",
            count_at,
            truncated=True,
        )
    values: dict[str, GGUFValue] = {}
    types: dict[str, GGUFValueType] = {}
    array_types: dict[str, GGUFValueType] = {}
    for index in range(kv_count):
        cursor.key = None
        key_at = cursor.pos
        key = cursor.read_string(f"the key of metadata entry {index}")
        if key in values:
            raise cursor.fail(f"duplicate GGUF key {key!r}", key_at)
        cursor.key = key
        kind = cursor.read_type("its value type")
        if kind == GGUFValueType.ARRAY:
            array_types[key], values[key] = cursor.read_array()
        else:
            values[key] = cursor.read_value(kind)
        types[key] = kind
    return GGUFMetadata(
        version=version,
        tensor_count=tensor_count,
        byte_order=cursor.order,
        kv=values,
        types=types,
        array_types=array_types,
        end_offset=cursor.pos,
    )


def read_gguf_metadata(path: str | Path, *, first_read: int = 4 << 20) -> GGUFMetadata:
    """Read a GGUF file's header and metadata; tensors are never read.

    The first ``first_read`` bytes are read and parsed; while the metadata
    runs past the bytes read, four times as many are read and parsed again.
    """
    file = Path(path)
    if not file.is_file():
        raise ModelNotFoundError(f"GGUF file not found: {file}", path=str(file))
    size = max(first_read, 16)
    try:
        with file.open("rb") as handle:
            while True:
                handle.seek(0)
                data = handle.read(size)
                try:
                    return parse_gguf_metadata(data)
                except GGUFError as exc:
                    if exc.truncated and len(data) == size:
                        size *= 4  # the file goes on: read more of it
                        continue
                    exc.path = str(file)
                    exc.args = (f"{file}: {exc.args[0]}",)
                    raise
    except OSError as exc:
        raise GGUFError(f"cannot read {file}: {exc}", path=str(file)) from exc
