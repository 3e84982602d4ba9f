"""The tool-call formats llmkit reads, by name, and the block reader for each payload (pure).

One module per family: :mod:`.json_tagged` (JSON objects after a tag, and Llama 3.x
JSON), :mod:`.pythonic`, :mod:`.mistral`, and :mod:`.template` (a format derived from
an Ollama template).
"""

from __future__ import annotations

from typing import Protocol

from llmkit.tools.formats.base import BlockHost, Opener, Stream, ToolCallFormat
from llmkit.tools.formats.json_tagged import (
    COMMAND_R,
    FIREFUNCTION,
    GRANITE,
    HERMES,
    LLAMA3_JSON,
    NEMOTRON,
    PHI4,
    JsonBlock,
)
from llmkit.tools.formats.mistral import MISTRAL, MistralBlock
from llmkit.tools.formats.pythonic import PYTHONIC, PythonicBlock

__all__ = ["FORMATS", "Block", "make_block"]

FORMATS: dict[str, ToolCallFormat] = {
    fmt.name: fmt
    for fmt in (
        HERMES,
        LLAMA3_JSON,
        PYTHONIC,
        MISTRAL,
        NEMOTRON,
        FIREFUNCTION,
        COMMAND_R,
        GRANITE,
        PHI4,
    )
}
"""Every named format, by the name :meth:`ToolCallParser.for_format` takes."""

FORMATS["qwen"] = HERMES


class Block(Protocol):
    """Reads one block of calls; see :class:`~llmkit.tools.formats.base.BlockBase`."""

    done: bool

    def feed(self, text: str, pos: int) -> int: ...

    def finish(self, text: str, pos: int) -> None: ...

    def stream(self) -> Stream | None: ...

    def resume(self, text: str, pos: int, new: int) -> int: ...


def make_block(host: BlockHost, opener: Opener, tag_raw: str) -> Block:
    """The reader for a block that ``opener`` (matched as ``tag_raw``) has just opened."""
    if opener.payload == "python":
        return PythonicBlock(host, opener, tag_raw)
    if opener.payload == "mistral":
        return MistralBlock(host, opener, tag_raw)
    return JsonBlock(host, opener, tag_raw)
