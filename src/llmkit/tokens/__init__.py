"""Tokens on the client side: GGUF metadata, tokenizers, and the context-window policy.

- :class:`Tokenizer`: a GGUF file's own tokenizer (its ids equal llama.cpp's),
  or a ``tokenizer.json``; ``encode``, ``decode``, ``count``.
- :func:`fit_messages`: which messages fit ``num_ctx`` (Ollama's rule:
  system messages and the last message stay, the oldest others go), with a
  :class:`ContextFit` that says what was dropped.
- :func:`read_gguf_metadata`: a GGUF file's header and metadata (llmkit's one GGUF
  reader, :mod:`llmkit.gguf`, re-exported here).

Importing it imports the ``tokenizers`` library; nothing is read or built until a
tokenizer is asked for.
"""

from llmkit.gguf import GGUFMetadata, GGUFValueType, parse_gguf_metadata, read_gguf_metadata
from llmkit.tokens.context import (
    ContextFit,
    ContextTruncatedWarning,
    MessageCounter,
    fit_messages,
    prompt_counter,
)
from llmkit.tokens.pretokenize import PRE_TOKENIZERS
from llmkit.tokens.tokenizer import Tokenizer

__all__ = [
    "PRE_TOKENIZERS",
    "ContextFit",
    "ContextTruncatedWarning",
    "GGUFMetadata",
    "GGUFValueType",
    "MessageCounter",
    "Tokenizer",
    "fit_messages",
    "parse_gguf_metadata",
    "prompt_counter",
    "read_gguf_metadata",
]
