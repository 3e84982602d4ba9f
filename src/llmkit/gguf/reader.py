"""Reading GGUF: a pure parser of bytes, and a thin shell that reads a file's first megabytes.

:func:`parse_gguf_metadata` is pure (bytes in, :class:`~llmkit.gguf.metadata.GGUFMetadata`
out); :func:`read_gguf_metadata` reads a growing prefix of a file and parses it (the
only I/O).  Every failure is a :class:`~llmkit.errors.GGUFError` naming the byte offset
and the key or tensor being read.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from llmkit.errors import GGUFError, ModelNotFoundError
from llmkit.gguf.metadata import (
    ARRAY_CODES,
    DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    MAX_DEPTH,
    MAX_DIMS,
    SCALARS,
    SUPPORTED_VERSIONS,
    GGUFMetadata,
    GGUFTensor,
    GGUFValue,
    GGUFValueType,
    StringErrors,
)

if TYPE_CHECKING:
    from mmap import mmap

__all__ = ["parse_gguf_metadata", "read_gguf_metadata"]

Bytes: TypeAlias = "bytes | bytearray | memoryview | mmap"
"""What the parser reads: the file's first bytes, or all of it mapped."""


class _Cursor:
    """Reads values from a buffer, tracking the offset and the key or tensor being read."""

    def __init__(
        self, data: memoryview, order: Literal["little", "big"], version: int, errors: StringErrors
    ) -> None:
        self.data = data
        self.pos = 0
        self.order: Literal["little", "big"] = order
        self.prefix = "<" if order == "little" else ">"
        self.u32 = struct.Struct(self.prefix + "I")
        self.u64 = struct.Struct(self.prefix + "Q")
        # Version 1 wrote every count and length (strings, arrays, dimensions) in 32 bits.
        self.count = self.u32 if version == 1 else self.u64
        self.errors = errors
        self.key: str | None = None
        self.tensor: str | None = None

    def fail(
        self, message: str, offset: int | None = None, *, truncated: bool = False
    ) -> GGUFError:
        at = self.pos if offset is None else offset
        if self.key is not None:
            where = f" while reading {self.key!r}"
        elif self.tensor is not None:
            where = f" while reading {self.tensor}"
        else:
            where = ""
        return GGUFError(
            f"{message} at byte offset {at}{where}", offset=at, field=self.key, truncated=truncated
        )

    def left(self) -> int:
        return len(self.data) - self.pos

    def need(self, size: int, what: str) -> None:
        if size > self.left():
            raise self.fail(
                f"truncated GGUF file: {what} needs {size} bytes, {self.left()} left",
                truncated=True,
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

    def read_count(self, what: str) -> int:
        self.need(self.count.size, what)
        (value,) = self.count.unpack_from(self.data, self.pos)
        self.pos += self.count.size
        return int(value)

    def decode(self, raw: memoryview, what: str, start: int) -> str:
        if self.errors != "strict":
            return str(raw, "utf-8", self.errors)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"{what} is not valid UTF-8 ({exc.reason})", start) from exc

    def read_string(self, what: str) -> str:
        start = self.pos
        length = self.read_count(f"the length of {what}")
        self.need(length, what)
        text = self.decode(self.data[self.pos : self.pos + length], what, start)
        self.pos += length
        return text

    def read_type(self, what: str) -> GGUFValueType:
        start = self.pos
        number = self.read_u32(what)
        try:
            return GGUFValueType(number)
        except ValueError:
            raise self.fail(f"unknown GGUF value type {number} for {what}", start) from None

    def read_value(self, kind: GGUFValueType) -> GGUFValue:
        if kind == GGUFValueType.STRING:
            return self.read_string("a string value")
        fmt, size = SCALARS[kind]
        self.need(size, f"a {kind.name} value")
        (value,) = struct.unpack_from(self.prefix + fmt, self.data, self.pos)
        self.pos += size
        return bool(value) if kind == GGUFValueType.BOOL else value

    def min_size(self, kind: GGUFValueType) -> int:
        """The fewest bytes one element of ``kind`` takes (a string: its length)."""
        if kind == GGUFValueType.STRING:
            return self.count.size
        if kind == GGUFValueType.ARRAY:
            return 4 + self.count.size
        return SCALARS[kind][1]

    def array_head(self, depth: int) -> tuple[GGUFValueType, int]:
        """An array's element type and length, checked against the bytes left."""
        if depth >= MAX_DEPTH:
            raise self.fail(f"arrays nested deeper than {MAX_DEPTH} levels")
        kind = self.read_type("the element type of an array")
        count_at = self.pos
        count = self.read_count("the length of an array")
        if count * self.min_size(kind) > self.left():
            raise self.fail(
                f"truncated GGUF file: an array of {count} {kind.name} values cannot fit in "
                f"the {self.left()} bytes left",
                count_at,
                truncated=True,
            )
        return kind, count

    def read_array(self, depth: int = 0) -> tuple[GGUFValueType, int, list[GGUFValue]]:
        kind, count = self.array_head(depth)
        code = ARRAY_CODES.get(kind)
        if code is not None:
            size = SCALARS[kind][1] * count
            numbers = array(code)
            numbers.frombytes(self.data[self.pos : self.pos + size])
            if (self.order == "little") != (sys.byteorder == "little"):
                numbers.byteswap()
            self.pos += size
            return kind, count, list(numbers.tolist())
        if kind == GGUFValueType.BOOL:
            flags = [byte != 0 for byte in self.data[self.pos : self.pos + count]]
            self.pos += count
            return kind, count, list(flags)
        if kind == GGUFValueType.STRING:
            return kind, count, list(self._read_strings(count))
        return kind, count, [self.read_array(depth + 1)[2] for _ in range(count)]

    def skip_array(self, depth: int = 0) -> tuple[GGUFValueType, int]:
        """Step over an array's contents; its element type and length."""
        kind, count = self.array_head(depth)
        if kind == GGUFValueType.STRING:
            self._skip_strings(count)
        elif kind == GGUFValueType.ARRAY:
            for _ in range(count):
                self.skip_array(depth + 1)
        else:
            self.pos += SCALARS[kind][1] * count  # array_head checked that it fits
        return kind, count

    def _string_lengths_fail(self, index: int, count: int, pos: int) -> GGUFError:
        self.pos = pos
        size = self.count.size
        if pos + size > len(self.data):
            return self.fail(
                f"truncated GGUF file: string {index} of {count} has no length", truncated=True
            )
        (length,) = self.count.unpack_from(self.data, pos)
        left = len(self.data) - pos - size
        return self.fail(
            f"truncated GGUF file: string {index} of {count} needs {length} bytes, {left} left",
            truncated=True,
        )

    def _read_strings(self, count: int) -> list[str]:
        # The hot loop of a vocabulary (tens of thousands of strings): kept tight.
        data, pos, end = self.data, self.pos, len(self.data)
        unpack, size, errors = self.count.unpack_from, self.count.size, self.errors
        out: list[str] = []
        append = out.append
        for index in range(count):
            if pos + size > end:
                raise self._string_lengths_fail(index, count, pos)
            (length,) = unpack(data, pos)
            pos += size
            if length > end - pos:
                raise self._string_lengths_fail(index, count, pos - size)
            try:
                append(str(data[pos : pos + length], "utf-8", errors))
            except UnicodeDecodeError as exc:  # only when errors is "strict"
                raise self.fail(f"string {index} is not valid UTF-8 ({exc.reason})", pos) from exc
            pos += length
        self.pos = pos
        return out

    def _skip_strings(self, count: int) -> None:
        # ``/api/show``'s hot loop: lengths only, nothing decoded or copied.
        data, pos, end = self.data, self.pos, len(self.data)
        unpack, size = self.count.unpack_from, self.count.size
        for index in range(count):
            if pos + size > end:
                raise self._string_lengths_fail(index, count, pos)
            after = pos + size + unpack(data, pos)[0]
            if after > end:
                raise self._string_lengths_fail(index, count, pos)
            pos = after
        self.pos = pos

    def read_tensor(self, index: int) -> GGUFTensor:
        self.tensor = f"tensor {index}"
        name = self.read_string(f"the name of tensor {index}")
        self.tensor = f"tensor {index} ({name!r})"
        dims_at = self.pos
        n_dims = self.read_u32("its number of dimensions")
        if n_dims > MAX_DIMS:
            raise self.fail(
                f"a tensor of {n_dims} dimensions (ggml has at most {MAX_DIMS})", dims_at
            )
        shape = tuple(self.read_count(f"dimension {axis}") for axis in range(n_dims))
        type_id = self.read_u32("its type")
        offset = self.read_u64("its data offset")
        return GGUFTensor(name, shape, type_id, offset)


def _open(view: memoryview, errors: StringErrors) -> tuple[_Cursor, int]:
    """The file's version, and a cursor after it that reads in the file's byte order."""
    if len(view) < 4 or bytes(view[:4]) != GGUF_MAGIC:
        found = bytes(view[:4])
        raise GGUFError(
            f"not a GGUF file: the first 4 bytes are {found!r}, not {GGUF_MAGIC!r} "
            "(at byte offset 0)",
            offset=0,
            field="magic",
        )
    cursor = _Cursor(view, "little", 3, errors)
    cursor.pos = 4
    version = cursor.read_u32("the version")
    order: Literal["little", "big"] = "little"
    if version & 0xFFFF == 0 and version >> 16:  # written by a big-endian machine
        order = "big"
        version = int.from_bytes(view[4:8], "big")
    if version not in SUPPORTED_VERSIONS:
        raise GGUFError(
            f"unsupported GGUF version {version} at byte offset 4 (llmkit reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))})",
            offset=4,
            field="version",
        )
    cursor = _Cursor(view, order, version, errors)
    cursor.pos = 8
    return cursor, version


def parse_gguf_metadata(
    data: Bytes,
    *,
    read_arrays: bool | Iterable[str] = True,
    tensors: bool = False,
    string_errors: StringErrors = "strict",
) -> GGUFMetadata:
    """Parse the header and metadata at the start of a GGUF file's bytes (an ``mmap`` will do).

    ``data`` must hold at least the header and the metadata (and the tensor table
    with ``tensors=True``); whatever follows is not read.  ``read_arrays``: read
    every array's contents (``True``), none (``False``: each is stepped over, its
    element type and length kept), or only those of the keys given.  ``tensors``:
    read the tensor table too.  ``string_errors``: see :data:`StringErrors`.
    """
    cursor, version = _open(memoryview(data).cast("B"), string_errors)
    tensor_count = cursor.read_count("the tensor count")
    count_at = cursor.pos
    kv_count = cursor.read_count("the metadata count")
    if kv_count * (cursor.count.size + 4) > cursor.left():
        raise cursor.fail(
            f"truncated or corrupt GGUF file: {kv_count} metadata entries cannot fit in the "
            f"{cursor.left()} bytes left",
            count_at,
            truncated=True,
        )
    wanted = _wanted_arrays(read_arrays)
    values: dict[str, GGUFValue] = {}
    types: dict[str, GGUFValueType] = {}
    array_types: dict[str, GGUFValueType] = {}
    array_lengths: dict[str, int] = {}
    for index in range(kv_count):
        cursor.key = None
        key_at = cursor.pos
        key = cursor.read_string(f"the key of metadata entry {index}")
        if key in types:
            raise cursor.fail(f"duplicate GGUF key {key!r}", key_at)
        cursor.key = key
        kind = cursor.read_type("its value type")
        if kind != GGUFValueType.ARRAY:
            values[key] = cursor.read_value(kind)
        elif wanted is None or key in wanted:
            array_types[key], array_lengths[key], values[key] = cursor.read_array()
        else:
            array_types[key], array_lengths[key] = cursor.skip_array()
        types[key] = kind
    cursor.key = None
    end_offset = cursor.pos
    table: tuple[GGUFTensor, ...] | None = None
    data_offset: int | None = None
    if tensors:
        table = _read_tensor_table(cursor, tensor_count)
        alignment = values.get("general.alignment", DEFAULT_ALIGNMENT)
        if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment <= 0:
            alignment = DEFAULT_ALIGNMENT
        data_offset = cursor.pos + (-cursor.pos % alignment)
    return GGUFMetadata(
        version=version,
        tensor_count=tensor_count,
        byte_order=cursor.order,
        kv=values,
        types=types,
        array_types=array_types,
        array_lengths=array_lengths,
        end_offset=end_offset,
        tensors=table,
        data_offset=data_offset,
    )


def _wanted_arrays(read_arrays: bool | Iterable[str]) -> frozenset[str] | None:
    """The keys whose arrays are read; ``None`` for all of them."""
    if read_arrays is True:
        return None
    if read_arrays is False:
        return frozenset()
    if isinstance(read_arrays, str):
        return frozenset({read_arrays})
    return frozenset(read_arrays)


def _read_tensor_table(cursor: _Cursor, count: int) -> tuple[GGUFTensor, ...]:
    # Each entry takes at least a name length, a dimension count, a type and an offset.
    if count * (cursor.count.size + 16) > cursor.left():
        raise cursor.fail(
            f"truncated or corrupt GGUF file: {count} tensor descriptions cannot fit in the "
            f"{cursor.left()} bytes left",
            truncated=True,
        )
    table: list[GGUFTensor] = []
    names: set[str] = set()
    for index in range(count):
        start = cursor.pos
        tensor = cursor.read_tensor(index)
        if tensor.name in names:
            raise cursor.fail(f"duplicate tensor name {tensor.name!r}", start)
        names.add(tensor.name)
        table.append(tensor)
    cursor.tensor = None
    return tuple(table)


def read_gguf_metadata(
    path: str | Path,
    *,
    read_arrays: bool | Iterable[str] = True,
    tensors: bool = False,
    string_errors: StringErrors = "strict",
    first_read: int = 4 << 20,
) -> GGUFMetadata:
    """Read a GGUF file's header and metadata (and tensor table); tensor data is never read.

    The first ``first_read`` bytes are read and parsed; while what was asked for
    runs past the bytes read, four times as many are read and parsed again.  The
    other arguments are :func:`parse_gguf_metadata`'s.  A missing file is a
    :class:`~llmkit.errors.ModelNotFoundError`; an unreadable, corrupt or
    truncated one a :class:`~llmkit.errors.GGUFError` that names it.
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
                    return parse_gguf_metadata(
                        data, read_arrays=read_arrays, tensors=tensors, string_errors=string_errors
                    )
                except GGUFError as exc:
                    if exc.truncated and len(data) == size:
                        size *= 4  # the file goes on: read more of it
                        continue
                    exc.path = str(file)
                    exc.args = (f"{file}: {exc.args[0]}",)
                    raise
    except OSError as exc:
        raise GGUFError(f"cannot read {file}: {exc}", path=str(file)) from exc
