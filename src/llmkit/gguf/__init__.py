"""llmkit's one GGUF reader: the header, every metadata key and value, and the tensor table.

GGUF (llama.cpp's model format) starts with a header (``GGUF``, a version, the
tensor count, the metadata count), then the metadata as key/value pairs, then
the tensor table (each tensor's name, dimensions, ggml type and data offset),
then the tensor data.  :func:`parse_gguf_metadata` reads the header and the
metadata from bytes, and the tensor table too when asked; it never reads tensor
data.  It is pure (no I/O); :func:`read_gguf_metadata` is the thin shell that
reads a growing prefix of a file until what was asked for fits in it, so a
model of many gigabytes costs a read of a few megabytes.

Every value type is read: the integers, ``float32``/``float64``, ``bool``,
strings and arrays (of any type, arrays of arrays included).  Versions 1 (whose
counts and lengths are 32-bit; the files of August to October 2023), 2 and 3
are read, little- and big-endian.  A corrupt or truncated file raises
:class:`~llmkit.errors.GGUFError`, which names the byte offset and the key (or
tensor) being read.

One reader, three uses:

- everything (the tokenizer needs the vocabulary and the merges);
- ``read_arrays=False`` (``llmkit serve``'s ``/api/tags`` and ``/api/show``): array
  contents are stepped over, keeping each array's element type and length; for
  arrays of strings that is a walk over their lengths, with nothing decoded.
  ``read_arrays={"tokenizer.ggml.tokens"}`` reads only the arrays named;
- ``tensors=True`` (the ctransformers plug-in's pre-flight check): the tensor
  table and the offset where the tensor data starts.

``string_errors`` says what becomes of bytes that are not UTF-8: an error
naming them (``"strict"``, the default), U+FFFD (``"replace"``), or lone
surrogates that ``text.encode("utf-8", "surrogateescape")`` turns back into the
very bytes (``"surrogateescape"``: BPE vocabularies of 2023 stored tokens as raw bytes).

Written by hand rather than with the ``gguf`` package (llama.cpp's own): its
``GGUFReader`` maps the whole file and builds numpy views of every array and
tensor (4.3 s on SmolLM2-135M, where reading the metadata here takes tens of
milliseconds), and it refuses GGUF version 1 and tensor type ids it does not
know, which the ctransformers check must explain rather than trip over.
"""

from __future__ import annotations

from llmkit.gguf.metadata import (
    GGML_TYPE_NAMES,
    GGUF_MAGIC,
    SUPPORTED_VERSIONS,
    GGUFMetadata,
    GGUFTensor,
    GGUFValue,
    GGUFValueType,
    StringErrors,
)
from llmkit.gguf.reader import parse_gguf_metadata, read_gguf_metadata

__all__ = [
    "GGML_TYPE_NAMES",
    "GGUF_MAGIC",
    "SUPPORTED_VERSIONS",
    "GGUFMetadata",
    "GGUFTensor",
    "GGUFValue",
    "GGUFValueType",
    "StringErrors",
    "parse_gguf_metadata",
    "read_gguf_metadata",
]
