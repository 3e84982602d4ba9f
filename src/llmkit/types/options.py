"""Ollama's generation and runtime options, typed and range-checked.

Ollama accepts every key below in the ``options`` object of ``/api/generate``,
``/api/chat`` and ``/api/embed`` and silently ignores keys it does not know.
llmkit does not: an unknown key or an out-of-range value is a validation error
that names the field.  Backend-specific keys that Ollama does not define go in
``extra`` on purpose (the escape hatch), and each backend either honours or
rejects them, never drops them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

NonNegInt = Annotated[int, Field(ge=0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegFloat = Annotated[float, Field(ge=0.0)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]


class Options(BaseModel):
    """Every option Ollama accepts (``api.Options`` and ``api.Runner``).

    ``None`` (the default for every field) means "the backend's default".
    The docs' option table says which backend honours, maps or rejects each one.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # -- prediction / sampling ---------------------------------------------
    num_keep: Annotated[int, Field(ge=-1)] | None = None
    """Tokens of the prompt kept when the context shifts (-1: all)."""
    seed: int | None = None
    """Random seed; the same seed and options give the same output (-1: random)."""
    num_predict: Annotated[int, Field(ge=-2)] | None = None
    """Most tokens to generate (-1: no limit, -2: fill the context)."""
    top_k: NonNegInt | None = None
    top_p: Probability | None = None
    min_p: Probability | None = None
    tfs_z: NonNegFloat | None = None
    """Tail-free sampling (1.0 disables it; removed from current llama.cpp)."""
    typical_p: Probability | None = None
    repeat_last_n: Annotated[int, Field(ge=-1)] | None = None
    """How far back the repeat penalty looks (0: off, -1: num_ctx)."""
    temperature: NonNegFloat | None = None
    repeat_penalty: NonNegFloat | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    mirostat: Annotated[int, Field(ge=0, le=2)] | None = None
    """0: off, 1: Mirostat, 2: Mirostat 2.0."""
    mirostat_tau: NonNegFloat | None = None
    mirostat_eta: NonNegFloat | None = None
    penalize_newline: StrictBool | None = None
    stop: list[str] | None = None
    """Stop sequences: generation ends before the first one; it is not in the output."""

    # -- runner / load time ---------------------------------------------------
    numa: StrictBool | None = None
    num_ctx: Annotated[int, Field(ge=1)] | None = None
    num_batch: Annotated[int, Field(ge=1)] | None = None
    num_gqa: Annotated[int, Field(ge=1)] | None = None
    num_gpu: Annotated[int, Field(ge=-1)] | None = None
    """Layers to offload to the GPU (-1: all of them, 0: none)."""
    main_gpu: NonNegInt | None = None
    low_vram: StrictBool | None = None
    f16_kv: StrictBool | None = None
    logits_all: StrictBool | None = None
    vocab_only: StrictBool | None = None
    use_mmap: StrictBool | None = None
    use_mlock: StrictBool | None = None
    embedding_only: StrictBool | None = None
    rope_frequency_base: Annotated[float, Field(gt=0.0)] | None = None
    rope_frequency_scale: Annotated[float, Field(gt=0.0)] | None = None
    num_thread: NonNegInt | None = None
    """CPU threads (0: let the backend decide)."""

    # -- the escape hatch -----------------------------------------------------
    extra: dict[str, Any] | None = None
    """Backend-specific keys, passed on purpose (e.g. ``{"n_ubatch": 256}``)."""

    @field_validator("stop", mode="before")
    @classmethod
    def _single_stop(cls, value: Any) -> Any:
        # OpenAI accepts a single string; Ollama an array. Take both.
        return [value] if isinstance(value, str) else value

    def given(self) -> dict[str, Any]:
        """The options that were set (not ``None``), ``extra`` excluded."""
        return {
            name: value
            for name, value in self.__dict__.items()
            if value is not None and name != "extra"
        }

    def merged(self, override: Options | None) -> Options:
        """These options with every option set in ``override`` taking precedence."""
        if override is None:
            return self
        data = self.model_dump(exclude_none=True)
        data.update(override.model_dump(exclude_none=True))
        if self.extra and override.extra:
            data["extra"] = {**self.extra, **override.extra}
        return Options.model_validate(data)


#: The names Ollama accepts, in its documentation's order (``extra`` excluded).
OLLAMA_OPTION_NAMES: tuple[str, ...] = tuple(
    name for name in Options.model_fields if name != "extra"
)
