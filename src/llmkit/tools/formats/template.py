"""A tool-call format derived from an Ollama chat template (pure).

The opening tag is Ollama's (:attr:`llmkit.template.Template.tool_call_tag`). The rest
is learnt by rendering the template: a conversation whose assistant turn holds two
probe calls, and the same conversation with a plain answer instead. Around the first
probe call object the rendering shows

* what the template writes between the tag and the first object (xLAM's
  ``{"tool_calls": [``), which becomes part of the opener;
* the key that holds the name (``name``; command-r: ``tool_name``) and the arguments;
* whether both calls share one block, and the closing markup after the last object
  (``</tool_call>``, ``]``, ``]`` and a fence, ``]}``): the text up to where the two renderings
  agree again, or up to the next tag when each call has its own block.

The derived format is then checked by reading the probe rendering back with the reader
:func:`derive_format` is given (the parser: :func:`llmkit.tools.parser.format_for_template`
passes it in, so that this module, below the parser, never imports it); if it does not read
back the probe calls exactly, there is no derived format and the caller falls back to
Ollama's rule (the tag, then JSON: :func:`fallback_format`).
When the prompt itself ends with the tag (xLAM's ``### Response:``) the model's output
starts inside the block, so the opener is bound to the start of the output; as Ollama
looks for the tag anywhere in the output, the block also opens after the tag written
again, at the start or later (the opener's ``prompt_tag``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from llmkit.errors import LLMKitError
from llmkit.tools.formats.base import CallShape, Opener, ToolCallFormat

if TYPE_CHECKING:
    from llmkit.template import Template

__all__ = ["CallReader", "derive_format", "fallback_format", "tag_pieces"]

CallReader = Callable[[ToolCallFormat, str], list[tuple[str, Any]]]
"""``read(fmt, text)``: the ``(name, arguments)`` of every call ``fmt`` reads in ``text``."""

_PROBES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("llmkit_probe_first", {"llmkit_probe_key": "llmkit probe value one"}),
    ("llmkit_probe_second", {"llmkit_probe_key": "llmkit probe value two"}),
)
_PROBE_TEXT = "llmkit_probe_answer_zq"
_QUESTION = {"role": "user", "content": "llmkit probe question"}
_FOLLOW_UP = {"role": "user", "content": "llmkit probe follow-up"}
_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": "probe",
            "parameters": {
                "type": "object",
                "properties": {"llmkit_probe_key": {"type": "string", "description": "probe"}},
                "required": ["llmkit_probe_key"],
            },
        },
    }
    for name, _ in _PROBES
]
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')
_MAX_TRIES = 16


def tag_pieces(tag: str) -> tuple[str, ...]:
    """An Ollama tag as opener pieces: split at whitespace, with a list-opening ``[``
    made its own piece (``functools[`` -> ``functools``, ``[``)."""
    pieces = tag.split()
    if pieces and len(pieces[-1]) > 1 and pieces[-1].endswith("["):
        pieces[-1:] = [pieces[-1][:-1], "["]
    return tuple(pieces)


def fallback_format(tag: str) -> ToolCallFormat:
    """Ollama's rule alone: JSON calls after the tag (at the start when the tag is a bracket)."""
    if tag == "{":
        return ToolCallFormat("template", (Opener((), position_bound=True),))
    pieces = tag_pieces(tag) or ("{",)
    close = ("]",) if pieces[-1] == "[" else ()
    return ToolCallFormat("template", (Opener(pieces, close, position_bound=tag == "["),))


def _render(template: Template, assistant: dict[str, Any]) -> str:
    return template.render([_QUESTION, assistant, _FOLLOW_UP], tools=_TOOLS)


def _common_suffix(one: str, other: str) -> int:
    """How many characters the two texts share at their ends."""
    length = 0
    for a, b in zip(reversed(one), reversed(other), strict=False):
        if a != b:
            break
        length += 1
    return length


def _decode_at(text: str, index: int) -> tuple[Any, int] | None:
    try:
        return json.JSONDecoder(strict=False).raw_decode(text, index)
    except ValueError:
        return None


def _first_call(text: str) -> tuple[int, dict[str, Any], int] | None:
    """Start, value and end of the object holding the first probe call's name and
    arguments (the name also appears where the template lists the tools)."""
    name, arguments = _PROBES[0]
    quoted = json.dumps(name)
    found = text.find(quoted)
    while found >= 0:
        at = found
        for _ in range(_MAX_TRIES):
            at = text.rfind("{", 0, at)
            if at < 0:
                break
            decoded = _decode_at(text, at)
            if decoded and isinstance(decoded[0], dict) and name in decoded[0].values():
                if arguments in decoded[0].values():
                    return at, decoded[0], decoded[1]
                break
        found = text.find(quoted, found + len(quoted))
    return None


def _following_calls(text: str, pos: int) -> tuple[int, int]:
    """After the first call object: how many more objects follow in the same block, and
    where the last one ends."""
    count, end = 0, pos
    while True:
        i = end
        while i < len(text) and text[i] in " \t\r\n,;":
            i += 1
        decoded = _decode_at(text, i) if text.startswith("{", i) else None
        if not decoded or not isinstance(decoded[0], dict):
            return count, end
        count, end = count + 1, decoded[1]


def derive_format(template: Template, read: CallReader) -> ToolCallFormat | None:
    """The format ``template`` renders its tool calls in, learnt from its rendering of probe
    calls, or ``None`` when it cannot be learnt or ``read`` (the parser, run with the
    derived format) does not read the probe calls back exactly."""
    tag = template.tool_call_tag
    calls = [{"function": {"name": name, "arguments": args}} for name, args in _PROBES]
    try:
        with_calls = _render(template, {"role": "assistant", "tool_calls": calls})
        with_text = _render(template, {"role": "assistant", "content": _PROBE_TEXT})
        prompt = template.render([_QUESTION], tools=_TOOLS)
    except LLMKitError:
        return None
    found = _first_call(with_calls)
    if found is None:
        return None
    start, first, end = found
    name_key = next(key for key, value in first.items() if value == _PROBES[0][0])
    args_key = next((key for key, value in first.items() if value == _PROBES[0][1]), None)
    if args_key is None:
        return None
    more, calls_end = _following_calls(with_calls, end)
    turn_end = max(calls_end, len(with_calls) - _common_suffix(with_calls, with_text))

    prompt_tag: tuple[str, ...] = ()
    tagged_region = 0  # where the block starts with its tag written again (prompt_tag)
    if tag in ("{", "["):
        bound = True
        region = start if tag == "{" else with_calls.rfind("[", 0, start)
        tag_end = region + len(tag) if tag == "[" else region
        pieces: tuple[str, ...] = (tag,) if tag == "[" else ()
    else:
        region = with_calls.rfind(tag, 0, start)
        if region < 0:
            return None
        tag_end = region + len(tag)
        bound = prompt.rstrip().endswith(tag.rstrip())
        pieces = () if bound else tag_pieces(tag)
        if bound:
            # The output starts inside the block; a model that writes the tag again
            # anyway is read as Ollama reads it (the tag anywhere, then the block).
            prompt_tag = tag_pieces(tag)
            tagged_region, region = region, tag_end
    pieces += tuple(_TOKENS.findall(with_calls[tag_end:start]))
    stop = turn_end
    if not more:
        next_block = with_calls.find(tag, calls_end) if tag not in ("{", "[") else -1
        stop = next_block if next_block >= 0 else turn_end
    close = tuple(_TOKENS.findall(with_calls[calls_end:stop]))
    args_keys: tuple[str, ...] = ("arguments", "parameters")
    if args_key not in args_keys:
        args_keys = (args_key, *args_keys)
    shape = CallShape(name_keys=(name_key,), args_keys=args_keys)
    opener = Opener(pieces, close, position_bound=bound, shape=shape, prompt_tag=prompt_tag)
    derived = ToolCallFormat("template", (opener,))
    if not _reads_back(read, derived, with_calls[region:turn_end]):
        return None
    if prompt_tag and not _reads_back(read, derived, with_calls[tagged_region:turn_end]):
        # The tag written again does not read back: only the start of the output counts.
        derived = ToolCallFormat("template", (replace(opener, prompt_tag=()),))
    return derived


def _reads_back(read: CallReader, fmt: ToolCallFormat, rendered: str) -> bool:
    """Whether ``fmt`` reads exactly the probe calls back from their rendering."""
    return read(fmt, rendered) == [(name, args) for name, args in _PROBES]
