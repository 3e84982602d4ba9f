"""Per-sequence sampling for the batched engine: llama.cpp's own sampler chain.

:class:`SamplerSpec` is the pure part: one request's sampling options, resolved
(defaults, seed, penalty window) into the ordered stages of a llama.cpp sampler
chain.  The order is llama-cpp-python's (``Llama._init_sampler``), so a sequence
decoded in a batch with a given seed picks exactly what the one-at-a-time path
picks from the same logits.  :class:`SamplerChain` is the thin native shell that
builds such a chain with ``llama_sampler_chain_init`` and samples with it; each
sequence owns one, so options and random state never leak between sequences.

Plain greedy decoding (temperature 0, penalties that change nothing, no grammar) is
the one case that skips the native chain: llama.cpp's ``llama_sampler_sample`` copies
all ``n_vocab`` logits into a candidate array before its greedy stage scans them
(~0.18 ms a token for SmolLM2's 49,152, ~6% of a 16-sequence step on an AMX build),
while an argmax over the logits in place picks the same token (the first of equal
maxima, as llama.cpp's greedy stage does) in ~0.01 to 0.05 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SamplerChain", "SamplerSpec", "Stage"]

Stage = tuple[str, tuple[float | int, ...]]
"""One link of a chain: llama.cpp's sampler name (``top_k``) and its arguments."""

# llama-cpp-python's ``Llama.generate`` defaults, used for any option a request leaves unset.
_FALLBACK: dict[str, float | int] = {
    "top_k": 40,
    "top_p": 0.95,
    "min_p": 0.05,
    "typical_p": 1.0,
    "temp": 0.8,
    "repeat_penalty": 1.0,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
    "mirostat_mode": 0,
    "mirostat_tau": 5.0,
    "mirostat_eta": 0.1,
}
_MIROSTAT_M = 100  # llama-cpp-python's fixed ``m`` for mirostat 1


@dataclass(frozen=True)
class SamplerSpec:
    """One sequence's sampling settings, resolved: what its sampler chain will do."""

    temp: float
    top_k: int
    top_p: float
    min_p: float
    typical_p: float
    repeat_penalty: float
    frequency_penalty: float
    presence_penalty: float
    penalty_last_n: int
    mirostat_mode: int
    mirostat_tau: float
    mirostat_eta: float
    seed: int

    @classmethod
    def from_options(
        cls, sample: dict[str, Any], *, repeat_last_n: int, n_ctx: int, seed: int
    ) -> SamplerSpec:
        """From ``SplitOptions.sample`` (llama-cpp-python's keyword names), the penalty
        window (``repeat_last_n``; -1 is the whole context of ``n_ctx``) and a seed."""
        values = {**_FALLBACK, **sample}
        return cls(
            temp=float(values["temp"]),
            top_k=int(values["top_k"]),
            top_p=float(values["top_p"]),
            min_p=float(values["min_p"]),
            typical_p=float(values["typical_p"]),
            repeat_penalty=float(values["repeat_penalty"]),
            frequency_penalty=float(values["frequency_penalty"]),
            presence_penalty=float(values["presence_penalty"]),
            penalty_last_n=n_ctx if repeat_last_n < 0 else repeat_last_n,
            mirostat_mode=int(values["mirostat_mode"]),
            mirostat_tau=float(values["mirostat_tau"]),
            mirostat_eta=float(values["mirostat_eta"]),
            seed=seed,
        )

    @property
    def argmax_only(self) -> bool:
        """True when the chain comes down to taking the most likely token: greedy, and
        penalties that change nothing (llama.cpp's penalties stage skips itself then)."""
        neutral = self.penalty_last_n == 0 or (
            self.repeat_penalty == 1.0
            and self.frequency_penalty == 0.0
            and self.presence_penalty == 0.0
        )
        return self.temp == 0.0 and neutral

    def stages(self, n_vocab: int) -> list[Stage]:
        """The chain, first link first: penalties, then greedy, mirostat, or the
        top-k / typical / top-p / min-p / temperature filters and a seeded draw."""
        chain: list[Stage] = [
            (
                "penalties",
                (
                    n_vocab,
                    self.penalty_last_n,
                    self.repeat_penalty,
                    self.frequency_penalty,
                    self.presence_penalty,
                ),
            )
        ]
        if self.temp < 0.0:
            chain.append(("dist", (self.seed,)))
        elif self.temp == 0.0:
            chain.append(("greedy", ()))
        elif self.mirostat_mode == 1:
            chain.append(
                (
                    "mirostat",
                    (n_vocab, self.seed, self.mirostat_tau, self.mirostat_eta, _MIROSTAT_M),
                )
            )
        elif self.mirostat_mode == 2:
            chain.append(("mirostat_v2", (self.seed, self.mirostat_tau, self.mirostat_eta)))
        else:
            chain += [
                ("top_k", (self.top_k,)),
                ("typical", (self.typical_p, 1)),
                ("top_p", (self.top_p, 1)),
                ("min_p", (self.min_p, 1)),
                ("temp", (self.temp,)),
                ("dist", (self.seed,)),
            ]
        return chain


class SamplerChain:
    """A native llama.cpp sampler chain for one sequence (freed by :meth:`close`), or
    an argmax over the logits where the chain would be plain greedy."""

    def __init__(self, spec: SamplerSpec, *, vocab: Any, n_vocab: int, grammar: Any) -> None:
        import llama_cpp

        self._n_vocab = n_vocab
        self._chain: Any = None
        self.argmax = spec.argmax_only and grammar is None
        """Whether :meth:`sample` takes the argmax instead of running a native chain."""
        if self.argmax:
            return
        params = llama_cpp.llama_sampler_chain_default_params()
        params.no_perf = True
        self._chain = llama_cpp.llama_sampler_chain_init(params)
        stages = spec.stages(n_vocab)
        links: list[Any] = [self._native(*stages[0])]
        if grammar is not None:  # after the penalties, as llama-cpp-python puts it
            links.append(
                llama_cpp.llama_sampler_init_grammar(
                    vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
                )
            )
        links += [self._native(name, args) for name, args in stages[1:]]
        for link in links:
            llama_cpp.llama_sampler_chain_add(self._chain, link)  # the chain owns it now

    @staticmethod
    def _native(name: str, args: tuple[float | int, ...]) -> Any:
        import llama_cpp

        return getattr(llama_cpp, f"llama_sampler_init_{name}")(*args)

    def sample(self, ctx: Any, index: int) -> int:
        """Pick (and accept) a token from the logits at batch position ``index``."""
        import llama_cpp

        if self.argmax:
            import numpy as np  # llama-cpp-python's own dependency, loaded with it

            logits = llama_cpp.llama_get_logits_ith(ctx, index)
            if not logits:
                raise RuntimeError(f"llama.cpp has no logits at batch position {index}")
            return int(np.ctypeslib.as_array(logits, shape=(self._n_vocab,)).argmax())
        return int(llama_cpp.llama_sampler_sample(self._chain, ctx, index))

    def close(self) -> None:
        if self._chain is not None:
            import llama_cpp

            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None


def grammar_is_accepted(vocab: Any, grammar: Any) -> bool:
    """Whether llama.cpp accepts ``grammar`` (a ``LlamaGrammar``) for this vocabulary.

    llama.cpp answers a grammar it refuses (a syntax error, a missing root rule, left
    recursion, more than 2,000 repetitions as a JSON schema's ``maxLength`` or ``maxItems``
    makes) with a null sampler; a null sampler in a chain crashes the process at the first
    token, so every grammar goes through here before it is used.
    """
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(
        vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
    )
    if not sampler:
        return False
    llama_cpp.llama_sampler_free(sampler)
    return True
