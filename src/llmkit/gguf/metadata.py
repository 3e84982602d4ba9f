"""What a GGUF file's header says: value types, ggml tensor types, metadata and tensor table.

The data model of :mod:`llmkit.gguf` (pure); :mod:`llmkit.gguf.reader` fills it in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal, TypeAlias, cast

from llmkit.errors import GGUFError

__all__ = [
    "DEFAULT_ALIGNMENT",
    "GGML_TYPE_NAMES",
    "GGUF_MAGIC",
    "MAX_DIMS",
    "SUPPORTED_VERSIONS",
    "GGUFMetadata",
    "GGUFTensor",
    "GGUFValue",
    "GGUFValueType",
    "StringErrors",
]

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (1, 2, 3)
DEFAULT_ALIGNMENT = 32
"""Where tensor data starts, unless ``general.alignment`` says otherwise."""
MAX_DIMS = 4
"""ggml's ``GGML_MAX_DIMS``: a tensor has at most four dimensions."""

GGUFValue: TypeAlias = "int | float | bool | str | list[GGUFValue]"
"""A metadata value as Python sees it (arrays become lists)."""

StringErrors: TypeAlias = Literal["strict", "replace", "surrogateescape"]
"""What bytes that are not UTF-8 become: an error, U+FFFD, or escapes that encode back."""


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


#: ggml's tensor type ids as llama.cpp numbers them today (the names of the ``gguf`` package).
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
    40: "NVFP4",
    41: "Q1_0",
}

#: struct format character and size of each fixed-size type (for the reader).
SCALARS: dict[GGUFValueType, tuple[str, int]] = {
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
#: ``array`` type codes of the numeric types, for reading arrays in bulk.
ARRAY_CODES: dict[GGUFValueType, str] = {
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
#: The floating-point types.
FLOATS = frozenset({GGUFValueType.FLOAT32, GGUFValueType.FLOAT64})
MAX_DEPTH = 8
"""How deeply arrays may nest in arrays."""


@dataclass(frozen=True)
class GGUFTensor:
    """One entry of the tensor table.

    ``shape`` is in ggml's order (``ne``: the fastest-varying dimension first);
    ``offset`` is where its data starts, counted from the start of the tensor data
    (:attr:`GGUFMetadata.data_offset`).
    """

    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int

    @property
    def type_name(self) -> str:
        """``Q4_1`` for type id 3; ``type 99`` for an id ggml does not have."""
        return GGML_TYPE_NAMES.get(self.type_id, f"type {self.type_id}")


@dataclass(frozen=True)
class GGUFMetadata(Mapping[str, "GGUFValue"]):
    """A GGUF file's header and metadata (a read-only mapping of key to value), and tensor table.

    ``kv`` holds the values read; ``types`` gives every key's value type (for an
    array, ``ARRAY``; ``array_types`` and ``array_lengths`` then give its element
    type and length, whether its contents were read or skipped).  A skipped array
    is in ``types`` but not in ``kv`` (see :attr:`skipped_arrays`).  ``end_offset``
    is where the metadata ends and the tensor table begins.  ``tensors`` and
    ``data_offset`` (where the tensor data starts, aligned) are ``None`` unless the
    tensor table was read.
    """

    version: int
    tensor_count: int
    byte_order: Literal["little", "big"]
    kv: dict[str, GGUFValue]
    types: dict[str, GGUFValueType]
    array_types: dict[str, GGUFValueType] = field(default_factory=dict)
    array_lengths: dict[str, int] = field(default_factory=dict)
    end_offset: int = 0
    tensors: tuple[GGUFTensor, ...] | None = None
    data_offset: int | None = None

    def __getitem__(self, key: str) -> GGUFValue:
        return self.kv[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.kv)

    def __len__(self) -> int:
        return len(self.kv)

    @property
    def skipped_arrays(self) -> frozenset[str]:
        """The arrays whose contents were stepped over (``read_arrays``)."""
        return frozenset(key for key in self.array_types if key not in self.kv)

    @property
    def architecture(self) -> str | None:
        """``general.architecture`` when it is a string (``llama``, ``qwen2``, ...)."""
        value = self.kv.get("general.architecture")
        return value if isinstance(value, str) else None

    def get_str(self, key: str, default: str | None = None) -> str | None:
        """The string at ``key``, ``default`` when absent; another type is a :class:`GGUFError`."""
        value = self._value(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._wrong_type(key, "a string")
        return value

    def get_int(self, key: str, default: int | None = None) -> int | None:
        """The integer at ``key`` (any integer type), ``default`` when absent."""
        value = self._value(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong_type(key, "an integer")
        return value

    def get_bool(self, key: str, default: bool | None = None) -> bool | None:
        """The boolean at ``key``, ``default`` when absent."""
        value = self._value(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._wrong_type(key, "a bool")
        return value

    def get_str_list(self, key: str) -> list[str] | None:
        """The array of strings at ``key``, or ``None`` when absent."""
        value = self._value(key)
        if value is None:
            return None
        if self.array_types.get(key) != GGUFValueType.STRING or not isinstance(value, list):
            raise self._wrong_type(key, "an array of strings")
        return [str(item) for item in value]

    def get_int_list(self, key: str) -> list[int] | None:
        """The array of integers at ``key``, or ``None`` when absent."""
        value = self._value(key)
        if value is None:
            return None
        kind = self.array_types.get(key)
        if kind not in ARRAY_CODES or kind in FLOATS or not isinstance(value, list):
            raise self._wrong_type(key, "an array of integers")
        return [int(cast(int, item)) for item in value]

    def _value(self, key: str) -> GGUFValue | None:
        value = self.kv.get(key)
        if value is None and key in self.array_types:
            raise LookupError(
                f"the contents of the GGUF array {key!r} were skipped when the file was read; "
                "read it with read_arrays=True or a collection of keys that names it"
            )
        return value

    def _wrong_type(self, key: str, wanted: str) -> GGUFError:
        kind = self.types[key].name
        if kind == "ARRAY":
            kind = f"ARRAY of {self.array_types[key].name}"
        return GGUFError(f"GGUF key {key!r} should be {wanted}, not {kind}", field=key)
