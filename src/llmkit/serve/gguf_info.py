"""The key-value metadata of a GGUF file, for ``/api/show`` (reads the file's header).

Written by hand on purpose: ``gguf.GGUFReader`` (llama.cpp's own package) maps
every array and tensor and took 4.3 s on SmolLM2-135M here, while ``/api/show``
needs only the scalar keys, which this reader gets in milliseconds by skipping
over arrays (reported as ``None``, as Ollama's non-verbose ``model_info`` does).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import IO, Any

__all__ = ["GGUFFormatError", "quantization_name", "read_gguf_metadata"]

_MAGIC = b"GGUF"
_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING = 8
_ARRAY = 9
_MAX_KEYS = 1 << 16

#: ``general.file_type`` values (llama.cpp's ``llama_ftype``) and their names.
_FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}


class GGUFFormatError(ValueError):
    """The file is not a GGUF file this reader understands."""


def quantization_name(file_type: object) -> str:
    """``Q4_1`` for ``general.file_type`` 3; ``""`` when unknown."""
    return _FILE_TYPES.get(file_type, "") if isinstance(file_type, int) else ""


def _read(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise GGUFFormatError("the file ends inside its metadata")
    return data


def _unpack(stream: IO[bytes], fmt: str) -> Any:
    return struct.unpack(fmt, _read(stream, struct.calcsize(fmt)))[0]


def _string(stream: IO[bytes]) -> str:
    length = _unpack(stream, "<Q")
    return _read(stream, length).decode("utf-8", "replace")


def _skip_array(stream: IO[bytes]) -> None:
    item_type = _unpack(stream, "<I")
    count = _unpack(stream, "<Q")
    if item_type in _SCALARS:
        stream.seek(count * struct.calcsize(_SCALARS[item_type]), 1)
    elif item_type == _STRING:
        for _ in range(count):
            stream.seek(_unpack(stream, "<Q"), 1)
    elif item_type == _ARRAY:
        for _ in range(count):
            _skip_array(stream)
    else:
        raise GGUFFormatError(f"unknown array item type {item_type}")


def _value(stream: IO[bytes], value_type: int) -> Any:
    if value_type in _SCALARS:
        return _unpack(stream, _SCALARS[value_type])
    if value_type == _STRING:
        return _string(stream)
    if value_type == _ARRAY:
        _skip_array(stream)
        return None
    raise GGUFFormatError(f"unknown value type {value_type}")


def read_gguf_metadata(path: str | Path) -> dict[str, Any]:
    """Every metadata key of a GGUF file: scalars and strings as they are, arrays as ``None``."""
    with Path(path).open("rb") as stream:
        if stream.read(4) != _MAGIC:
            raise GGUFFormatError(f"{path} is not a GGUF file")
        version = _unpack(stream, "<I")
        if version not in (2, 3):
            raise GGUFFormatError(f"{path}: GGUF version {version} is not supported")
        _unpack(stream, "<Q")  # tensor count
        count = _unpack(stream, "<Q")
        if count > _MAX_KEYS:
            raise GGUFFormatError(f"{path}: {count} metadata keys is not plausible")
        metadata: dict[str, Any] = {}
        for _ in range(count):
            key = _string(stream)
            metadata[key] = _value(stream, _unpack(stream, "<I"))
        return metadata
