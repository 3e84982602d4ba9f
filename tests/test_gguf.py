"""llmkit's GGUF reader: every value type, versions 1 to 3, both byte orders, arrays read or
skipped, the tensor table, and corrupt files named by offset and key."""

from __future__ import annotations

import math
import struct

import pytest
from gguf_writer import gguf_bytes
from hypothesis import given
from hypothesis import strategies as st

from llmkit.errors import GGUFError, ModelNotFoundError
from llmkit.gguf import GGUFTensor, parse_gguf_metadata, read_gguf_metadata
from llmkit.gguf import GGUFValueType as T

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
TENSORS = [
    ("token_embd.weight", (8, 32), 8, 0),
    ("blk.0.attn_q.weight", (8, 8), 3, 320),
    ("output_norm.weight", (8,), 0, 384),
]
EXPECTED = {
    entry[0]: [items for _, items in entry[2]] if entry[0] == "a.nested" else entry[2]
    for entry in EVERY_TYPE
}


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("version", [1, 2, 3])
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
    data = b"GGUF" + struct.pack("<IQQ", 4, 0, 0)
    with pytest.raises(GGUFError, match="unsupported GGUF version 4 at byte offset 4") as info:
        parse_gguf_metadata(data)
    assert info.value.field == "version"
    assert "reads versions 1, 2, 3" in str(info.value)


@pytest.mark.parametrize("read_arrays", [True, False])
@pytest.mark.parametrize("version", [1, 3])
def test_every_truncation_is_a_named_error(version, read_arrays):
    data = gguf_bytes(EVERY_TYPE, version=version, tensors=TENSORS)
    for cut in range(4, len(data)):
        with pytest.raises(GGUFError) as info:
            parse_gguf_metadata(data[:cut], read_arrays=read_arrays, tensors=True)
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
    data = gguf_bytes([("deep", T.ARRAY, value, T.ARRAY)])
    for read_arrays in (True, False):
        with pytest.raises(GGUFError, match="nested deeper than 8") as info:
            parse_gguf_metadata(data, read_arrays=read_arrays)
        assert info.value.field == "deep"


@given(
    st.binary(max_size=200),
    st.sampled_from([b"", struct.pack("<I", 1), struct.pack(">I", 3)]),
    st.booleans(),
    st.booleans(),
)
def test_random_bytes_after_the_magic_only_raise_gguf_errors(tail, version, read_arrays, tensors):
    try:
        parse_gguf_metadata(b"GGUF" + version + tail, read_arrays=read_arrays, tensors=tensors)
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


# -- arrays skipped or read by name (llmkit serve's fast path) ---------------------


@pytest.mark.parametrize("version", [1, 3])
def test_skipped_arrays_keep_their_type_and_length(version):
    data = gguf_bytes(EVERY_TYPE, version=version, big_endian=version == 3)
    full = parse_gguf_metadata(data)
    fast = parse_gguf_metadata(data, read_arrays=False)
    arrays = {entry[0] for entry in EVERY_TYPE if entry[1] == T.ARRAY}
    assert dict(fast) == {key: value for key, value in EXPECTED.items() if key not in arrays}
    assert fast.types == full.types and list(fast.types) == [entry[0] for entry in EVERY_TYPE]
    assert fast.array_types == full.array_types
    assert fast.array_lengths == {key: len(EXPECTED[key]) for key in arrays}
    assert fast.array_lengths == full.array_lengths
    assert fast.skipped_arrays == arrays and full.skipped_arrays == frozenset()
    assert fast.end_offset == full.end_offset == len(data)


def test_only_the_arrays_named_are_read():
    data = gguf_bytes(EVERY_TYPE)
    some = parse_gguf_metadata(data, read_arrays={"a.str", "a.nested"})
    assert some["a.str"] == ["a", "", "日本"] and some["a.nested"] == [[1, -2], ["x"]]
    assert "a.u8" not in some and "a.u8" in some.skipped_arrays
    assert parse_gguf_metadata(data, read_arrays="a.str")["a.str"] == ["a", "", "日本"]


def test_asking_for_a_skipped_array_says_so():
    fast = parse_gguf_metadata(gguf_bytes(EVERY_TYPE), read_arrays=False)
    with pytest.raises(LookupError, match=r"'a\.str' were skipped"):
        fast.get_str_list("a.str")
    with pytest.raises(LookupError, match="skipped"):
        fast.get_int_list("a.i32")
    assert fast.get_str_list("absent") is None  # absent stays absent
    assert fast.get_str("str") == "héllo ✓"


def test_a_truncated_skipped_string_array_names_the_string():
    data = gguf_bytes([("tokenizer.ggml.tokens", T.ARRAY, ["a", "bc"], T.STRING)])
    with pytest.raises(GGUFError) as info:
        parse_gguf_metadata(data[:-1], read_arrays=False)
    assert info.value.field == "tokenizer.ggml.tokens"
    assert "string 1 of 2 needs 2 bytes, 1 left" in str(info.value)
    assert info.value.offset == len(data) - 2 - 8


# -- bytes that are not UTF-8 ----------------------------------------------------


def test_invalid_utf8_is_an_error_or_replaced_or_kept_exactly():
    raw = [b"\xe2\x80", b"ok", b"\xff"]  # raw-byte BPE tokens, as files of 2023 had them
    data = _with_raw_strings(raw)
    with pytest.raises(GGUFError, match="string 0 is not valid UTF-8") as info:
        parse_gguf_metadata(data)
    assert info.value.field == "tokenizer.ggml.tokens"
    replaced = parse_gguf_metadata(data, string_errors="replace")
    assert replaced["tokenizer.ggml.tokens"] == ["\ufffd", "ok", "\ufffd"]
    assert replaced["name"] == "caf\ufffd"
    kept = parse_gguf_metadata(data, string_errors="surrogateescape")
    tokens = kept.get_str_list("tokenizer.ggml.tokens") or []
    assert [token.encode("utf-8", "surrogateescape") for token in tokens] == raw
    assert str(kept["name"]).encode("utf-8", "surrogateescape") == b"caf\xe9"


def _with_raw_strings(tokens: list[bytes]) -> bytes:
    def string(raw: bytes) -> bytes:
        return struct.pack("<Q", len(raw)) + raw

    body = string(b"tokenizer.ggml.tokens") + struct.pack("<IIQ", T.ARRAY, T.STRING, len(tokens))
    body += b"".join(string(token) for token in tokens)
    body += string(b"name") + struct.pack("<I", T.STRING) + string(b"caf\xe9")
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + body


# -- the tensor table ------------------------------------------------------------


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("version", [1, 2, 3])
def test_the_tensor_table_reads_back(version, big_endian):
    data = gguf_bytes(EVERY_TYPE, version=version, big_endian=big_endian, tensors=TENSORS)
    metadata = parse_gguf_metadata(data + b"\0" * 64, tensors=True)
    assert metadata.tensors == tuple(GGUFTensor(*tensor) for tensor in TENSORS)
    assert [tensor.type_name for tensor in metadata.tensors] == ["Q8_0", "Q4_1", "F32"]
    assert metadata.tensor_count == 3
    assert metadata.end_offset == len(gguf_bytes(EVERY_TYPE, version=version, tensor_count=3))
    assert metadata.data_offset == len(data) + (-len(data) % 32)
    assert parse_gguf_metadata(data).tensors is None  # not asked for: not read
    assert parse_gguf_metadata(data).data_offset is None


def test_tensor_data_starts_at_the_files_alignment():
    entries = [("general.alignment", T.UINT32, 64)]
    data = gguf_bytes(entries, tensors=[("t", (3,), 0, 0)])
    metadata = parse_gguf_metadata(data, tensors=True)
    assert metadata.data_offset == len(data) + (-len(data) % 64)
    assert metadata.data_offset % 64 == 0 and metadata.data_offset >= len(data)


def test_unknown_tensor_types_are_named_by_id():
    tensor = parse_gguf_metadata(gguf_bytes([], tensors=[("t", (3,), 99, 0)]), tensors=True)
    assert tensor.tensors == (GGUFTensor("t", (3,), 99, 0),)
    assert tensor.tensors[0].type_name == "type 99"


def test_tensor_table_errors_name_the_tensor_and_offset():
    good = gguf_bytes([], tensors=[("a", (4,), 0, 0)])
    five_dims = gguf_bytes([], tensors=[("a", (4,), 0, 0), ("b", (1, 1, 1, 1, 1), 0, 32)])
    with pytest.raises(GGUFError, match=r"5 dimensions \(ggml has at most 4\)") as info:
        parse_gguf_metadata(five_dims, tensors=True)
    assert info.value.offset == len(good) + 8 + 1
    assert "while reading tensor 1 ('b')" in str(info.value)
    twice = gguf_bytes([], tensors=[("a", (4,), 0, 0), ("a", (4,), 0, 32)])
    with pytest.raises(GGUFError, match="duplicate tensor name 'a'") as info:
        parse_gguf_metadata(twice, tensors=True)
    assert info.value.offset == len(good)
    with pytest.raises(GGUFError, match="its data offset needs 8 bytes, 4 left") as info:
        parse_gguf_metadata(twice[:-4], tensors=True)
    assert info.value.truncated and "while reading tensor 1 ('a')" in str(info.value)
    with pytest.raises(GGUFError, match="2 tensor descriptions cannot fit") as info:
        parse_gguf_metadata(gguf_bytes([], tensor_count=2), tensors=True)
    assert info.value.truncated


def test_read_grows_its_read_until_the_tensor_table_fits(tmp_path):
    path = tmp_path / "model.gguf"
    table = [(f"blk.{i}.weight", (32, 32), 0, i * 4096) for i in range(200)]
    data = gguf_bytes([("k", T.UINT8, 1)], tensors=table)
    path.write_bytes(data + b"\0" * 1000)  # stands for the tensor data
    metadata = read_gguf_metadata(path, tensors=True, read_arrays=False, first_read=64)
    assert metadata.tensors is not None and len(metadata.tensors) == 200
    assert metadata.tensors[-1] == GGUFTensor("blk.199.weight", (32, 32), 0, 199 * 4096)


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


#: Bytes per block and values per block of the types in SmolLM2's file (ggml's own sizes).
_BLOCKS = {"F32": (4, 1), "Q4_1": (20, 32), "Q8_0": (34, 32)}


@pytest.mark.model
def test_smollm2s_tensor_table_ends_where_the_file_ends(smollm2_path):
    metadata = read_gguf_metadata(smollm2_path, read_arrays=False, tensors=True)
    assert metadata.tensors is not None and len(metadata.tensors) == 272
    assert metadata.tensors[0] == GGUFTensor("token_embd.weight", (576, 49152), 8, 0)
    assert {tensor.type_name for tensor in metadata.tensors} == set(_BLOCKS)
    assert metadata.data_offset is not None and metadata.data_offset % 32 == 0
    end = 0
    for tensor in metadata.tensors:
        size, per_block = _BLOCKS[tensor.type_name]
        count = math.prod(tensor.shape)
        assert tensor.offset % 32 == 0 and tensor.offset >= end, tensor
        end = tensor.offset + count // per_block * size
    assert metadata.data_offset + end == smollm2_path.stat().st_size


@pytest.mark.model
def test_smollm2_read_fast_agrees_with_the_full_read(smollm2_path):
    full = read_gguf_metadata(smollm2_path)
    fast = read_gguf_metadata(smollm2_path, read_arrays=False)
    assert fast.skipped_arrays == {
        "general.languages",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.merges",
    }
    assert dict(fast) == {key: full[key] for key in full if key not in fast.skipped_arrays}
    assert fast.array_lengths == {key: len(full[key]) for key in fast.skipped_arrays}
    assert fast.types == full.types and fast.end_offset == full.end_offset
