"""What each kind of OpenAI-compatible server accepts (pure data and one check).

Servers share OpenAI's standard fields and differ in their extra sampling
fields.  A *dialect* names a server family; each llmkit option is either
mapped to a body field of that dialect or rejected before sending (never
dropped).  ``OPTION_FIELDS`` is the whole table, rendered into the docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from llmkit.errors import InvalidRequestError, UnsupportedOptionError
from llmkit.types.options import OLLAMA_OPTION_NAMES, Options

__all__ = [
    "DIALECTS",
    "OPTION_FIELDS",
    "Dialect",
    "DialectName",
    "dialect",
    "map_options",
    "options_table",
]

DialectName = Literal["generic", "openai", "llama.cpp", "llama-cpp-python", "vllm"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """One server family: its option fields and how it takes structured output and thinking."""

    name: DialectName
    description: str
    #: ``json_schema`` (OpenAI's ``{"type": "json_schema", ...}``) or ``json_object_schema``
    #: (llama-cpp-python's ``{"type": "json_object", "schema": ...}``).
    schema_format: Literal["json_schema", "json_object_schema"] = "json_schema"
    #: The body field for ``num_predict`` in chat requests.
    max_tokens_field: str = "max_tokens"
    #: ``think=True/False`` goes in ``chat_template_kwargs.enable_thinking``.
    thinking_switch: bool = False
    #: ``think="low"|"medium"|"high"`` goes in ``reasoning_effort``.
    reasoning_effort: bool = False
    #: Assistant reasoning in the history goes back as ``reasoning_content``.
    reasoning_content: bool = False
    #: A cut-off chat can be continued from an assistant prefill.
    prefill: Literal["none", "implicit", "continue_final_message"] = "none"


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect(
            "generic",
            "any OpenAI-compatible server: the standard fields only",
            reasoning_effort=True,
        ),
        Dialect(
            "openai",
            "api.openai.com",
            max_tokens_field="max_completion_tokens",
            reasoning_effort=True,
        ),
        Dialect(
            "llama.cpp",
            "llama.cpp's own server (llama-server)",
            thinking_switch=True,
            reasoning_content=True,
            prefill="implicit",
        ),
        Dialect(
            "llama-cpp-python",
            "llama-cpp-python's server (python -m llama_cpp.server)",
            schema_format="json_object_schema",
        ),
        Dialect(
            "vllm",
            "vLLM's OpenAI-compatible server",
            thinking_switch=True,
            reasoning_content=True,
            prefill="continue_final_message",
        ),
    )
}

_STANDARD = {
    "temperature": "temperature",
    "top_p": "top_p",
    "num_predict": "max_tokens",
    "stop": "stop",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}

#: llmkit option -> body field, per dialect (``max_tokens`` is renamed per request kind).
OPTION_FIELDS: dict[str, dict[str, str]] = {
    "generic": dict(_STANDARD),
    "openai": dict(_STANDARD),
    "llama.cpp": {
        **_STANDARD,
        "top_k": "top_k",
        "min_p": "min_p",
        "typical_p": "typical_p",
        "repeat_penalty": "repeat_penalty",
        "repeat_last_n": "repeat_last_n",
        "mirostat": "mirostat",
        "mirostat_tau": "mirostat_tau",
        "mirostat_eta": "mirostat_eta",
        "num_keep": "n_keep",
    },
    "llama-cpp-python": {
        **_STANDARD,
        "top_k": "top_k",
        "min_p": "min_p",
        "repeat_penalty": "repeat_penalty",
        "mirostat": "mirostat_mode",
        "mirostat_tau": "mirostat_tau",
        "mirostat_eta": "mirostat_eta",
    },
    "vllm": {
        **_STANDARD,
        "top_k": "top_k",
        "min_p": "min_p",
        "repeat_penalty": "repetition_penalty",
    },
}

_LOAD_TIME = frozenset(
    {
        "num_ctx",
        "num_batch",
        "num_gqa",
        "num_gpu",
        "main_gpu",
        "low_vram",
        "f16_kv",
        "logits_all",
        "vocab_only",
        "use_mmap",
        "use_mlock",
        "embedding_only",
        "rope_frequency_base",
        "rope_frequency_scale",
        "num_thread",
        "numa",
    }
)


def dialect(name: str) -> Dialect:
    """The dialect called ``name``; an unknown name is an error listing the known ones."""
    try:
        return DIALECTS[name]
    except KeyError:
        known = ", ".join(DIALECTS)
        raise InvalidRequestError(
            f"dialect: unknown OpenAI-compatible dialect {name!r} (known: {known})",
            fields=["dialect"],
        ) from None


def map_options(options: Options | None, dialect_name: str, *, chat: bool) -> dict[str, Any]:
    """The body fields for ``options`` on a server of ``dialect_name``.

    An option the dialect has no field for raises
    :class:`~llmkit.errors.UnsupportedOptionError` naming it; ``extra``
    options are passed through as body fields, as given.
    """
    d = dialect(dialect_name)
    if options is None:
        return {}
    table = OPTION_FIELDS[d.name]
    body: dict[str, Any] = {}
    for name, value in options.given().items():
        field = table.get(name)
        if field is None:
            raise UnsupportedOptionError(name, f"openai ({d.name} dialect)", _why(name, d.name))
        if field == "max_tokens" and chat:
            field = d.max_tokens_field
        body[field] = value
    if options.extra:
        body.update(options.extra)
    return body


def _why(name: str, dialect_name: str) -> str:
    if name in _LOAD_TIME:
        return "it is fixed when the server loads the model; set it in the server's configuration"
    others = [d for d, fields in OPTION_FIELDS.items() if name in fields]
    if others:
        return (
            f"servers of the {', '.join(others)} dialect take it: pass dialect=... "
            "if the server is one of them, or send it in options.extra"
        )
    return "no OpenAI-compatible server takes it; send a server-specific field in options.extra"


def options_table() -> str:
    """A Markdown table: each Ollama option and its field in every dialect (for the docs)."""
    names = list(OPTION_FIELDS)
    lines = [
        "| option | " + " | ".join(f"`{n}`" for n in names) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for option in OLLAMA_OPTION_NAMES:
        cells = []
        for name in names:
            field = OPTION_FIELDS[name].get(option)
            if field == "max_tokens":
                field = DIALECTS[name].max_tokens_field
            cells.append(f"`{field}`" if field else "rejected")
        lines.append(f"| `{option}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
