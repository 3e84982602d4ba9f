"""How each Ollama option reaches ctransformers: honoured, mapped, or rejected.

ctransformers 0.2.27 has four load parameters (``context_length``,
``gpu_layers``, ``mmap``, ``mlock``), two evaluation parameters
(``batch_size``, ``threads``) and one sampler: repetition penalty, then top-k,
top-p and temperature.  Every other Ollama option is accepted only at the
value that means "off" and rejected otherwise, with
:class:`~llmkit.errors.UnsupportedOptionError` naming it.  The table drives
the backend (``split_options``) and the documentation (``options_table()``
generates the ctransformers table in ``docs/options.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from llmkit.errors import UnsupportedOptionError
from llmkit.types.options import OLLAMA_OPTION_NAMES, Options

__all__ = [
    "ALL_LAYERS",
    "BACKEND",
    "DEFAULTS",
    "MAX_BATCH",
    "RULES",
    "OptionRule",
    "SplitOptions",
    "option_stage",
    "options_table",
    "split_options",
]

BACKEND = "ctransformers"
#: llama.cpp's compute buffers in ctransformers are sized for batches of 512 tokens.
MAX_BATCH = 512
#: ``num_gpu=-1``: more layers than any model has, so all are offloaded.
ALL_LAYERS = 1_000_000

Stage = Literal["load", "eval", "sample", "request", "none"]


@dataclass(frozen=True)
class OptionRule:
    """One option's fate in this backend."""

    option: str
    stage: Stage
    target: str
    """ctransformers' name for it, as shown in the docs."""
    note: str = ""
    accepts: Callable[[Any], bool] | None = None
    """For partly supported options: which values are honoured."""

    @property
    def status(self) -> str:
        if self.stage == "none":
            return "rejected"
        return "honoured (some values)" if self.accepts else "mapped"


def _off(value: Any) -> Callable[[Any], bool]:
    return lambda v: v == value


RULES: tuple[OptionRule, ...] = (
    OptionRule("num_keep", "none", "-", "ctransformers never shifts the context"),
    OptionRule(
        "seed",
        "sample",
        "seed",
        "seeds a generator that draws each token's seed; -1 or unset: random per request",
    ),
    OptionRule(
        "num_predict",
        "request",
        "token limit",
        "0: nothing; -1 and -2: until end of text or a full context (no context shift)",
    ),
    OptionRule("top_k", "sample", "top_k", "0: the whole vocabulary"),
    OptionRule("top_p", "sample", "top_p"),
    OptionRule("min_p", "sample", "-", "no min-p sampler; only 0.0 (off)", _off(0.0)),
    OptionRule("tfs_z", "sample", "-", "no tail-free sampler; only 1.0 (off)", _off(1.0)),
    OptionRule("typical_p", "sample", "-", "no typical sampler; only 1.0 (off)", _off(1.0)),
    OptionRule("repeat_last_n", "sample", "last_n_tokens", "-1: the whole context; 0: off"),
    OptionRule("temperature", "sample", "temperature", "0: greedy (top_k 1)"),
    OptionRule("repeat_penalty", "sample", "repetition_penalty"),
    OptionRule("presence_penalty", "sample", "-", "no presence penalty; only 0.0 (off)", _off(0.0)),
    OptionRule(
        "frequency_penalty", "sample", "-", "no frequency penalty; only 0.0 (off)", _off(0.0)
    ),
    OptionRule("mirostat", "sample", "-", "no Mirostat sampler; only 0 (off)", _off(0)),
    OptionRule("mirostat_tau", "sample", "-", "no Mirostat; only Ollama's default 5.0", _off(5.0)),
    OptionRule("mirostat_eta", "sample", "-", "no Mirostat; only Ollama's default 0.1", _off(0.1)),
    OptionRule(
        "penalize_newline", "sample", "-", "newlines are never penalised; only false", _off(False)
    ),
    OptionRule("stop", "request", "stop sequences", "cut before the stop; it is not in the output"),
    OptionRule("numa", "load", "-", "no NUMA setting; only false", _off(False)),
    OptionRule("num_ctx", "load", "context_length"),
    OptionRule(
        "num_batch",
        "eval",
        "batch_size",
        f"at most {MAX_BATCH}",
        lambda v: 1 <= v <= MAX_BATCH,
    ),
    OptionRule("num_gqa", "none", "-", "read from the model file; not settable"),
    OptionRule(
        "num_gpu",
        "load",
        "gpu_layers",
        "-1: all layers; needs the CUDA build (pip install 'llmkit-ctransformers[cuda]'); "
        "untested on a GPU",
    ),
    OptionRule("main_gpu", "load", "-", "ctransformers always uses the first GPU; only 0", _off(0)),
    OptionRule("low_vram", "load", "-", "not settable; only false", _off(False)),
    OptionRule("f16_kv", "none", "-", "the KV cache type is fixed per model type"),
    OptionRule("logits_all", "none", "-", "not settable"),
    OptionRule("vocab_only", "none", "-", "not settable"),
    OptionRule("use_mmap", "load", "mmap"),
    OptionRule("use_mlock", "load", "mlock"),
    OptionRule("embedding_only", "none", "-", "not settable; embed() works on any GGUF model"),
    OptionRule("rope_frequency_base", "none", "-", "read from the model file; not settable"),
    OptionRule("rope_frequency_scale", "none", "-", "read from the model file; not settable"),
    OptionRule("num_thread", "eval", "threads", "0: let ctransformers choose"),
)

_BY_NAME = {rule.option: rule for rule in RULES}
assert tuple(_BY_NAME) == OLLAMA_OPTION_NAMES, "every Ollama option needs a rule"

#: Ollama's defaults, used where a request leaves an option unset.
DEFAULTS: dict[str, Any] = {
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.9,
    "repeat_penalty": 1.1,
    "repeat_last_n": 64,
    "num_ctx": 4096,
    "num_batch": 512,
    "num_predict": -1,
}


@dataclass
class SplitOptions:
    """Options sorted by when ctransformers needs them."""

    load: dict[str, Any] = field(default_factory=dict)
    """``ctransformers.llm.Config`` fields fixed when the model loads."""
    eval: dict[str, Any] = field(default_factory=dict)
    """``batch_size`` and ``threads``."""
    sample: dict[str, Any] = field(default_factory=dict)
    """``top_k``, ``top_p``, ``temperature``, ``repetition_penalty``, ``last_n_tokens``."""
    seed: int | None = None
    num_predict: int = -1
    stop: list[str] = field(default_factory=list)
    explicit: frozenset[str] = frozenset()
    """The options the caller set (the rest are Ollama's defaults)."""


def option_stage(option: str) -> Stage:
    """When ctransformers needs an option: ``load``, ``eval``, ``sample``, ``request``, ``none``."""
    return _BY_NAME[option].stage


def split_options(options: Options | None, *, with_defaults: bool = True) -> SplitOptions:
    """Sort the set options into load, evaluation, sampling and request parameters."""
    given = {**(DEFAULTS if with_defaults else {}), **(options.given() if options else {})}
    split = SplitOptions(explicit=frozenset(options.given() if options else ()))
    for name, value in given.items():
        rule = _BY_NAME[name]
        if rule.stage == "none" or (rule.accepts is not None and not rule.accepts(value)):
            raise UnsupportedOptionError(name, BACKEND, f"{rule.note} (got {value!r})")
        if rule.accepts is not None and rule.target == "-":
            continue  # the "off" value of something ctransformers does not have
        if name == "seed":
            split.seed = None if value < 0 else value
        elif name == "num_predict":
            split.num_predict = value
        elif name == "stop":
            split.stop = list(value)
        elif name == "num_gpu":
            split.load["gpu_layers"] = ALL_LAYERS if value < 0 else value
        elif name == "num_thread":
            split.eval["threads"] = value if value > 0 else -1
        else:
            target = {"load": split.load, "eval": split.eval, "sample": split.sample}[rule.stage]
            target[rule.target] = value
    if options is not None and options.extra:
        key = next(iter(options.extra))
        raise UnsupportedOptionError(
            f"extra.{key}", BACKEND, "ctransformers takes no options beyond Ollama's"
        )
    return split


def options_table() -> str:
    """The Markdown table of this backend's options (what ``docs/options.md`` shows)."""
    lines = [
        "| option | ctransformers | status | notes |",
        "| --- | --- | --- | --- |",
    ]
    for rule in RULES:
        default = DEFAULTS.get(rule.option)
        note = rule.note + (f" (default {default})" if default is not None else "")
        lines.append(f"| `{rule.option}` | {rule.target} | {rule.status} | {note.strip()} |")
    return "\n".join(lines) + "\n"
