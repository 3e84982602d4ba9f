"""Small, seeded model files that ctransformers 0.2.27 can (or cannot) load.

No model that ctransformers can load is to be had on this machine (SmolLM2 and
Gemma 3 are GGUF v3 files it rejects), so the tests write their own:

* ``write_llama_gguf`` writes a tiny llama in GGUF (versions 1, 2 or 3; any
  tensor type; a llama SentencePiece or a gpt2 BPE vocabulary; grouped-query
  attention or not; with or without the tensors and keys that newer files
  drop).  Its weights are built so that its greedy answer is known: the token
  embeddings of the "script" tokens are orthonormal, the output matrix maps
  each to its successor (``SCRIPT``), and the layers add only a little noise.
  So ``":"`` is followed by `` one two three ... ten.`` and the end of text,
  ``"a"`` by `` b c ... z a b`` for ever, and ``"caf"`` by ``é!`` (the ``é``
  as two byte tokens).
* ``write_gpt2_ggml`` writes the same kind of model as a GPT-2 in GGML's
  oldest file format (magic ``ggml``), which ctransformers loads with
  ``model_type="gpt2"``.

Every file is a few hundred kilobytes and the same for the same arguments.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CHAT_TEMPLATE",
    "COUNT_TEXT",
    "LETTERS_TEXT",
    "LlamaFile",
    "rewrite_for_ctransformers",
    "write_gpt2_ggml",
    "write_llama_gguf",
]

# GGUF value types
U8, I8, U16, I16, U32, I32, F32V, BOOL, STR, ARR, U64, I64, F64 = range(13)
# ggml tensor types (the ids of ctransformers' ggml, which agree with today's up to 15)
F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 = 0, 1, 2, 3, 6, 7, 8
Q2_K, Q3_K, Q4_K, Q5_K, Q6_K = 10, 11, 12, 13, 14
BF16 = 30  # today's id; ctransformers' ggml has no such type

WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
COUNT_TEXT = "".join(" " + word for word in WORDS) + "."
LETTERS_TEXT = "".join(" " + letter for letter in LETTERS[1:]) + " a"
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)


def _spm_vocab(byte_tokens: bool = True) -> list[tuple[str, float, int]]:
    """A SentencePiece-style vocabulary: (text, score, token type)."""
    vocab: list[tuple[str, float, int]] = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    spelled = range(256) if byte_tokens else (0x0A, 0xC3, 0xA9)
    vocab += [(f"<0x{b:02X}>", 0.0, 6) for b in spelled]
    pieces: list[str] = ["▁", *LETTERS, ":", ".", "!", ",", "?"]
    pieces += ["▁" + letter for letter in LETTERS]
    for word in [*WORDS, "caf", "user", "assistant", "system", "hello", "world"]:
        pieces += ["▁" + word[:end] for end in range(2, len(word) + 1)]
        pieces += [word[:end] for end in range(2, len(word) + 1)]
    seen: set[str] = set()
    for piece in pieces:
        if piece not in seen:
            seen.add(piece)
            vocab.append((piece, float(len(piece)), 1))
    return vocab


def _text(token: str | bytes) -> str:
    return token.decode("utf-8", "replace") if isinstance(token, bytes) else token


def _script(ids: dict[str, int], *, space: str) -> dict[int, int]:
    """Which token follows which, in the model's greedy answer."""
    chain: list[list[str]] = [
        [":", *(space + word for word in WORDS), ".", "</s>"],
        [space + letter for letter in LETTERS] + [space + "a"],
        [space + "caf", "<0xC3>", "<0xA9>", "!", "</s>"],
    ]
    follows: dict[int, int] = {}
    for steps in chain:
        if not all(step in ids for step in steps):
            continue  # a gpt2 vocabulary has no byte tokens
        for here, after in itertools.pairwise(steps):
            follows[ids[here]] = ids[after]
    return follows


@dataclass(frozen=True)
class LlamaFile:
    """What ``write_llama_gguf`` writes; every field can be varied."""

    version: int = 2
    architecture: str = "llama"
    tensor_type: int = F32
    """The type of the 2-D weight matrices (norms stay F32)."""
    embd_type: int | None = None
    """The type of token_embd and output (default: ``tensor_type``)."""
    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_head_kv: int = 4
    n_ff: int = 128
    n_ctx_train: int = 256
    vocab: str = "llama"
    """``llama`` (SentencePiece, with scores), ``gpt2`` (byte-level BPE with merges, as
    llama.cpp writes it today: ``Ġ`` for a space) or ``gpt2-raw`` (the same with the
    tokens as raw bytes, as the Falcon files of August 2023 had them)."""
    byte_tokens: bool = True
    """False: a SentencePiece vocabulary with only the byte tokens the script needs."""
    layout: str | None = None
    """The tensors to write: ``llama`` or ``falcon`` (default: the architecture's, else llama)."""
    scores: bool = True
    token_types: bool = True
    output_tensor: bool = True
    """False: tie the output to the token embeddings, as SmolLM2's file does."""
    rope_dims: int | None = None
    extra_tensors: tuple[str, ...] = ()
    chat_template: str | None = CHAT_TEMPLATE
    layer_noise: float = 0.02
    seed: int = 1234
    extra_keys: dict[str, Any] = field(default_factory=dict)

    def but(self, **changes: Any) -> LlamaFile:
        return replace(self, **changes)


def _gpt2_vocab() -> list[tuple[str, float, int]]:
    """A gpt2-style vocabulary: bytes as GPT-2's printable characters, 'Ġ' for a space."""
    table = _bytes_to_unicode()
    vocab = [(table[b], 0.0, 1) for b in range(256)]
    words = [*WORDS, "caf", "user", "assistant", "system", "hello", "world", *LETTERS]
    for word in words:
        for end in range(2, len(word) + 1):
            vocab.append(("Ġ" + word[:end], 0.0, 1))
    vocab += [("Ġ" + letter, 0.0, 1) for letter in LETTERS if ("Ġ" + letter, 0.0, 1) not in vocab]
    vocab += [("</s>", 0.0, 3), ("<s>", 0.0, 3)]
    unique: dict[str, tuple[str, float, int]] = {}
    for entry in vocab:
        unique.setdefault(entry[0], entry)
    return list(unique.values())


def _bytes_to_unicode() -> dict[int, str]:
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _gpt2_merges(vocab: list[tuple[Any, float, int]]) -> list[Any]:
    merges: list[Any] = []
    for text, _, _ in vocab:
        if isinstance(text, str) and text.startswith("Ġ") and len(text) >= 2:
            merges.append(f"{text[:-1]} {text[-1]}")
        elif isinstance(text, bytes) and text.startswith(b" ") and len(text) >= 2:
            merges.append(text[:-1] + b" " + text[-1:])
    return merges


def _raw_vocab() -> list[tuple[Any, float, int]]:
    """The gpt2 vocabulary with each token as its raw bytes."""
    decode = {c: b for b, c in _bytes_to_unicode().items()}
    raw: list[tuple[Any, float, int]] = []
    for text, score, kind in _gpt2_vocab():
        if kind == 1:
            raw.append((bytes(decode[c] for c in text), score, kind))
        else:
            raw.append((text, score, kind))
    return raw


class _GgufWriter:
    """GGUF versions 1 to 3 (little-endian), written by hand.

    The ``gguf`` package writes only version 3 and only the tensor types it
    knows; these tests need version 1 and arbitrary type ids too.
    """

    def __init__(self, version: int) -> None:
        self.version = version
        self.kv: list[bytes] = []
        self.tensors: list[tuple[str, tuple[int, ...], int, bytes]] = []

    def _count(self, n: int) -> bytes:
        return struct.pack("<I" if self.version == 1 else "<Q", n)

    def _str(self, text: str | bytes) -> bytes:
        data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")
        return self._count(len(data)) + data

    def _value(self, kind: int, value: Any) -> bytes:
        formats = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32V: "f"}
        formats |= {BOOL: "?", U64: "Q", I64: "q", F64: "d"}
        if kind == STR:
            return self._str(value)
        return struct.pack("<" + formats[kind], value)

    def add(self, key: str, kind: int, value: Any, item: int | None = None) -> None:
        body = self._str(key) + struct.pack("<I", kind)
        if kind == ARR:
            assert item is not None
            body += struct.pack("<I", item) + self._count(len(value))
            body += b"".join(self._value(item, v) for v in value)
        else:
            body += self._value(kind, value)
        self.kv.append(body)

    def tensor(self, name: str, shape: tuple[int, ...], kind: int, data: bytes) -> None:
        """``shape`` in ggml's order (``ne``: the fastest-varying dimension first)."""
        self.tensors.append((name, shape, kind, data))

    def write(self, path: Path, alignment: int = 32) -> None:
        header = b"GGUF" + struct.pack("<I", self.version)
        header += self._count(len(self.tensors)) + self._count(len(self.kv))
        infos = b""
        offset = 0
        blobs: list[bytes] = []
        for name, shape, kind, data in self.tensors:
            infos += self._str(name) + struct.pack("<I", len(shape))
            infos += b"".join(self._count(n) for n in shape)
            infos += struct.pack("<IQ", kind, offset)
            padded = data + b"\0" * (-len(data) % alignment)
            blobs.append(padded)
            offset += len(padded)
        head = header + b"".join(self.kv) + infos
        head += b"\0" * (-len(head) % alignment)
        path.write_bytes(head + b"".join(blobs))


#: Each quantized type: (values per block, bytes per block, offsets of its f16 scales).
_BLOCKS = {
    Q4_0: (32, 18, (0,)),
    Q4_1: (32, 20, (0, 2)),
    Q5_0: (32, 22, (0,)),
    Q5_1: (32, 24, (0, 2)),
    Q8_0: (32, 34, (0,)),
    Q2_K: (256, 84, (80, 82)),
    Q3_K: (256, 110, (108,)),
    Q4_K: (256, 144, (0, 2)),
    Q5_K: (256, 176, (0, 2)),
    Q6_K: (256, 210, (208,)),
}


def _q8_0(values: np.ndarray) -> bytes:
    blocks = values.reshape(-1, 32)
    scale = np.abs(blocks).max(axis=1) / 127
    quants = np.round(blocks / np.where(scale == 0, 1, scale)[:, None]).astype(np.int8)
    rows = [
        s.astype(np.float16).tobytes() + q.tobytes() for s, q in zip(scale, quants, strict=True)
    ]
    return b"".join(rows)


def _q4_0(values: np.ndarray) -> bytes:
    blocks = values.reshape(-1, 32)
    extreme = blocks[np.arange(len(blocks)), np.abs(blocks).argmax(axis=1)]
    scale = extreme / -8
    inverse = np.where(scale == 0, 0, 1 / np.where(scale == 0, 1, scale))
    quants = np.minimum(15, (blocks * inverse[:, None] + 8.5).astype(np.int8)).astype(np.uint8)
    packed = quants[:, :16] | (quants[:, 16:] << 4)
    rows = [
        s.astype(np.float16).tobytes() + q.tobytes() for s, q in zip(scale, packed, strict=True)
    ]
    return b"".join(rows)


def _encode(matrix: np.ndarray, kind: int, rng: np.random.Generator) -> bytes:
    """A float matrix (rows x columns) as ggml data of ``kind``.

    F32, F16, Q8_0 and Q4_0 encode the values (ggml's reference rounding); any
    other quantized type gets random quants with small, valid scales, which is
    enough to load and run a model (its text is then noise).  An id unknown to
    ctransformers' ggml gets bytes of a plausible size, which it never reads.
    """
    values = np.ascontiguousarray(matrix, dtype=np.float32)
    if kind == F32:
        return values.tobytes()
    if kind == F16:
        return values.astype(np.float16).tobytes()
    if kind == Q8_0:
        return _q8_0(values)
    if kind == Q4_0:
        return _q4_0(values)
    if kind in _BLOCKS:
        per_block, size, scale_at = _BLOCKS[kind]
        blocks = values.size // per_block
        data = bytearray(rng.integers(0, 256, size=size * blocks, dtype=np.uint8).tobytes())
        tiny = np.float16(1e-3).tobytes()
        for block in range(blocks):
            for at in scale_at:
                data[block * size + at : block * size + at + 2] = tiny
        return bytes(data)
    return rng.integers(0, 256, size=values.size * 2, dtype=np.uint8).tobytes()


def _weights(
    spec: LlamaFile, n_vocab: int, follows: dict[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Token embeddings and output matrix such that greedy decoding follows ``follows``."""
    n = spec.n_embd
    embd = rng.standard_normal((n_vocab, n)).astype(np.float32)
    sources = sorted(follows)
    assert len(sources) <= n, "the script needs one embedding direction per token"
    basis, _ = np.linalg.qr(rng.standard_normal((n, n)))
    for index, token in enumerate(sources):
        embd[token] = basis[:, index] * np.sqrt(n)
    output = np.zeros((n_vocab, n), dtype=np.float32)
    for token, after in follows.items():
        output[after] += basis[:, sources.index(token)] * 2.0
    if not spec.output_tensor:
        output = embd
    return embd, output


def write_llama_gguf(path: Path, spec: LlamaFile | None = None) -> Path:
    """Write a tiny llama GGUF file described by ``spec``; returns ``path``."""
    spec = spec or LlamaFile()
    rng = np.random.default_rng(spec.seed)
    vocab: list[tuple[Any, float, int]] = {
        "llama": lambda: _spm_vocab(spec.byte_tokens),
        "gpt2": _gpt2_vocab,
        "gpt2-raw": _raw_vocab,
    }[spec.vocab]()
    ids = {_text(text): i for i, (text, _, _) in enumerate(vocab)}
    follows = _script(ids, space={"llama": "▁", "gpt2": "Ġ", "gpt2-raw": " "}[spec.vocab])
    n_vocab = len(vocab)
    arch = spec.architecture
    out = _GgufWriter(spec.version)
    out.add("general.architecture", STR, arch)
    out.add("general.name", STR, "llmkit tiny test model")
    out.add("general.alignment", U32, 32)
    out.add(f"{arch}.context_length", U32, spec.n_ctx_train)
    out.add(f"{arch}.embedding_length", U32, spec.n_embd)
    out.add(f"{arch}.block_count", U32, spec.n_layer)
    out.add(f"{arch}.feed_forward_length", U32, spec.n_ff)
    out.add(f"{arch}.attention.head_count", U32, spec.n_head)
    out.add(f"{arch}.attention.head_count_kv", U32, spec.n_head_kv)
    layout = spec.layout or (arch if arch in ("llama", "falcon") else "llama")
    norm_key = "layer_norm_epsilon" if layout == "falcon" else "layer_norm_rms_epsilon"
    out.add(f"{arch}.attention.{norm_key}", F32V, 1e-5)
    out.add(f"{arch}.rope.dimension_count", U32, spec.rope_dims or spec.n_embd // spec.n_head)
    out.add("tokenizer.ggml.model", STR, spec.vocab.removesuffix("-raw"))
    out.add("tokenizer.ggml.tokens", ARR, [t for t, _, _ in vocab], STR)
    if spec.scores:
        out.add("tokenizer.ggml.scores", ARR, [s for _, s, _ in vocab], F32V)
    if spec.token_types:
        out.add("tokenizer.ggml.token_type", ARR, [k for _, _, k in vocab], I32)
    if spec.vocab != "llama":
        out.add("tokenizer.ggml.merges", ARR, _gpt2_merges(vocab), STR)
    out.add("tokenizer.ggml.bos_token_id", U32, ids["<s>"])
    out.add("tokenizer.ggml.eos_token_id", U32, ids["</s>"])
    if spec.chat_template is not None:
        out.add("tokenizer.chat_template", STR, spec.chat_template)
    for key, (kind, value) in spec.extra_keys.items():
        out.add(key, kind, value)

    n, n_ff = spec.n_embd, spec.n_ff
    n_kv = n * spec.n_head_kv // spec.n_head
    embd, output = _weights(spec, n_vocab, follows, rng)
    big = spec.tensor_type
    outer = spec.embd_type if spec.embd_type is not None else big

    def matrix(name: str, rows: int, cols: int, kind: int, value: np.ndarray | None = None) -> None:
        if value is None:
            value = rng.standard_normal((rows, cols)).astype(np.float32) * spec.layer_noise
        out.tensor(name, (cols, rows), kind, _encode(value, kind, rng))

    def ones(name: str) -> None:
        out.tensor(name, (n,), F32, np.ones(n, dtype=np.float32).tobytes())

    def zeros(name: str) -> None:
        out.tensor(name, (n,), F32, np.zeros(n, dtype=np.float32).tobytes())

    matrix("token_embd.weight", n_vocab, n, outer, embd)
    ones("output_norm.weight")
    if layout == "falcon":
        zeros("output_norm.bias")
    if spec.output_tensor:
        matrix("output.weight", n_vocab, n, outer, output)
    for i in range(spec.n_layer if layout == "falcon" else 0):
        ones(f"blk.{i}.attn_norm.weight")
        zeros(f"blk.{i}.attn_norm.bias")
        matrix(f"blk.{i}.attn_qkv.weight", n + 2 * n_kv, n, big)
        matrix(f"blk.{i}.attn_output.weight", n, n, big)
        matrix(f"blk.{i}.ffn_up.weight", n_ff, n, big)
        matrix(f"blk.{i}.ffn_down.weight", n, n_ff, big)
    for i in range(spec.n_layer if layout == "llama" else 0):
        ones(f"blk.{i}.attn_norm.weight")
        matrix(f"blk.{i}.attn_q.weight", n, n, big)
        matrix(f"blk.{i}.attn_k.weight", n_kv, n, big)
        matrix(f"blk.{i}.attn_v.weight", n_kv, n, big)
        matrix(f"blk.{i}.attn_output.weight", n, n, big)
        ones(f"blk.{i}.ffn_norm.weight")
        matrix(f"blk.{i}.ffn_gate.weight", n_ff, n, big)
        matrix(f"blk.{i}.ffn_down.weight", n, n_ff, big)
        matrix(f"blk.{i}.ffn_up.weight", n_ff, n, big)
    for name in spec.extra_tensors:
        out.tensor(name, (n // 2,), F32, np.ones(n // 2, dtype=np.float32).tobytes())
    out.write(path)
    return path


def write_gpt2_ggml(path: Path, *, ftype: int = 0, n_ctx: int = 256, seed: int = 99) -> Path:
    """A tiny GPT-2 in GGML's original format.

    ``ftype`` is GGML's file type: 0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 7 Q8_0, 8 Q5_0, 9 Q5_1.
    """
    rng = np.random.default_rng(seed)
    words = [" " + w for w in WORDS] + [" " + c for c in LETTERS] + [" caf"]
    tokens = [bytes([b]) for b in range(256)]
    tokens += [w.encode() for w in words if len(w.encode()) > 1]
    tokens += ["é".encode(), b"<|endoftext|>"]
    ids = {t: i for i, t in enumerate(tokens)}
    chains = [
        [b":", *(f" {w}".encode() for w in WORDS), b".", b"<|endoftext|>"],
        [f" {c}".encode() for c in LETTERS] + [b" a"],
        [b" caf", "é".encode(), b"!", b"<|endoftext|>"],
    ]
    follows = {ids[a]: ids[b] for steps in chains for a, b in itertools.pairwise(steps)}
    n_vocab, n_embd, n_head, n_layer = len(tokens), 64, 4, 2
    spec = LlamaFile(n_embd=n_embd)
    wte, lm_head = _weights(spec, n_vocab, follows, rng)
    kind = {0: F32, 1: F16, 2: Q4_0, 3: Q4_1, 7: Q8_0, 8: Q5_0, 9: Q5_1}[ftype]

    body = struct.pack("<I", 0x67676D6C)
    body += struct.pack("<6i", n_vocab, n_ctx, n_embd, n_head, n_layer, ftype)
    body += struct.pack("<i", n_vocab)
    body += b"".join(struct.pack("<I", len(t)) + t for t in tokens)

    def tensor(name: str, value: np.ndarray, as_type: int) -> bytes:
        shape = value.shape[::-1]  # ggml order
        head = struct.pack("<3i", len(shape), len(name), as_type)
        head += b"".join(struct.pack("<i", d) for d in shape) + name.encode()
        return head + _encode(value, as_type, rng)

    def noise(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32) * 0.02

    one, zero = np.ones(n_embd, np.float32), np.zeros(n_embd, np.float32)
    body += tensor("model/ln_f/g", one, F32) + tensor("model/ln_f/b", zero, F32)
    body += tensor("model/wte", wte, kind)
    body += tensor("model/wpe", noise(n_ctx, n_embd), F32)
    body += tensor("model/lm_head", lm_head, kind)
    for i in range(n_layer):
        p = f"model/h{i}"
        body += tensor(f"{p}/ln_1/g", one, F32) + tensor(f"{p}/ln_1/b", zero, F32)
        body += tensor(f"{p}/ln_2/g", one, F32) + tensor(f"{p}/ln_2/b", zero, F32)
        body += tensor(f"{p}/attn/c_attn/w", noise(3 * n_embd, n_embd), kind)
        body += tensor(f"{p}/attn/c_attn/b", np.zeros(3 * n_embd, np.float32), F32)
        body += tensor(f"{p}/attn/c_proj/w", noise(n_embd, n_embd), kind)
        body += tensor(f"{p}/attn/c_proj/b", zero, F32)
        body += tensor(f"{p}/mlp/c_fc/w", noise(4 * n_embd, n_embd), kind)
        body += tensor(f"{p}/mlp/c_fc/b", np.zeros(4 * n_embd, np.float32), F32)
        body += tensor(f"{p}/mlp/c_proj/w", noise(n_embd, 4 * n_embd), kind)
        body += tensor(f"{p}/mlp/c_proj/b", zero, F32)
    path.write_bytes(body)
    return path


def rewrite_for_ctransformers(source: Path, path: Path) -> Path:
    """Rewrite a llama GGUF with a byte-level BPE vocabulary (SmolLM2's) for ctransformers.

    It adds the three things ctransformers' loader wants and today's files
    lack: token scores (zeros), tokens as raw bytes instead of GPT-2's
    printable characters, and an ``output.weight`` (a copy of the tied token
    embeddings).  Test-only: it shows that the real weights then run.
    """
    import mmap

    from llmkit.gguf import parse_gguf_metadata
    from llmkit_ctransformers.compat import SUPPORTED_TENSOR_TYPES

    decode = {c: b for b, c in _bytes_to_unicode().items()}

    def raw(text: str) -> bytes:
        if all(c in decode for c in text):
            return bytes(decode[c] for c in text)
        return text.encode("utf-8", "surrogateescape")

    with source.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        info = parse_gguf_metadata(data, tensors=True, string_errors="surrogateescape")
        out = _GgufWriter(info.version)
        for key, value in info.items():
            kind = info.types[key]
            if key in info.array_types:
                items = list(value)
                if key == "tokenizer.ggml.tokens":
                    items = [raw(item) for item in items]
                out.add(key, kind, items, info.array_types[key])
            else:
                out.add(key, kind, value)
        n_tokens = info.array_lengths["tokenizer.ggml.tokens"]
        out.add("tokenizer.ggml.scores", ARR, [0.0] * n_tokens, F32V)
        for tensor in info.tensors:
            kind = SUPPORTED_TENSOR_TYPES[tensor.type_id]
            count = int(np.prod(tensor.shape))
            start = info.data_offset + tensor.offset
            blob = bytes(data[start : start + count // kind.block * kind.size])
            out.tensor(tensor.name, tensor.shape, tensor.type_id, blob)
            if tensor.name == "token_embd.weight":
                out.tensor("output.weight", tensor.shape, tensor.type_id, blob)
    out.write(path)
    return path
