"""Client-side tokens: a GGUF file's own tokenizer, or a ``tokenizer.json``, on ``tokenizers``.

:meth:`Tokenizer.from_gguf` rebuilds the tokenizer llama.cpp builds from a
GGUF file's vocabulary: the tokens, the BPE merges, the token types (control
and user-defined tokens are split out of the text before BPE runs), the
pre-tokenizer named by ``tokenizer.ggml.pre`` (:mod:`llmkit.tokens.pretokenize`),
the BOS/EOS ids and the ``add_bos``/``add_eos`` flags.  Encoding follows
``llama_tokenize(text, add_special, parse_special)``; the test suite checks
that the ids equal llama.cpp's on a broad set of texts, for SmolLM2 and for
each pre-tokenizer family on SmolLM2's vocabulary.

Only GPT-2 style byte-level BPE vocabularies (``tokenizer.ggml.model ==
"gpt2"``) are rebuilt; other types (``llama`` SentencePiece, ``bert``,
``t5``, ...) raise :class:`~llmkit.errors.TokenizerError` naming the type.

Building needs no I/O but the file read; :meth:`Tokenizer.from_gguf_metadata`
builds from metadata already read.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from tokenizers import AddedToken, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from llmkit.errors import GGUFError, InvalidRequestError, ModelNotFoundError, TokenizerError
from llmkit.gguf import GGUFMetadata, read_gguf_metadata
from llmkit.tokens.pretokenize import PRE_TOKENIZERS, build_pre_tokenizer

__all__ = ["Tokenizer"]

# llama.cpp's token types (``tokenizer.ggml.token_type``).
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6

# Token texts llama.cpp treats as control tokens whatever the file says (its
# end-of-generation and fill-in-the-middle lists in ``llama_vocab::impl::load``).
_FORCED_CONTROL = frozenset(
    {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
        "<|end_of_text|>", "<EOT>", "_<EOT>", "<|eom_id|>", "<end_of_utterance>",
        "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<|fim_suffix|>", "<fim-suffix>",
        "<fim_suffix>", "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<|fim_pad|>",
        "<fim-pad>", "<fim_pad>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
        "<|file_sep|>",
    }
)  # fmt: skip


class Tokenizer:
    """Text to token ids and back, with a ``tokenizers.Tokenizer`` underneath.

    Build one with :meth:`from_gguf` (a model file's own vocabulary),
    :meth:`from_gguf_metadata` or :meth:`from_file` (a ``tokenizer.json``).
    Encoding is thread-safe.
    """

    def __init__(
        self,
        tokenizer: HFTokenizer,
        *,
        bos_id: int | None = None,
        eos_id: int | None = None,
        add_bos: bool = False,
        add_eos: bool = False,
        source: str = "",
    ) -> None:
        self._hf = tokenizer
        self._hf.encode_special_tokens = False
        self._plain: HFTokenizer | None = None  # the twin that leaves special tokens as text
        self._plain_lock = threading.Lock()
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.add_bos = add_bos
        self.add_eos = add_eos
        self.source = source
        self._prefix = [bos_id] if add_bos and bos_id is not None else []
        self._suffix = [eos_id] if add_eos and eos_id is not None else []
        self.special_ids = frozenset(
            index for index, token in tokenizer.get_added_tokens_decoder().items() if token.special
        )
        """Ids of the special (control) tokens: split out only with ``parse_special``."""

    # -- building -------------------------------------------------------------

    @classmethod
    def from_gguf(cls, path: str | Path) -> Tokenizer:
        """The tokenizer of a GGUF model file (only its metadata is read)."""
        metadata = read_gguf_metadata(path)
        return cls.from_gguf_metadata(metadata, source=str(path))

    @classmethod
    def from_gguf_metadata(cls, metadata: GGUFMetadata, *, source: str = "") -> Tokenizer:
        """The tokenizer described by GGUF metadata already read."""
        model = metadata.get_str("tokenizer.ggml.model")
        if model != "gpt2":
            raise TokenizerError(
                f"tokenizer.ggml.model is {model!r}: llmkit rebuilds only GPT-2 style BPE "
                "vocabularies ('gpt2'); load the model's tokenizer.json with "
                "Tokenizer.from_file() instead"
            )
        pre_name = metadata.get_str("tokenizer.ggml.pre")
        pre = PRE_TOKENIZERS.get(pre_name or "")
        if pre is None:
            what = f"is {pre_name!r}" if pre_name else "is missing (llama.cpp's 'default')"
            raise TokenizerError(
                f"tokenizer.ggml.pre {what}: a pre-tokenizer llmkit does not rebuild "
                f"(it rebuilds: {', '.join(sorted(PRE_TOKENIZERS))})"
            )
        tokens = _required_list(metadata.get_str_list("tokenizer.ggml.tokens"), "tokens")
        merges = _required_list(metadata.get_str_list("tokenizer.ggml.merges"), "merges")
        types = metadata.get_int_list("tokenizer.ggml.token_type") or []
        if types and len(types) < len(tokens):
            raise TokenizerError(
                f"tokenizer.ggml.token_type has {len(types)} entries for {len(tokens)} tokens"
            )
        vocab = _vocabulary(tokens)
        bpe = models.BPE(
            vocab=vocab,
            merges=[_split_merge(merge, index) for index, merge in enumerate(merges)],
            ignore_merges=pre.ignore_merges,
        )
        hf = HFTokenizer(bpe)
        missing = [c for c in pre_tokenizers.ByteLevel.alphabet() if c not in vocab]
        hf.pre_tokenizer = build_pre_tokenizer(pre, missing)
        hf.decoder = decoders.ByteLevel()
        control, user = _special_tokens(tokens, types)
        hf.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
        hf.add_tokens([AddedToken(t, special=False, normalized=False) for t in user])
        bos_id = _token_id(metadata, "bos", len(tokens))
        eos_id = _token_id(metadata, "eos", len(tokens))
        add_bos = bool(metadata.get_bool("tokenizer.ggml.add_bos_token", pre.add_bos))
        add_eos = bool(metadata.get_bool("tokenizer.ggml.add_eos_token", False))
        for flag, token, name in ((add_bos, bos_id, "bos"), (add_eos, eos_id, "eos")):
            if flag and token is None:
                raise TokenizerError(
                    f"tokenizer.ggml.add_{name}_token is true, but tokenizer.ggml.{name}_token_id "
                    "is not set"
                )
        return cls(
            hf, bos_id=bos_id, eos_id=eos_id, add_bos=add_bos, add_eos=add_eos, source=source
        )

    @classmethod
    def from_file(cls, path: str | Path) -> Tokenizer:
        """A Hugging Face ``tokenizer.json``; ``add_special`` runs its own post-processor."""
        file = Path(path)
        if not file.is_file():
            raise ModelNotFoundError(f"tokenizer file not found: {file}", path=str(file))
        try:
            hf = HFTokenizer.from_file(str(file))
        except Exception as exc:  # tokenizers raises bare Exception on a bad file
            raise TokenizerError(
                f"{file} is not a tokenizer.json that tokenizers can load: {exc}"
            ) from exc
        return cls(hf, source=str(file))

    # -- using ----------------------------------------------------------------

    @property
    def hf(self) -> HFTokenizer:
        """The ``tokenizers.Tokenizer`` underneath (special tokens are parsed)."""
        return self._hf

    @property
    def vocab_size(self) -> int:
        """The number of token ids, added tokens included."""
        return int(self._hf.get_vocab_size(with_added_tokens=True))

    def token_to_id(self, token: str) -> int | None:
        """The id of a token, given as it is stored (byte-level text), or ``None``."""
        found = self._hf.token_to_id(token)
        return None if found is None else int(found)

    def id_to_token(self, token_id: int) -> str | None:
        """The stored text of a token id, or ``None`` when there is no such id."""
        found = self._hf.id_to_token(token_id)
        return None if found is None else str(found)

    def encode(
        self, text: str, *, add_special: bool = True, parse_special: bool = False
    ) -> list[int]:
        """The token ids of ``text``, as ``llama_tokenize`` gives them.

        ``add_special`` adds BOS/EOS where the vocabulary asks for them
        (``add_bos``/``add_eos``).  ``parse_special`` turns the text of control
        tokens (``<|im_start|>``) into those tokens; without it they are
        tokenized as plain text.  User-defined tokens are always split out.
        """
        if not isinstance(text, str):
            raise InvalidRequestError(
                f"text: expected a str, got {type(text).__name__}", fields=["text"]
            )
        hf = self._hf if parse_special else self._plain_twin()
        ids = list(hf.encode(text, add_special_tokens=add_special).ids)
        if add_special and (self._prefix or self._suffix):
            return self._prefix + ids + self._suffix
        return ids

    def count(self, text: str, *, add_special: bool = True, parse_special: bool = False) -> int:
        """The number of tokens ``encode()`` gives for ``text``."""
        return len(self.encode(text, add_special=add_special, parse_special=parse_special))

    def decode(self, ids: Sequence[int], *, special: bool = False) -> str:
        """The text of token ids; control tokens are left out unless ``special``.

        Bytes that do not form whole UTF-8 characters become U+FFFD.
        """
        size = self.vocab_size
        for index, token in enumerate(ids):
            if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token < size:
                raise InvalidRequestError(
                    f"ids[{index}]: {token!r} is not a token id (the vocabulary has {size})",
                    fields=[f"ids.{index}"],
                )
        return str(self._hf.decode(list(ids), skip_special_tokens=not special))

    def _plain_twin(self) -> HFTokenizer:
        if self._plain is None:
            with self._plain_lock:
                if self._plain is None:
                    twin = HFTokenizer.from_str(self._hf.to_str())
                    twin.encode_special_tokens = True
                    self._plain = twin
        return self._plain

    def __repr__(self) -> str:
        return f"Tokenizer({self.source or 'in memory'}, vocab_size={self.vocab_size})"


def _required_list(value: list[str] | None, name: str) -> list[str]:
    if not value:
        raise TokenizerError(f"the GGUF metadata has no tokenizer.ggml.{name}")
    return value


def _vocabulary(tokens: list[str]) -> dict[str, int]:
    vocab: dict[str, int] = {}
    for index, token in enumerate(tokens):
        text = token or f"[EMPTY_{index}]"  # llama.cpp's name for an empty token
        if text in vocab:
            raise TokenizerError(
                f"duplicate token in the vocabulary: {text!r} has ids {vocab[text]} and {index}"
            )
        vocab[text] = index
    return vocab


def _split_merge(merge: str, index: int) -> tuple[str, str]:
    # As llama.cpp: the first space after the first character separates the pair.
    cut = merge.find(" ", 1)
    if cut < 0:
        raise GGUFError(
            f"tokenizer.ggml.merges[{index}] is {merge!r}, not two tokens separated by a space",
            field="tokenizer.ggml.merges",
        )
    return merge[:cut], merge[cut + 1 :]


def _special_tokens(tokens: list[str], types: list[int]) -> tuple[list[str], list[str]]:
    """Control/unknown tokens (split out with parse_special) and user-defined ones (always)."""
    control: list[str] = []
    user: list[str] = []
    for index, token in enumerate(tokens):
        kind = types[index] if types else _NORMAL
        if not token:
            continue
        if kind in (_CONTROL, _UNKNOWN) or token in _FORCED_CONTROL:
            control.append(token)
        elif kind == _USER_DEFINED:
            user.append(token)
    return control, user


def _token_id(metadata: GGUFMetadata, name: str, size: int) -> int | None:
    token = metadata.get_int(f"tokenizer.ggml.{name}_token_id")
    if token is None or not 0 <= token < size:
        return None
    return token
