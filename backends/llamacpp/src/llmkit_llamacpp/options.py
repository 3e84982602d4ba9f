"""How each Ollama option reaches llama.cpp: honoured, mapped, or rejected.

This table drives the backend (``split_options``) and the documentation
(``docs/options.md`` is generated from it and checked by a test), so the two
cannot disagree.  Nothing is dropped: an option that is set and cannot be
honoured raises :class:`~llmkit.errors.UnsupportedOptionError`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from llmkit.errors import UnsupportedOptionError
from llmkit.types.options import OLLAMA_OPTION_NAMES, Options

__all__ = [
    "BACKEND",
    "DEFAULTS",
    "RULES",
    "OptionRule",
    "SplitOptions",
    "option_stage",
    "options_table",
    "split_options",
]

BACKEND = "llamacpp"
GGML_TYPE_F32 = 0
GGML_TYPE_F16 = 1

Stage = Literal["load", "sample", "request", "none"]


@dataclass(frozen=True)
class OptionRule:
    """One option's fate in this backend."""

    option: str
    stage: Stage
    target: str
    """llama.cpp's (or llama-cpp-python's) name for it, as shown in the docs."""
    note: str = ""
    accepts: Callable[[Any], bool] | None = None
    """For partly supported options: which values are honoured."""
    convert: Callable[[Any], dict[str, Any]] | None = None
    """Turns the value into llama-cpp-python keyword arguments (default: ``{target: value}``)."""

    @property
    def status(self) -> str:
        if self.stage == "none":
            return "rejected"
        return "honoured (some values)" if self.accepts else "mapped"


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _threads_accepted(n: int) -> bool:
    # More threads than CPUs only slow llama.cpp down (each waits for the others at every
    # layer), and thousands of them can exhaust a thread or memory limit.
    return n <= usable_cpus()


def _threads(n: int) -> dict[str, Any]:
    value = n if n > 0 else None
    return {"n_threads": value, "n_threads_batch": value}


def _f16_kv(on: bool) -> dict[str, Any]:
    kind = GGML_TYPE_F16 if on else GGML_TYPE_F32
    return {"type_k": kind, "type_v": kind}


RULES: tuple[OptionRule, ...] = (
    OptionRule(
        "num_keep",
        "none",
        "-",
        "llama-cpp-python never shifts the context, so there is nothing to keep",
    ),
    OptionRule("seed", "sample", "llama_set_seed", "-1 or unset: a random seed per request"),
    OptionRule(
        "num_predict",
        "request",
        "token limit",
        "0: nothing; -1 and -2: until end of sequence or a full context (no context shift)",
    ),
    OptionRule("top_k", "sample", "top_k"),
    OptionRule("top_p", "sample", "top_p"),
    OptionRule("min_p", "sample", "min_p"),
    OptionRule(
        "tfs_z",
        "sample",
        "-",
        "llama.cpp removed tail-free sampling; only 1.0 (off) is accepted",
        accepts=lambda v: v == 1.0,
        convert=lambda v: {},
    ),
    OptionRule("typical_p", "sample", "typical_p"),
    OptionRule("repeat_last_n", "sample", "penalty_last_n", "-1: the whole context"),
    OptionRule("temperature", "sample", "temp", "0: greedy"),
    OptionRule("repeat_penalty", "sample", "repeat_penalty"),
    OptionRule("presence_penalty", "sample", "presence_penalty"),
    OptionRule("frequency_penalty", "sample", "frequency_penalty"),
    OptionRule("mirostat", "sample", "mirostat_mode"),
    OptionRule("mirostat_tau", "sample", "mirostat_tau"),
    OptionRule("mirostat_eta", "sample", "mirostat_eta"),
    OptionRule(
        "penalize_newline",
        "sample",
        "-",
        "llama.cpp no longer penalises newlines; only false is accepted",
        accepts=lambda v: v is False,
        convert=lambda v: {},
    ),
    OptionRule("stop", "request", "stop sequences", "cut before the stop; it is not in the output"),
    OptionRule("numa", "load", "numa"),
    OptionRule("num_ctx", "load", "n_ctx", "at most the model's training context"),
    OptionRule("num_batch", "load", "n_batch", "at most num_ctx (a larger one is cut to it)"),
    OptionRule("num_gqa", "none", "-", "read from the GGUF file; no longer settable"),
    OptionRule(
        "num_gpu", "load", "n_gpu_layers", "-1: all layers; needs a CUDA/Metal build of llama.cpp"
    ),
    OptionRule("main_gpu", "load", "main_gpu"),
    OptionRule("low_vram", "none", "-", "removed from llama.cpp"),
    OptionRule(
        "f16_kv",
        "load",
        "type_k, type_v",
        "true: F16 KV cache (the default), false: F32",
        convert=_f16_kv,
    ),
    OptionRule("logits_all", "load", "logits_all"),
    OptionRule("vocab_only", "load", "vocab_only", "the model can then tokenize but not generate"),
    OptionRule("use_mmap", "load", "use_mmap"),
    OptionRule("use_mlock", "load", "use_mlock"),
    OptionRule("embedding_only", "load", "embedding"),
    OptionRule("rope_frequency_base", "load", "rope_freq_base"),
    OptionRule("rope_frequency_scale", "load", "rope_freq_scale"),
    OptionRule(
        "num_thread",
        "load",
        "n_threads, n_threads_batch",
        "0: let llama.cpp choose; at most the CPUs this process may use",
        accepts=_threads_accepted,
        convert=_threads,
    ),
)

_BY_NAME = {rule.option: rule for rule in RULES}
assert tuple(_BY_NAME) == OLLAMA_OPTION_NAMES, "every Ollama option needs a rule"

#: Ollama's defaults, used where a request leaves an option unset.
DEFAULTS: dict[str, Any] = {
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_penalty": 1.1,
    "repeat_last_n": 64,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "mirostat": 0,
    "mirostat_tau": 5.0,
    "mirostat_eta": 0.1,
    "num_ctx": 4096,
    "num_batch": 512,
    "num_predict": -1,
}


def _load_keywords() -> frozenset[str]:
    from llama_cpp import Llama

    names = set(inspect.signature(Llama.__init__).parameters) - {"self", "model_path", "kwargs"}
    return frozenset(names)


@dataclass
class SplitOptions:
    """Options sorted by when llama.cpp needs them."""

    load: dict[str, Any] = field(default_factory=dict)
    sample: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    num_predict: int = -1
    repeat_last_n: int = 64
    stop: list[str] = field(default_factory=list)
    cache_prompt: bool | None = None
    """``extra={"cache_prompt": False}``: read the whole prompt (None: the backend's choice)."""


def option_stage(option: str) -> Stage:
    """When llama.cpp needs an option: ``load``, ``sample``, ``request`` or ``none``."""
    return _BY_NAME[option].stage


def split_options(options: Options | None, *, with_defaults: bool = True) -> SplitOptions:
    """Sort the set options into load, sampling and request parameters, or reject one."""
    given = {**(DEFAULTS if with_defaults else {}), **(options.given() if options else {})}
    split = SplitOptions()
    for name, value in given.items():
        rule = _BY_NAME[name]
        if rule.stage == "none" or (rule.accepts is not None and not rule.accepts(value)):
            raise UnsupportedOptionError(name, BACKEND, f"{rule.note} (got {value!r})")
        if name == "seed":
            split.seed = None if value < 0 else value
        elif name == "num_predict":
            split.num_predict = value
        elif name == "stop":
            split.stop = list(value)
        elif name == "repeat_last_n":
            split.repeat_last_n = value
        else:
            target = split.load if rule.stage == "load" else split.sample
            target.update(rule.convert(value) if rule.convert else {rule.target: value})
    if "n_batch" in split.load:
        # As Ollama does: a batch never exceeds the context (llama.cpp would allocate it).
        context = split.load.get("n_ctx", DEFAULTS["num_ctx"])
        split.load["n_batch"] = min(split.load["n_batch"], context)
    if options is not None and options.extra:
        allowed = _load_keywords()
        for key, value in options.extra.items():
            if key == "cache_prompt":
                if not isinstance(value, bool):
                    raise UnsupportedOptionError(
                        "extra.cache_prompt", BACKEND, f"true or false (got {value!r})"
                    )
                split.cache_prompt = value
                continue
            if key not in allowed:
                raise UnsupportedOptionError(
                    f"extra.{key}", BACKEND, "not a llama_cpp.Llama() parameter"
                )
            split.load[key] = value
    return split


def options_table() -> str:
    """The Markdown table of this backend's options (what ``docs/options.md`` shows)."""
    lines = [
        "| option | llama.cpp | status | notes |",
        "| --- | --- | --- | --- |",
    ]
    for rule in RULES:
        default = DEFAULTS.get(rule.option)
        note = rule.note + (f" (default {default})" if default is not None else "")
        lines.append(f"| `{rule.option}` | {rule.target} | {rule.status} | {note.strip()} |")
    return "\n".join(lines) + "\n"
