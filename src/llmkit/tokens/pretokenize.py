"""How llama.cpp splits text before BPE, rebuilt as ``tokenizers`` pre-tokenizers (pure).

llama.cpp picks a list of regular expressions by the GGUF's
``tokenizer.ggml.pre`` (``llm_tokenizer_bpe``'s constructor in
``llama-vocab.cpp``) and runs them in order, each splitting the pieces the one
before left.  Here each becomes a ``Split(..., behavior="isolated")``, followed
by the byte-level mapping.  Three details make the result equal llama.cpp's:

- **Its Unicode tables.**  ``\\p{L}``, ``\\p{N}`` and ``\\s`` are spelled out as
  llama.cpp's own classes (:mod:`llmkit.tokens.unicode_classes`): its tables
  follow an older Unicode than Oniguruma's, so a letter added since is, for
  llama.cpp, an unassigned code point.
- **Leftover whitespace.**  llama.cpp's GPT-2 expression ends at ``\\s+(?!\\S)``;
  its matcher takes what whitespace is left as ``\\s+``, written out here.
- **Bytes missing from the vocabulary.**  A byte whose byte-level character is
  not a token blocks every merge across it in llama.cpp (it is dropped at the
  end), while ``tokenizers`` drops it before merging.  Splitting the
  byte-level text at such characters gives llama.cpp's result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from tokenizers import Regex, pre_tokenizers

from llmkit.tokens import unicode_classes

__all__ = ["PRE_TOKENIZERS", "PreTokenizer", "build_pre_tokenizer", "expand"]


@dataclass(frozen=True)
class PreTokenizer:
    """The split llama.cpp runs for a family of ``tokenizer.ggml.pre`` values.

    ``patterns`` are written with ``«L»``, ``«N»`` and ``«S»`` for the insides
    of llama.cpp's letter, number and whitespace classes (see :func:`expand`).
    """

    patterns: tuple[str, ...]
    ignore_merges: bool = False
    """A piece that is itself a token is taken whole, without merges (llama 3)."""
    add_bos: bool = False
    """The ``add_bos`` default when the file does not say."""


_CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
_GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?[«L»]+| ?[«N»]+| ?[^«S»«L»«N»]+|[«S»]+(?![^«S»])|[«S»]+"
_LLAMA3 = (
    _CONTRACTIONS + "|[^\\r\\n«L»«N»]?[«L»]+|[«N»]{1,3}| ?[^«S»«L»«N»]+[\\r\\n]*"
    "|[«S»]*[\\r\\n]+|[«S»]+(?![^«S»])|[«S»]+"
)
_QWEN2 = (
    _CONTRACTIONS + "|[^\\r\\n«L»«N»]?[«L»]+|[«N»]| ?[^«S»«L»«N»]+[\\r\\n]*"
    "|[«S»]*[\\r\\n]+|[«S»]+(?![^«S»])|[«S»]+"
)

_SMOLLM = PreTokenizer(("[«N»]", _GPT2))
_GPT2_FAMILY = PreTokenizer((_GPT2,))
_LLAMA3_FAMILY = PreTokenizer((_LLAMA3,), ignore_merges=True, add_bos=True)
_QWEN2_FAMILY = PreTokenizer((_QWEN2,))

PRE_TOKENIZERS: Mapping[str, PreTokenizer] = {
    "smollm": _SMOLLM,
    "starcoder": _SMOLLM,
    "refact": _SMOLLM,
    "command-r": _SMOLLM,
    "codeshell": _SMOLLM,
    "exaone": _SMOLLM,
    "minerva": _SMOLLM,
    "gpt-2": _GPT2_FAMILY,
    "phi-2": _GPT2_FAMILY,
    "mpt": _GPT2_FAMILY,
    "olmo": _GPT2_FAMILY,
    "llama3": _LLAMA3_FAMILY,
    "llama-v3": _LLAMA3_FAMILY,
    "llama-bpe": _LLAMA3_FAMILY,
    "falcon3": _LLAMA3_FAMILY,
    "pixtral": _LLAMA3_FAMILY,
    "qwen2": _QWEN2_FAMILY,
    "deepseek-r1-qwen": _QWEN2_FAMILY,
}
"""The ``tokenizer.ggml.pre`` values llmkit rebuilds, and how each splits text."""


def _class_body(ranges: str) -> str:
    """``"41-5A 61"`` (hexadecimal code points) as an Oniguruma class body."""
    parts = []
    for span in ranges.split():
        first, _, last = span.partition("-")
        parts.append(f"\\x{{{first}}}" + (f"-\\x{{{last}}}" if last else ""))
    return "".join(parts)


@cache
def _classes() -> dict[str, str]:
    return {
        "«L»": _class_body(unicode_classes.LETTER),
        "«N»": _class_body(unicode_classes.NUMBER),
        "«S»": _class_body(unicode_classes.WHITESPACE),
    }


def expand(pattern: str) -> str:
    """A pattern in this module's notation as the Oniguruma expression it stands for."""
    for marker, body in _classes().items():
        pattern = pattern.replace(marker, body)
    return pattern


def build_pre_tokenizer(
    pre: PreTokenizer, missing_bytes: Iterable[str] = ()
) -> pre_tokenizers.PreTokenizer:
    """The ``tokenizers`` pre-tokenizer for ``pre``.

    ``missing_bytes`` are the byte-level characters the vocabulary lacks:
    the byte-level text is split around each of them.
    """
    steps: list[pre_tokenizers.PreTokenizer] = [
        pre_tokenizers.Split(Regex(expand(p)), behavior="isolated") for p in pre.patterns
    ]
    steps.append(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False))
    barrier = "".join(f"\\x{{{ord(char):X}}}" for char in sorted(set(missing_bytes)))
    if barrier:
        steps.append(pre_tokenizers.Split(Regex(f"[{barrier}]"), behavior="isolated"))
    return pre_tokenizers.Sequence(steps)
