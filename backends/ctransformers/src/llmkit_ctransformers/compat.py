"""Which model files ctransformers 0.2.27 can load, and why a file cannot (pure).

ctransformers' last release (September 2023) bundles llama.cpp as of August
2023 (commit 43033b7) for every GGUF file, and ggml's example loaders for the
older GGML files.  When a file does not suit that code it says only
``Failed to create LLM``; for some files it crashes the process instead (a
tensor type id it does not know, a vocabulary it cannot tokenize).  The
checks here mirror that loader's own checks (``llm_load_arch``,
``llm_load_hparams``, ``llm_load_vocab``, ``llm_load_tensors`` and
``gguf_init_from_file`` in its ``models/ggml/llama.cpp`` and ``ggml.c``), each
confirmed on files written by the tests, so a file that passes them loads and
one that fails them gets every reason at once.  ``docs/backends.md`` has the
resulting matrix.

The file's header is read by llmkit's GGUF reader (:mod:`llmkit.gguf`), as
:func:`parse_header` asks it to: every version and byte order, the tensor table,
and only one array's contents, the token list, kept byte for byte (tokens of
2023's BPE vocabularies are raw bytes, not UTF-8).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmkit.gguf import GGUFMetadata, GGUFValueType, parse_gguf_metadata

if TYPE_CHECKING:
    from mmap import mmap

__all__ = [
    "GGML_MODEL_TYPES",
    "GGUF_ARCHITECTURES",
    "SUPPORTED_TENSOR_TYPES",
    "TOKENS_KEY",
    "Spelling",
    "check_ggml",
    "check_gguf",
    "explain",
    "parse_header",
    "special_tokens",
    "token_bytes",
]

#: Architectures ctransformers' llama.cpp can build a graph for.
GGUF_ARCHITECTURES = ("llama", "falcon")
#: Architectures it names but has no code for ("unknown architecture" when loading tensors).
_NAMED_ONLY = ("gpt2", "gptj", "gptneox", "mpt")


@dataclass(frozen=True)
class _TensorType:
    name: str
    block: int
    size: int
    """Bytes per block in ctransformers' ggml."""


#: Weight types its ggml computes with (ids agree with today's ggml up to 14).
SUPPORTED_TENSOR_TYPES: dict[int, _TensorType] = {
    0: _TensorType("F32", 1, 4),
    1: _TensorType("F16", 1, 2),
    2: _TensorType("Q4_0", 32, 18),
    3: _TensorType("Q4_1", 32, 20),
    6: _TensorType("Q5_0", 32, 22),
    7: _TensorType("Q5_1", 32, 24),
    8: _TensorType("Q8_0", 32, 34),
    10: _TensorType("Q2_K", 256, 84),
    11: _TensorType("Q3_K", 256, 110),
    12: _TensorType("Q4_K", 256, 144),
    13: _TensorType("Q5_K", 256, 176),
    14: _TensorType("Q6_K", 256, 210),
}

#: ``model_type`` values for GGML files (not GGUF), and the file magic each loader wants.
GGML_MODEL_TYPES: dict[str, tuple[bytes, ...]] = {
    "gpt2": (b"lmgg",),
    "gptj": (b"lmgg",),
    "gptneox": (b"lmgg",),
    "dollyv2": (b"lmgg",),
    "mpt": (b"lmgg",),
    "replit": (b"lmgg",),
    "starcoder": (b"lmgg",),
    "gptbigcode": (b"lmgg",),
    "falcon": (b"lmgg", b"tjgg"),
    "llama": (b"lmgg", b"fmgg", b"tjgg"),
}
_MAGIC_NAMES = {b"lmgg": "ggml", b"fmgg": "ggmf", b"tjgg": "ggjt", b"GGUF": "GGUF"}

#: The one array whose contents the checks need (the others: element type and length).
TOKENS_KEY = "tokenizer.ggml.tokens"
TOKEN_TYPES_KEY = "tokenizer.ggml.token_type"
#: llama.cpp's token types of special tokens: control (``<|im_end|>``) and user-defined.
_SPECIAL_TYPES = (3, 4)

_U32, _F32, _STR = GGUFValueType.UINT32, GGUFValueType.FLOAT32, GGUFValueType.STRING
_REQUIRED_KEYS = (
    "context_length",
    "embedding_length",
    "feed_forward_length",
    "attention.head_count",
    "block_count",
)
_OPTIONAL_KEYS = {
    "{arch}.attention.head_count_kv": _U32,
    "{arch}.rope.freq_base": _F32,
    "{arch}.rope.scale_linear": _F32,
    "{arch}.rope.dimension_count": _U32,
    "general.name": _STR,
    "tokenizer.ggml.bos_token_id": _U32,
    "tokenizer.ggml.eos_token_id": _U32,
    "tokenizer.ggml.unknown_token_id": _U32,
    "tokenizer.ggml.seperator_token_id": _U32,
    "tokenizer.ggml.padding_token_id": _U32,
}
_NORM_KEY = {
    "llama": "attention.layer_norm_rms_epsilon",
    "falcon": "attention.layer_norm_epsilon",
}
_MAX_SHOWN = 8


def parse_header(data: bytes | bytearray | memoryview | mmap) -> GGUFMetadata:
    """A GGUF file's header as the checks need it, from the file's bytes (an ``mmap`` will do).

    Raises :class:`~llmkit.errors.GGUFError` (naming the byte offset and the key
    or tensor) for bytes that are not a well-formed GGUF file.
    """
    return parse_gguf_metadata(
        data,
        read_arrays={TOKENS_KEY, TOKEN_TYPES_KEY},
        tensors=True,
        string_errors="surrogateescape",
    )


def token_bytes(info: GGUFMetadata) -> tuple[bytes, ...]:
    """The vocabulary's token texts as the file has them, bytes (empty if it has none)."""
    tokens = info.kv.get(TOKENS_KEY)
    if info.array_types.get(TOKENS_KEY) != _STR or not isinstance(tokens, list):
        return ()
    return tuple(str(token).encode("utf-8", "surrogateescape") for token in tokens)


def special_tokens(info: GGUFMetadata) -> dict[str, int]:
    """The vocabulary's special tokens (control and user-defined, as llama.cpp reads them
    out of a prompt), by text; empty when the file does not type its tokens."""
    types = info.kv.get(TOKEN_TYPES_KEY)
    tokens = info.kv.get(TOKENS_KEY)
    if not isinstance(types, list) or not isinstance(tokens, list) or len(types) != len(tokens):
        return {}
    found: dict[str, int] = {}
    for index, (kind, text) in enumerate(zip(types, tokens, strict=True)):
        if kind in _SPECIAL_TYPES and isinstance(text, str) and len(text) > 1:
            found.setdefault(text, index)
    return found


def _typename(kind: GGUFValueType) -> str:
    return kind.name.lower()


def check_gguf(info: GGUFMetadata, file_size: int) -> list[str]:
    """Every reason ctransformers 0.2.27 cannot load this GGUF file (empty: it can).

    ``info`` is the file's header read by :func:`parse_header` (the tensor table
    is needed); ``file_size`` the file's size in bytes.
    """
    if info.tensors is None or info.data_offset is None:
        raise ValueError("check_gguf needs the tensor table: read the header with parse_header")
    if info.byte_order == "big":
        return ["it is a big-endian GGUF file; ctransformers reads only little-endian ones"]
    arch = info.architecture
    if arch is None:
        return ["it has no 'general.architecture' key"]
    if arch in _NAMED_ONLY:
        return [
            f"its architecture {arch!r} is named in ctransformers' llama.cpp but has no code "
            f"there; it runs only {' and '.join(GGUF_ARCHITECTURES)} GGUF files"
        ]
    if arch not in GGUF_ARCHITECTURES:
        return [
            f"its architecture {arch!r} is unknown to ctransformers' llama.cpp (August 2023), "
            f"which runs only {' and '.join(GGUF_ARCHITECTURES)} GGUF files"
        ]
    problems = list(_check_keys(info, arch))
    problems += _check_vocab(info)
    problems += _check_tensors(info, arch, file_size)
    return problems


def _u32(info: GGUFMetadata, key: str) -> int | None:
    value = info.kv.get(key)
    return value if info.types.get(key) == _U32 and isinstance(value, int) else None


def _check_keys(info: GGUFMetadata, arch: str) -> Iterator[str]:
    required = {f"{arch}.{key}": _U32 for key in _REQUIRED_KEYS}
    required[f"{arch}.{_NORM_KEY[arch]}"] = _F32
    required["tokenizer.ggml.model"] = _STR
    for key, kind in required.items():
        if key not in info.types:
            yield f"it has no {key!r} key, which ctransformers requires"
        elif info.types[key] != kind:
            got = _typename(info.types[key])
            yield f"its {key!r} is a {got}; ctransformers requires a {_typename(kind)}"
    for pattern, kind in _OPTIONAL_KEYS.items():
        key = pattern.format(arch=arch)
        if key in info.types and info.types[key] != kind:
            got = _typename(info.types[key])
            yield f"its {key!r} is a {got}; ctransformers requires a {_typename(kind)}"
    n_embd = _u32(info, f"{arch}.embedding_length")
    n_head = _u32(info, f"{arch}.attention.head_count")
    n_head_kv = _u32(info, f"{arch}.attention.head_count_kv") or n_head
    if not n_embd or not n_head or not n_head_kv:
        return
    if n_embd % n_head or n_head % n_head_kv:
        yield (
            f"its attention shape (embedding {n_embd}, {n_head} heads, {n_head_kv} key/value "
            "heads) does not divide evenly"
        )
        return
    rope = _u32(info, f"{arch}.rope.dimension_count")
    if rope is not None and rope != n_embd // n_head:
        yield (
            f"it rotates {rope} of each head's {n_embd // n_head} dimensions (partial RoPE); "
            "ctransformers requires all of them"
        )


def _array(info: GGUFMetadata, key: str) -> tuple[GGUFValueType, int] | None:
    """An array's element type and length; ``None`` when ``key`` is absent or not an array."""
    if key not in info.array_types:
        return None
    return info.array_types[key], info.array_lengths[key]


def _check_vocab(info: GGUFMetadata) -> Iterator[str]:
    model = info.kv.get("tokenizer.ggml.model")
    tokens = _array(info, TOKENS_KEY)
    if tokens is None or tokens[0] != _STR:
        yield "it has no 'tokenizer.ggml.tokens' list of strings"
        return
    n_tokens = tokens[1]
    scores = _array(info, "tokenizer.ggml.scores")
    if scores is None:
        yield (
            "it has no 'tokenizer.ggml.scores' (llama.cpp no longer writes them for BPE "
            "vocabularies); ctransformers requires them"
        )
    elif scores != (_F32, n_tokens):
        yield f"its 'tokenizer.ggml.scores' are not {n_tokens} float32 values"
    types = _array(info, "tokenizer.ggml.token_type")
    if types is None:
        yield "it has no 'tokenizer.ggml.token_type', which ctransformers requires"
    elif types != (GGUFValueType.INT32, n_tokens):
        yield f"its 'tokenizer.ggml.token_type' is not {n_tokens} int32 values"
    texts = set(token_bytes(info))
    if model == "llama":
        if b"<0x0A>" not in texts:
            yield (
                "its SentencePiece vocabulary has no <0x0A> byte token, which ctransformers' "
                "loader looks up"
            )
    elif model == "gpt2":
        if _array(info, "tokenizer.ggml.merges") is None:
            yield "its BPE vocabulary has no 'tokenizer.ggml.merges'"
        if "Ċ".encode() in texts or "Ġ".encode() in {text[:2] for text in texts}:
            yield (
                "its BPE tokens are stored as GPT-2 byte-level characters ('Ġ' for a space, "
                "'Ċ' for a new line), as llama.cpp writes them since late 2023; ctransformers "
                "looks tokens up as raw bytes and crashes the process loading such a vocabulary"
            )
        elif b"\n" not in texts:
            yield (
                "its BPE vocabulary has no new-line token; ctransformers' loader looks one up "
                "and crashes the process without it"
            )
    elif isinstance(model, str):
        yield f"its tokenizer {model!r} is unknown to ctransformers (it knows 'llama' and 'gpt2')"
    for key in ("tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"):
        token = _u32(info, key)
        if token is not None and token >= n_tokens:
            yield f"its {key!r} {token} is outside the vocabulary of {n_tokens} tokens"


def _expected_tensors(info: GGUFMetadata, arch: str) -> dict[str, tuple[int, ...]]:
    """The tensors (and shapes, in ggml's order) ctransformers' llama.cpp creates."""
    n_embd = _u32(info, f"{arch}.embedding_length") or 0
    n_head = _u32(info, f"{arch}.attention.head_count") or 1
    n_head_kv = _u32(info, f"{arch}.attention.head_count_kv") or n_head
    n_layer = _u32(info, f"{arch}.block_count") or 0
    n_ff = _u32(info, f"{arch}.feed_forward_length") or 0
    n_vocab = info.array_lengths.get(TOKENS_KEY, 0)
    n_gqa = max(n_head // n_head_kv, 1)
    n_kv = n_embd // n_gqa
    shapes: dict[str, tuple[int, ...]] = {
        "token_embd.weight": (n_embd, n_vocab),
        "output_norm.weight": (n_embd,),
        "output.weight": (n_embd, n_vocab),
    }
    for i in range(n_layer):
        b = f"blk.{i}."
        shapes[b + "attn_norm.weight"] = (n_embd,)
        shapes[b + "attn_output.weight"] = (n_embd, n_embd)
        shapes[b + "ffn_up.weight"] = (n_embd, n_ff)
        shapes[b + "ffn_down.weight"] = (n_ff, n_embd)
        if arch == "llama":
            shapes[b + "attn_q.weight"] = (n_embd, n_embd)
            shapes[b + "attn_k.weight"] = (n_embd, n_kv)
            shapes[b + "attn_v.weight"] = (n_embd, n_kv)
            shapes[b + "ffn_norm.weight"] = (n_embd,)
            shapes[b + "ffn_gate.weight"] = (n_embd, n_ff)
        else:
            shapes[b + "attn_norm.bias"] = (n_embd,)
            shapes[b + "attn_qkv.weight"] = (n_embd, n_embd + 2 * n_kv)
    if arch == "falcon":
        shapes["output_norm.bias"] = (n_embd,)
        names = {tensor.name for tensor in info.tensors or ()}
        for i in range(n_layer):
            if f"blk.{i}.attn_norm_2.weight" in names:  # Falcon-40B's second norm
                shapes[f"blk.{i}.attn_norm_2.weight"] = (n_embd,)
                shapes[f"blk.{i}.attn_norm_2.bias"] = (n_embd,)
    return shapes


def _pad(shape: tuple[int, ...]) -> tuple[int, ...]:
    trimmed = list(shape)
    while len(trimmed) > 1 and trimmed[-1] == 1:
        trimmed.pop()
    return tuple(trimmed)


def _check_tensors(info: GGUFMetadata, arch: str, file_size: int) -> Iterator[str]:
    expected = _expected_tensors(info, arch)
    tensors = info.tensors or ()
    data_offset = info.data_offset or 0
    present = {tensor.name: tensor for tensor in tensors}
    missing = [name for name in expected if name not in present]
    if "output.weight" in missing:
        missing.remove("output.weight")
        yield (
            "it has no 'output.weight': its output layer reuses the token embeddings (tied "
            "weights), which ctransformers' llama.cpp cannot do"
        )
    if missing:
        yield f"it lacks {len(missing)} tensors ctransformers needs: {_some(missing)}"
    extra = [name for name in present if name not in expected]
    if extra:
        yield (
            f"it has {len(extra)} tensors ctransformers does not know (it wants exactly its "
            f"own set): {_some(extra)}"
        )
    wrong_shape = [
        f"{name} {list(tensor.shape)} (wants {list(expected[name])})"
        for name, tensor in present.items()
        if name in expected and _pad(tensor.shape) != _pad(expected[name])
    ]
    if wrong_shape:
        yield f"{len(wrong_shape)} tensors have another shape: {_some(wrong_shape)}"
    unknown = sorted({t.type_name for t in tensors if t.type_id not in SUPPORTED_TENSOR_TYPES})
    if unknown:
        known = ", ".join(t.name for t in SUPPORTED_TENSOR_TYPES.values())
        yield (
            f"it has tensors of type {', '.join(unknown)}, which ctransformers' ggml does not "
            f"have (it has {known}); it fails on such a file, or aborts the process (ids "
            "16 to 18, which it reads as I8, I16 and I32)"
        )
        return
    end = 0
    for tensor in tensors:
        kind = SUPPORTED_TENSOR_TYPES[tensor.type_id]
        if tensor.shape and tensor.shape[0] % kind.block:
            yield (
                f"tensor {tensor.name!r} has rows of {tensor.shape[0]} values, not a multiple "
                f"of the {kind.block}-value blocks of {kind.name}"
            )
            continue
        count = 1
        for n in tensor.shape:
            count *= n
        end = max(end, tensor.offset + count // kind.block * kind.size)
    if data_offset + end > file_size:
        yield (
            f"the file is cut short: its tensors need {data_offset + end} bytes, "
            f"it has {file_size} (an interrupted download?)"
        )


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:4])
    return shown + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def check_ggml(head: bytes, model_type: str | None) -> list[str]:
    """Reasons ctransformers cannot load a GGML-family (not GGUF) file, from its first bytes."""
    magic = head[:4]
    name = _MAGIC_NAMES.get(magic)
    if model_type is None:
        if name is None:
            return ["it is neither a GGUF nor a GGML file (its first bytes are unknown)"]
        known = ", ".join(sorted(GGML_MODEL_TYPES))
        return [
            f"it is a {name} file (GGML's format before GGUF), whose model type cannot be "
            f"detected: pass model_type= (one of {known})"
        ]
    key = "".join(c for c in model_type if c.isalnum())
    if key not in GGML_MODEL_TYPES:
        known = ", ".join(sorted(GGML_MODEL_TYPES))
        return [f"ctransformers has no model type {model_type!r} (it has {known})"]
    wanted = GGML_MODEL_TYPES[key]
    if magic not in wanted:
        seen = f"a {name}" if name else "an unknown"
        want = " or ".join(_MAGIC_NAMES[m] for m in wanted)
        return [f"it is {seen} file, and the {model_type} loader reads only {want} files"]
    return []


def explain(path: str, problems: list[str]) -> str:
    """The message of the error raised for a file ctransformers cannot load."""
    shown = problems[:_MAX_SHOWN]
    more = len(problems) - len(shown)
    lines = "\n".join(f"  - {problem}" for problem in shown)
    if more:
        lines += f"\n  - and {more} more"
    return (
        f"ctransformers 0.2.27 cannot load {path}:\n{lines}\n"
        f"Use the llama.cpp backend for this file instead: backend='llamacpp:{path}' "
        "(pip install llmkit-llamacpp)."
    )


class Spelling:
    """Finds the characters ctransformers' tokenizer cannot spell in a vocabulary.

    Its tokenizers fall back to one token per byte for a character that is not
    a token itself, and then crash the process (BPE) or abort it (SentencePiece)
    if a byte has no token.  ``unspellable(text)`` returns the first such
    character, so that the backend can refuse the text instead.
    """

    def __init__(self, tokens: tuple[bytes, ...], model: str | None) -> None:
        self._tokens = frozenset(tokens)
        self._spm = model == "llama"
        if self._spm:
            self._bytes = frozenset(b for b in range(256) if f"<0x{b:02X}>".encode() in tokens)
        else:
            self._bytes = frozenset(b for b in range(256) if bytes([b]) in self._tokens)
        self._complete = len(self._bytes) == 256

    def unspellable(self, text: str) -> str | None:
        if self._complete or not self._tokens:
            return None
        for char in set(text):
            data = char.encode("utf-8")
            piece = "▁".encode() if self._spm and char == " " else data
            if piece in self._tokens:
                continue
            if any(b not in self._bytes for b in data):
                return char
        return None
