"""The GGUF metadata reader: every value type, both byte orders, and corrupt files named."""

from __future__ import annotations

import math
import struct

import pytest
from gguf_writer import gguf_bytes
from hypothesis import given
from hypothesis import strategies as st

from llmkit.errors import GGUFError, ModelNotFoundError
from llmkit.tokens.gguf import GGUFValueType as T
from llmkit.tokens.gguf import parse_gguf_metadata, read_gguf_metadata

EVERY_TYPE = [
    ("u8", T.UINT8, 255),
    ("i8", T.INT8, -128),
    ("u16", T.UINT16, 65535),
    ("i16", T.INT16, -32768),
    ("u32", T.UINT32, 2**32 - 1),
    ("i32", T.INT32, -(2**31)),
    ("f32", T.FLOAT32, 0.5),
    ("bool", T.BOOL, True),
    ("str", T.STRING, "héllo ✓"),
    ("u64", T.UINT64, 2**64 - 1),
    ("i64", T.INT64, -(2**63)),
    ("f64", T.FLOAT64, math.pi),
    ("a.u8", T.ARRAY, [0, 1, 255], T.UINT8),
    ("a.i32", T.ARRAY, [-1, 0, 7], T.INT32),
    ("a.f32", T.ARRAY, [1.5, -2.0], T.FLOAT32),
    ("a.bool", T.ARRAY, [True, False, True], T.BOOL),
    ("a.str", T.ARRAY, ["a", "", "日本"], T.STRING),
    ("a.u64", T.ARRAY, [2**64 - 1, 3], T.UINT64),
    ("a.f64", T.ARRAY, [0.25], T.FLOAT64),
    ("a.empty", T.ARRAY, [], T.INT16),
    ("a.nested", T.ARRAY, [(T.INT8, [1, -2]), (T.STRING, ["x"])], T.ARRAY),
]
EXPECTED = {
    entry[0]: [items for _, items in entry[2]] if entry[0] == "a.nested" else entry[2]
    for entry in EVERY_TYPE
}


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("version", [2, 3])
def test_every_value_type_reads_back(version, big_endian):
    data = gguf_bytes(EVERY_TYPE, version=version, tensor_count=5, big_endian=big_endian)
    metadata = parse_gguf_metadata(data)
    assert metadata.version == version
    assert metadata.tensor_count == 5
    assert metadata.byte_order == ("big" if big_endian else "little")
    assert dict(metadata) == EXPECTED
    assert metadata.types["str"] == T.STRING
    assert metadata.array_types["a.str"] == T.STRING
    assert metadata.array_types["a.nested"] == T.ARRAY
    assert metadata.end_offset == len(data)


def test_it_stops_before_the_tensor_descriptions():
    data = gguf_bytes([("k", T.UINT32, 7)], tensor_count=1)
    metadata = parse_gguf_metadata(data + b"\xff" * 64)  # garbage where tensors would be
    assert metadata["k"] == 7
    assert metadata.end_offset == len(data)


def test_typed_getters_and_their_errors():
    metadata = parse_gguf_metadata(gguf_bytes(EVERY_TYPE))
    assert metadata.get_str("str") == "héllo ✓"
    assert metadata.get_int("u64") == 2**64 - 1
    assert metadata.get_bool("bool") is True
    assert metadata.get_str_list("a.str") == ["a", "", "日本"]
    assert metadata.get_int_list("a.i32") == [-1, 0, 7]
    assert metadata.get_str("absent", "default") == "default"
    assert metadata.get_int_list("absent") is None
    with pytest.raises(GGUFError, match=r"'u8' should be a string, not UINT8") as info:
        metadata.get_str("u8")
    assert info.value.field == "u8"
    with pytest.raises(GGUFError, match="should be an integer, not BOOL"):
        metadata.get_int("bool")
    with pytest.raises(GGUFError, match="should be an array of integers, not ARRAY of FLOAT32"):
        metadata.get_int_list("a.f32")
    with pytest.raises(GGUFError, match="should be an array of strings"):
        metadata.get_str_list("a.u8")


def test_not_gguf_names_the_magic():
    with pytest.raises(GGUFError, match=r"not a GGUF file: the first 4 bytes are b'PK\\x03\\x04'"):
        parse_gguf_metadata(b"PK\x03\x04rest of a zip")
    with pytest.raises(GGUFError, match="not a GGUF file") as info:
        parse_gguf_metadata(b"")
    assert info.value.offset == 0 and info.value.field == "magic"


def test_unsupported_version_is_named():
    data = b"GGUF" + struct.pack("<IQQ", 1, 0, 0)
    with pytest.raises(GGUFError, match="unsupported GGUF version 1 at byte offset 4") as info:
        parse_gguf_metadata(data)
    assert info.value.field == "version"


def test_every_truncation_is_a_named_error():
    data = gguf_bytes(EVERY_TYPE)
    for cut in range(4, len(data)):
        with pytest.raises(GGUFError) as info:
            parse_gguf_metadata(data[:cut])
        error = info.value
        assert error.truncated, (cut, str(error))
        assert error.offset is not None and 0 < error.offset <= cut, (cut, error.offset)
        assert f"at byte offset {error.offset}" in str(error)


def test_a_truncated_value_names_its_key_and_offset():
    data = gguf_bytes(
        [("first", T.UINT32, 1), ("tokenizer.ggml.tokens", T.ARRAY, ["a", "bc"], T.STRING)]
    )
    with pytest.raises(GGUFError) as info:
        parse_gguf_metadata(data[:-1])
    assert info.value.field == "tokenizer.ggml.tokens"
    assert "while reading 'tokenizer.ggml.tokens'" in str(info.value)
    assert "string 1 of 2 needs 2 bytes, 1 left" in str(info.value)
    assert info.value.offset == len(data) - 2 - 8


def test_unknown_value_type_names_key_and_offset():
    good = gguf_bytes([("ok", T.UINT8, 1)])
    bad_entry = struct.pack("<Q", 3) + b"bad" + struct.pack("<I", 99)
    data = good[:16] + struct.pack("<Q", 2) + good[24:] + bad_entry
    with pytest.raises(GGUFError, match="unknown GGUF value type 99") as info:
        parse_gguf_metadata(data)
    assert info.value.field == "bad"
    assert info.value.offset == len(data) - 4
    assert not info.value.truncated


def test_duplicate_keys_and_bad_utf8_are_named():
    with pytest.raises(GGUFError, match="duplicate GGUF key 'k'"):
        parse_gguf_metadata(gguf_bytes([("k", T.UINT8, 1), ("k", T.UINT8, 2)]))
    data = gguf_bytes([("k", T.STRING, "ab")]).replace(b"ab", b"a\xff")
    with pytest.raises(GGUFError, match="not valid UTF-8") as info:
        parse_gguf_metadata(data)
    assert info.value.field == "k"


def test_absurd_counts_fail_fast_without_allocating():
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, 2**60)
    with pytest.raises(GGUFError, match="metadata entries cannot fit") as info:
        parse_gguf_metadata(header)
    assert info.value.truncated
    entry = struct.pack("<Q", 1) + b"a" + struct.pack("<IIQ", T.ARRAY, T.UINT64, 2**61)
    with pytest.raises(GGUFError, match="an array of 2305843009213693952 UINT64 values"):
        parse_gguf_metadata(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + entry)


def test_deeply_nested_arrays_are_refused():
    value: list = [(T.UINT8, [1])]
    for _ in range(10):
        value = [(T.ARRAY, value)]
    with pytest.raises(GGUFError, match="nested deeper than 8"):
        parse_gguf_metadata(gguf_bytes([("deep", T.ARRAY, value, T.ARRAY)]))


@given(st.binary(max_size=200))
def test_random_bytes_after_the_magic_only_raise_gguf_errors(tail):
    try:
        parse_gguf_metadata(b"GGUF" + tail)
    except GGUFError as error:
        assert error.offset is not None or error.field is not None


def test_read_grows_its_read_until_the_metadata_fits(tmp_path):
    path = tmp_path / "model.gguf"
    big = [f"token{i}" for i in range(5000)]
    data = gguf_bytes([("tokenizer.ggml.tokens", T.ARRAY, big, T.STRING)], tensor_count=3)
    path.write_bytes(data + b"\0" * 1000)  # stands for the tensors
    metadata = read_gguf_metadata(path, first_read=64)
    assert metadata["tokenizer.ggml.tokens"] == big
    assert metadata.end_offset == len(data)


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match="GGUF file not found") as info:
        read_gguf_metadata(tmp_path / "missing.gguf")
    assert info.value.path == str(tmp_path / "missing.gguf")
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(gguf_bytes([("k", T.STRING, "value")])[:-2])
    with pytest.raises(GGUFError, match=r"cut\.gguf: truncated GGUF file") as info:
        read_gguf_metadata(truncated)
    assert info.value.path == str(truncated)


@pytest.mark.model
def test_reads_the_real_smollm2_file(smollm2_path):
    metadata = read_gguf_metadata(smollm2_path)
    assert metadata.version == 3
    assert metadata.tensor_count == 272
    assert metadata.get_str("tokenizer.ggml.model") == "gpt2"
    assert metadata.get_str("tokenizer.ggml.pre") == "smollm"
    tokens = metadata.get_str_list("tokenizer.ggml.tokens")
    assert tokens is not None and len(tokens) == 49152
    assert tokens[:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    assert len(metadata.get_str_list("tokenizer.ggml.merges") or []) == 48900
    assert metadata.get_int("tokenizer.ggml.eos_token_id") == 2
    assert metadata.get_bool("tokenizer.ggml.add_bos_token") is False
    assert "{% for message in messages %}" in (metadata.get_str("tokenizer.chat_template") or "")
