"""The in-process ctransformers backend (synchronous; async callers go through threads).

A request travels as in the llama.cpp backend: options are split
(``options.split_options``) into load, evaluation, sampling and request
parameters; the model file is checked (``compat``) and loaded, or reused;
the prompt is built (a chat template rendered in a sandbox, a Go template, or
the raw prompt) and tokenized; tokens are evaluated and sampled one at a time
through ctransformers' C functions, their bytes decoded without splitting
characters, cut at stop sequences, and yielded as
:class:`~llmkit.types.events.TextDelta`; a :class:`~llmkit.types.events.Done`
with Ollama-style counts and durations ends the stream.  Closing the stream
closes the generator, which stops generation.

The C functions are called directly (through the handle of
``ctransformers.LLM``) rather than through ``LLM.generate``: its tokenizer
buffer is one int per character (too small for text that falls back to
bytes), and its sampler re-seeds with the same seed before every token.
"""

from __future__ import annotations

import ctypes
import math
import mmap
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from llmkit._request import OptionsLike, coerce_options
from llmkit.backends.inprocess import (
    ModelSource,
    ModelText,
    PromptBuilder,
    PromptTokens,
    as_go_template,
    checked_prompt,
    decode_text,
    done_event,
    output_plan,
    token_limit,
)
from llmkit.backends.loaded import LoadedModel, LoadedModels, unload_after_request
from llmkit.errors import (
    GenerationError,
    GGUFError,
    InvalidRequestError,
    ModelLoadError,
    ModelNotFoundError,
    UnsupportedFeatureError,
    UnsupportedOptionError,
)
from llmkit.gguf import GGUFMetadata, GGUFValue
from llmkit.models.store import ModelStore
from llmkit.template import Template
from llmkit.tools.stream import parse_stream, stream_parser
from llmkit.types.events import StreamEvent
from llmkit.types.options import Options
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import EmbedResponse
from llmkit_ctransformers.compat import (
    Spelling,
    check_ggml,
    check_gguf,
    explain,
    parse_header,
    special_tokens,
    token_bytes,
)
from llmkit_ctransformers.options import BACKEND, SplitOptions, option_stage, split_options

__all__ = ["CTransformersBackend", "preflight"]

_MAX_LOADED = 2


def preflight(path: Path, model_type: str | None = None) -> GGUFMetadata | None:
    """Check that ctransformers 0.2.27 can load ``path``; its GGUF header if it is one.

    Raises :class:`~llmkit.errors.ModelLoadError` with every reason it cannot,
    and the suggestion to use the llama.cpp backend.
    """
    error: str | None = None
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size < 8:
                raise ModelLoadError(explain(str(path), ["it is shorter than any model header"]))
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                if data[:4] != b"GGUF":
                    problems = check_ggml(data[:8], model_type)
                    if problems:
                        raise ModelLoadError(explain(str(path), problems))
                    return None
                try:
                    info = parse_header(data)
                except GGUFError as exc:
                    error = str(exc)  # raised below, once the map is closed
    except OSError as exc:
        raise ModelLoadError(f"cannot read the model file {path}: {exc}") from exc
    if error is not None:
        raise ModelLoadError(explain(str(path), [f"it is not a readable GGUF file: {error}"]))
    problems = check_gguf(info, size)
    if problems:
        raise ModelLoadError(explain(str(path), problems))
    return info


class _Loaded(LoadedModel):
    """A loaded model, what was learnt about it once, and the calls into its C library."""

    def __init__(self, llm: Any, path: Path, info: GGUFMetadata | None, load_ns: int) -> None:
        super().__init__(path, load_ns)
        self.llm = llm
        self.info = info
        self.n_ctx = int(llm.context_length)
        self.n_vocab = int(llm.vocab_size)
        self.eos = int(llm.eos_token_id)
        self.bos = int(llm.bos_token_id)
        if info is not None:
            tokens = token_bytes(info)
            model = _string(info.get("tokenizer.ggml.model"))
            self.spelling: Spelling | None = Spelling(tokens, model)
            add_bos = info.get("tokenizer.ggml.add_bos_token")
            self.add_bos = bool(add_bos) if isinstance(add_bos, bool) else model == "llama"
            self.template_source: str | None = _string(info.get("tokenizer.chat_template"))
            self.bos_text = _token_text(tokens, self.bos)
            self.eos_text = _token_text(tokens, self.eos)
            self.end_of_turn = _end_of_turn_tokens(info, tokens)
            self.specials = special_tokens(info)
        else:  # a GGML file: gpt2-style vocabularies, no BOS, no template
            self.spelling = None
            self.add_bos = False
            self.template_source = None
            self.bos_text = ""
            self.end_of_turn = frozenset()
            self.specials = {}
            self.eos_text = bytes(llm.ctransformers_llm_detokenize(self.eos) or b"").decode(
                "utf-8", "replace"
            )
        longest_first = sorted(self.specials, key=len, reverse=True)
        self._special_split = (
            re.compile("(" + "|".join(map(re.escape, longest_first)) + ")")
            if longest_first
            else None
        )

    @property
    def text(self) -> ModelText:
        """What prompt building needs of this model."""
        return ModelText(
            tokenize=lambda text, add_bos: self.tokenize(text, add_bos=add_bos),
            n_ctx=self.n_ctx,
            template_source=self.template_source,
            bos_text=self.bos_text,
            eos_text=self.eos_text,
            name=self.path.name,
        )

    def tokenize(self, text: str, *, add_bos: bool = True) -> list[int]:
        """``text``'s tokens, its special tokens (``<|im_end|>``) read as theirs, as
        llama.cpp does: ctransformers' own tokenizer would spell them out in pieces."""
        bos = add_bos and self.add_bos
        if self.bos_text and text.startswith(self.bos_text):
            text, bos = text[len(self.bos_text) :], True
        if self._special_split is None or self._special_split.search(text) is None:
            return self._tokenize_plain(text, bos)
        tokens = [self.bos] if bos else []
        for index, part in enumerate(self._special_split.split(text)):
            if index % 2:
                tokens.append(self.specials[part])
            elif part:
                tokens += self._tokenize_plain(part, False)
        return tokens

    def _tokenize_plain(self, text: str, bos: bool) -> list[int]:
        if self.spelling is not None and (char := self.spelling.unspellable(text)) is not None:
            raise InvalidRequestError(
                f"the text holds {char!r} (U+{ord(char):04X}), which the vocabulary of "
                f"{self.path.name} cannot spell; ctransformers would crash on it",
                fields=["messages"],
            )
        data = text.encode("utf-8")
        buffer = (ctypes.c_int * (len(data) + 2))()
        count = int(self.llm.ctransformers_llm_tokenize(data, bos, buffer))
        return list(buffer[:count])

    def piece(self, token: int) -> bytes:
        return bytes(self.llm.ctransformers_llm_detokenize(token) or b"")

    def evaluate(self, tokens: list[int], n_past: int, split: SplitOptions) -> None:
        array = (ctypes.c_int * len(tokens))(*tokens)
        batch = int(split.eval.get("batch_size", 512))
        threads = int(split.eval.get("threads", -1))
        if not self.llm.ctransformers_llm_batch_eval(array, len(tokens), n_past, batch, threads):
            raise GenerationError(f"ctransformers failed to evaluate tokens of {self.path.name}")

    def sample(self, history: list[int], split: SplitOptions, seed: int) -> int:
        sample = split.sample
        top_k = int(sample.get("top_k", 40)) or self.n_vocab
        temperature = float(sample.get("temperature", 0.8))
        if temperature <= 0:  # greedy; ctransformers would divide by zero
            top_k, temperature = 1, 1.0
        last_n = int(sample.get("last_n_tokens", 64))
        recent = history[-self.n_ctx :] if last_n < 0 else (history[-last_n:] if last_n else [])
        array = (ctypes.c_int * len(recent))(*recent)
        return int(
            self.llm.ctransformers_llm_sample(
                array,
                len(recent),
                top_k,
                float(sample.get("top_p", 0.9)),
                temperature,
                float(sample.get("repetition_penalty", 1.1)),
                seed,
            )
        )

    def is_eos(self, token: int) -> bool:
        """The end of generation: the model's EOS, or a token that ends a chat turn
        (ctransformers knows only the former)."""
        return token in self.end_of_turn or bool(self.llm.ctransformers_llm_is_eos_token(token))

    def embedding(self) -> list[float]:
        size = int(self.llm.ctransformers_llm_embeddings_size())
        data = self.llm.ctransformers_llm_embeddings_data()
        return [float(data[i]) for i in range(size)]


#: Tokens that end a turn in the chat templates of common models (llama.cpp treats the same
#: texts as end of generation): ChatML, Llama 3, Phi, Gemma, gpt-oss.
_END_OF_TURN_TEXTS = frozenset(
    {b"<|im_end|>", b"<|eot_id|>", b"<|eom_id|>", b"<|end|>", b"<end_of_turn>", b"<|return|>"}
)


def _end_of_turn_tokens(info: GGUFMetadata, tokens: tuple[bytes, ...]) -> frozenset[int]:
    """The file's end-of-turn tokens: its ``eot``/``eom`` ids and the known turn ends."""
    found = {i for i, text in enumerate(tokens) if text in _END_OF_TURN_TEXTS}
    for key in ("tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"):
        value = info.get_int(key)
        if value is not None and 0 <= value < len(tokens):
            found.add(value)
    return frozenset(found)


def _string(value: GGUFValue | None) -> str | None:
    return value if isinstance(value, str) else None


def _token_text(tokens: tuple[bytes, ...], token: int) -> str:
    if 0 <= token < len(tokens):
        return tokens[token].decode("utf-8", "replace")
    return ""


class CTransformersBackend:
    """Runs GGUF (llama, falcon) and older GGML models in this process with ctransformers 0.2.27.

    ``model`` is a path to a model file or a model-store name.  Every file is
    checked before ctransformers sees it: one it cannot load raises
    :class:`~llmkit.errors.ModelLoadError` saying why, and suggesting the
    llama.cpp backend (today's GGUF files, SmolLM2 included, are such files).
    ``model_type`` is needed for GGML files (``gpt2``, ``llama``, ``mpt``, ...);
    GGUF files always go to ctransformers' llama.cpp.  ``options`` are this
    backend's defaults; each request's options override them.
    ``chat_template`` replaces the GGUF file's Jinja chat template and
    ``go_template`` (an Ollama Go template, compiled or as text) replaces both.
    ``lib`` picks ctransformers' library (``avx2``, ``avx``, ``basic``,
    ``cuda`` or a path); by default it picks by CPU, or CUDA when ``num_gpu``
    is set.
    """

    name: ClassVar[str] = BACKEND

    def __init__(
        self,
        model: str | None = None,
        *,
        model_type: str | None = None,
        options: OptionsLike | None = None,
        chat_template: str | None = None,
        go_template: Template | str | None = None,
        store: ModelStore | None = None,
        pull: bool = True,
        lib: str | None = None,
        tool_format: str | None = None,
    ) -> None:
        self.models = ModelSource(model, store=store, pull=pull)
        self.store = self.models.store
        self.model_path = self.models.path
        self.model_name = self.models.name
        self.model_type = model_type
        self.options = coerce_options(options)
        self.chat_template = chat_template
        self.go_template = as_go_template(go_template)
        self.tool_format = tool_format
        self._prompts = PromptBuilder(
            BACKEND, go_template=self.go_template, chat_template=chat_template
        )
        self.lib = lib
        self._loaded = LoadedModels[_Loaded](_free, limit=_MAX_LOADED)

    @classmethod
    def from_target(cls, target: str, /, **kwargs: Any) -> CTransformersBackend:
        """``ctransformers:PATH`` or ``ctransformers:NAME``; empty: the default model."""
        return cls(target or None, **kwargs)

    # -- the protocol ---------------------------------------------------------

    def chat(self, request: ChatRequest) -> Iterator[StreamEvent]:
        self._check_request(request)
        for index, message in enumerate(request.messages):
            if message.images:
                raise UnsupportedFeatureError(
                    f"messages.{index}.images", BACKEND, "no multimodal support"
                )
        split = self._split(request.options)
        path, name = self._model_for(request.model)
        plan = output_plan(
            request,
            backend=BACKEND,
            tool_format=self.tool_format,
            go_template=self.go_template,
            template_source=lambda: (
                self.chat_template or self._load(path, split.load).template_source
            ),
            can_constrain=False,
        )

        def prompt(loaded: _Loaded) -> PromptTokens:
            return self._prompts.chat(request, loaded.text, tools=plan.tools)

        events = self._run(path, name, split, prompt, keep_alive=request.keep_alive)
        return parse_stream(events, plan.parser)

    def generate(self, request: GenerateRequest) -> Iterator[StreamEvent]:
        self._check_request(request)
        if request.images:
            raise UnsupportedFeatureError("images", BACKEND, "no multimodal support")
        go = self._prompts.go_template_for(request.template)
        self._prompts.check_suffix(request, go)
        split = self._split(request.options)
        path, name = self._model_for(request.model)

        def prompt(loaded: _Loaded) -> PromptTokens:
            return self._prompts.generate(request, loaded.text, go)

        events = self._run(
            path, name, split, prompt, keep_alive=request.keep_alive, want_context=True
        )
        return parse_stream(events, stream_parser(tools=None, think=request.think, go_template=go))

    def embed(self, request: EmbedRequest) -> EmbedResponse:
        """The final hidden state of each input's last token, L2-normalised (GGUF models)."""
        merged = self.options.merged(request.options) if self.options else request.options
        for option in merged.given() if merged else {}:
            if option_stage(option) != "load":
                raise UnsupportedOptionError(option, BACKEND, "it has no effect on embeddings")
        if request.dimensions is not None:
            raise UnsupportedFeatureError(
                "dimensions", BACKEND, "embeddings have the model's own size"
            )
        split = split_options(merged, with_defaults=False)
        path, name = self._model_for(request.model)
        loaded = self._load(path, split.load)
        if loaded.info is None:
            raise UnsupportedFeatureError(
                "input", BACKEND, "ctransformers gives embeddings only for GGUF models"
            )
        inputs = [request.input] if isinstance(request.input, str) else list(request.input)
        started = time.perf_counter_ns()
        vectors: list[list[float]] = []
        counts: list[int] = []
        loaded.lock.acquire()
        try:
            for index, text in enumerate(inputs):
                tokens = loaded.tokenize(text) or [loaded.bos]
                if len(tokens) > loaded.n_ctx:
                    if request.truncate is False:
                        raise InvalidRequestError(
                            f"input {index} is {len(tokens)} tokens, more than num_ctx="
                            f"{loaded.n_ctx}",
                            fields=["input"],
                        )
                    tokens = tokens[: loaded.n_ctx]
                loaded.evaluate(tokens, 0, split)
                vector = loaded.embedding()
                norm = math.sqrt(sum(x * x for x in vector)) or 1.0
                vectors.append([x / norm for x in vector])
                counts.append(len(tokens))
        finally:
            loaded.lock.release()
        if unload_after_request(request.keep_alive):
            self._loaded.unload(loaded)
        return EmbedResponse(
            model=name,
            embeddings=vectors,
            total_duration=time.perf_counter_ns() - started,
            load_duration=loaded.take_load_ns(),
            prompt_eval_count=sum(counts),
        )

    def close(self) -> None:
        """Unload every model this backend loaded."""
        self._loaded.clear()

    # -- internals ------------------------------------------------------------

    @staticmethod
    def _check_request(request: ChatRequest | GenerateRequest) -> None:
        if request.logprobs:
            raise UnsupportedFeatureError(
                "logprobs", BACKEND, "ctransformers' sampler does not give them out"
            )
        if request.format is not None:
            raise UnsupportedFeatureError(
                "format", BACKEND, "ctransformers has no grammar-constrained sampling"
            )
        if getattr(request, "shift", None):
            raise UnsupportedFeatureError(
                "shift", BACKEND, "ctransformers never shifts the context"
            )
        if request.truncate:
            raise UnsupportedFeatureError(
                "truncate", BACKEND, "prompts are never truncated silently"
            )

    def _split(self, options: Options | None) -> SplitOptions:
        merged = self.options.merged(options) if self.options else options
        return split_options(merged)

    def _model_for(self, model: str | None) -> tuple[Path, str]:
        return self.models.resolve(model)

    def _load(self, path: Path, load: dict[str, Any]) -> _Loaded:
        def check() -> GGUFMetadata | None:
            if not path.is_file():
                raise ModelNotFoundError(f"model file not found: {path}", path=str(path))
            return preflight(path, self.model_type)

        def load_now(info: GGUFMetadata | None) -> _Loaded:
            from ctransformers import LLM  # imported on first load, never at import time
            from ctransformers.llm import Config

            started = time.perf_counter_ns()
            config = Config(
                context_length=int(load.get("context_length", -1)),
                gpu_layers=int(load.get("gpu_layers", 0)),
                mmap=bool(load.get("mmap", True)),
                mlock=bool(load.get("mlock", False)),
            )
            try:
                llm = LLM(str(path), self.model_type, config=config, lib=self.lib)
            except OSError as exc:
                hint = (
                    "; the CUDA library needs pip install 'llmkit-ctransformers[cuda]' and an "
                    "NVIDIA driver, or set num_gpu=0"
                    if config.gpu_layers > 0
                    else ""
                )
                raise ModelLoadError(
                    f"ctransformers' native library could not be loaded: {exc}{hint}"
                ) from exc
            except (RuntimeError, ValueError) as exc:
                raise ModelLoadError(
                    f"ctransformers could not load {path} ({exc}), although llmkit's check of "
                    "the file found nothing wrong; the llama.cpp backend may load it: "
                    f"backend='llamacpp:{path}'"
                ) from exc
            return _Loaded(llm, path, info, time.perf_counter_ns() - started)

        return self._loaded.get((str(path), *sorted(load.items())), check, load_now)

    def _run(
        self,
        path: Path,
        name: str,
        split: SplitOptions,
        build_prompt: Callable[[_Loaded], PromptTokens],
        *,
        keep_alive: str | float | None,
        want_context: bool = False,
    ) -> Iterator[StreamEvent]:
        started = time.perf_counter_ns()
        loaded = self._load(path, split.load)
        load_ns = loaded.take_load_ns()
        wanted_ctx = split.load.get("context_length")
        if "num_ctx" in split.explicit and wanted_ctx and wanted_ctx > loaded.n_ctx:
            raise UnsupportedOptionError(
                "num_ctx",
                BACKEND,
                f"{path.name} is a GGML file, whose context is fixed at {loaded.n_ctx} tokens "
                f"(got {wanted_ctx})",
            )
        loaded.lock.acquire()
        try:
            prompt, fit = checked_prompt(build_prompt(loaded), loaded.n_ctx, stacklevel=4)
            limit = token_limit(split.num_predict, loaded.n_ctx - len(prompt))
            seeds = random.Random(split.seed) if split.seed is not None else random.Random()

            def sampled() -> Iterator[int]:
                # Read lazily: the prompt is evaluated for the first token, each token
                # before the next is sampled (never after the last one).
                history = list(prompt)
                loaded.evaluate(prompt, 0, split)
                while True:
                    token = loaded.sample(history, split, seeds.randrange(2**31))
                    yield token
                    history.append(token)
                    loaded.evaluate([token], len(history) - 1, split)

            decoded = yield from decode_text(
                sampled(),
                piece=loaded.piece,
                is_end=loaded.is_eos,
                stop=split.stop,
                limit=limit,
                clock=time.perf_counter_ns,
            )
            yield done_event(
                name,
                decoded.reason,
                prompt,
                decoded.tokens,
                fit,
                context=want_context,
                times=(started, load_ns, decoded.first_token_ns, time.perf_counter_ns()),
            )
        finally:
            loaded.lock.release()
            if unload_after_request(keep_alive):
                self._loaded.unload(loaded)


def _free(loaded: _Loaded) -> None:
    """Unload a model once no stream uses it (waits for one in another thread)."""
    loaded.lock.acquire()
    try:
        loaded.llm = None  # ctransformers frees the native model when its LLM object goes
    finally:
        loaded.lock.release()
