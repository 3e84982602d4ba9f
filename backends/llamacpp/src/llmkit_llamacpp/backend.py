"""The in-process llama.cpp backend (synchronous; async callers go through threads).

A request travels: options are split (``options.split_options``) into load,
sampling and request parameters; the model is loaded (or reused) for the load
parameters; the prompt is built (a chat template rendered in a sandbox, or the
raw prompt) and tokenized; tokens are sampled one at a time, their bytes
decoded without splitting characters, cut at stop sequences, and yielded as
:class:`~llmkit.types.events.TextDelta`; a :class:`~llmkit.types.events.Done`
with Ollama-style counts and durations ends the stream.  Closing the stream
closes the token generator at once, which stops generation.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
    InvalidRequestError,
    ModelLoadError,
    ModelNotFoundError,
    UnsupportedFeatureError,
    UnsupportedOptionError,
)
from llmkit.gguf import read_gguf_metadata
from llmkit.models.store import ModelStore
from llmkit.template import Template
from llmkit.tools.grammar import ToolCallGrammar
from llmkit.tools.stream import parse_stream, stream_parser
from llmkit.types.events import StreamEvent
from llmkit.types.options import Options
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import EmbedResponse
from llmkit_llamacpp.engine import BatchEngine, EngineCounters, Finished, SequenceJob
from llmkit_llamacpp.options import BACKEND, SplitOptions, option_stage, split_options
from llmkit_llamacpp.sampling import SamplerSpec, grammar_is_accepted

__all__ = ["LlamaCppBackend"]

LLAMA_POOLING_TYPE_MEAN = 1
_MAX_LOADED = 2


#: Engine slots when ``parallel`` is not given: a few agents or clients at once, each with
#: ``num_ctx`` cells of KV cache (docs/backends.md says what that costs per model).
DEFAULT_PARALLEL = 4
#: Requests that may wait for a slot (Ollama's OLLAMA_MAX_QUEUE default); one more is refused
#: with ``BackendBusyError``.
DEFAULT_MAX_QUEUE = 512


class _Loaded(LoadedModel):
    """A loaded model and what was learnt about it once."""

    def __init__(self, llm: Any, path: Path, load_ns: int) -> None:
        super().__init__(path, load_ns)
        self.llm = llm
        metadata: dict[str, str] = getattr(llm, "metadata", {}) or {}
        self.template_source = metadata.get("tokenizer.chat_template")
        self.bos_text = self._special_text(llm.token_bos())
        self.eos_text = self._special_text(llm.token_eos())
        self.text = ModelText(
            tokenize=lambda text, add_bos: _tokenize(self, text, add_bos=add_bos),
            n_ctx=int(llm.n_ctx()),
            template_source=self.template_source,
            bos_text=self.bos_text,
            eos_text=self.eos_text,
            name=path.name,
        )
        self.engine: BatchEngine | None = None
        self._engine_lock = threading.Lock()

    def engine_for(self, parallel: int, max_queue: int) -> BatchEngine:
        """The batched decoding engine on this model (made on first use)."""
        with self._engine_lock:
            if self.engine is None:
                self.engine = BatchEngine(self.llm, parallel=parallel, max_queue=max_queue)
            return self.engine

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return bytes(self.llm.detokenize([token], special=True)).decode("utf-8", "replace")


class LlamaCppBackend:
    """Runs GGUF models in this process with llama-cpp-python.

    ``model`` is a model-store name (default ``smollm2``, pulled on first use)
    or a path to a ``.gguf`` file.  ``options`` are this backend's defaults
    (load-time ones such as ``num_ctx`` or ``num_gpu`` included); each request's
    options override them.  ``chat_template`` replaces the GGUF file's own
    Jinja chat template; ``go_template`` (an Ollama Go template: a compiled
    :class:`~llmkit.template.Template`, template text, a ``.gotmpl`` file or an
    Ollama Modelfile with a TEMPLATE) replaces both, and renders the prompt
    exactly as Ollama would.  A generate request's own ``template`` (Go
    template text, as in Ollama's API) is honoured too.

    Requests run on the engine (:mod:`llmkit_llamacpp.engine`): ``parallel`` slots
    (default :data:`DEFAULT_PARALLEL`), each with ``num_ctx`` cells of KV cache.
    ``chat``/``generate`` calls from several threads (or ``AsyncClient`` tasks) are
    decoded together, up to ``parallel`` sequences in one llama.cpp batch, each with
    its own options, seed and stop strings; ``max_concurrency`` says how many streams
    it serves at once, and more wait for a slot.  A slot keeps the cells of its last
    request, and a new request goes to the slot that shares the longest prefix with
    its prompt, so a conversation's next turn reads only what was added (a prefix
    another slot holds is copied rather than read).  ``cache_prompt=False`` (or a
    request's ``options={"extra": {"cache_prompt": False}}``) reads every prompt
    whole into a cleared slot: the same request then gives the same output whatever
    ran before, as a prompt read in pieces gives logits that can differ in the last
    bits from one read whole.

    At most ``max_queue`` requests wait for a slot (default :data:`DEFAULT_MAX_QUEUE`); one
    more raises :class:`~llmkit.errors.BackendBusyError` at once.

    ``engine=False`` takes llama-cpp-python's own ``Llama.generate`` instead, one
    request at a time on the model's own context; there ``reuse_prompt_cache`` keeps
    the previous request's cache and reads only the part of the prompt that differs.

    When a chat offers tools, the output is parsed while it streams (tool calls come
    out as ``ToolCallEvent``): in ``tool_format`` (a name of
    :data:`llmkit.tools.FORMAT_NAMES`) if given, else in the Go template's format, else
    in the one the Jinja chat template shows (``hermes`` when it shows none).
    ``think=True`` splits ``<think>...</think>`` (or the Go template's tags) into
    ``ThinkingDelta``.  ``tool_choice="required"`` or a tool's name forces one call
    with a grammar.  Nothing is parsed when ``format`` is set.
    """

    name: ClassVar[str] = BACKEND

    def __init__(
        self,
        model: str | None = None,
        *,
        options: OptionsLike | None = None,
        chat_template: str | None = None,
        go_template: Template | str | os.PathLike[str] | None = None,
        store: ModelStore | None = None,
        pull: bool = True,
        reuse_prompt_cache: bool = False,
        tool_format: str | None = None,
        parallel: int | None = None,
        cache_prompt: bool = True,
        engine: bool = True,
        max_queue: int = DEFAULT_MAX_QUEUE,
    ) -> None:
        if parallel is None:
            parallel = DEFAULT_PARALLEL if engine else 1
        if isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1:
            raise InvalidRequestError(
                f"parallel must be a whole number of sequences, 1 or more (got {parallel!r})",
                fields=["parallel"],
            )
        if engine and reuse_prompt_cache:
            raise InvalidRequestError(
                "reuse_prompt_cache is for engine=False (llama-cpp-python's one-at-a-time "
                "path); the engine reuses prompts by itself (cache_prompt)",
                fields=["reuse_prompt_cache"],
            )
        if not engine and parallel > 1:
            raise InvalidRequestError(
                "engine=False serves one request at a time: parallel must be 1",
                fields=["parallel"],
            )
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 0:
            raise InvalidRequestError(
                f"max_queue must be a whole number of requests, 0 or more (got {max_queue!r})",
                fields=["max_queue"],
            )
        self.parallel = parallel
        self.max_queue = max_queue
        self.engine = engine
        self.cache_prompt = cache_prompt
        self.max_concurrency = parallel
        self.models = ModelSource(model, store=store, pull=pull)
        self.store = self.models.store
        self.model_path = self.models.path
        self.model_name = self.models.name
        self.options = coerce_options(options)
        self.chat_template = chat_template
        self.go_template = as_go_template(go_template)
        self._prompts = PromptBuilder(
            BACKEND, go_template=self.go_template, chat_template=chat_template
        )
        self.reuse_prompt_cache = reuse_prompt_cache
        self.tool_format = tool_format
        self._loaded = LoadedModels[_Loaded](_free, limit=_MAX_LOADED)

    @classmethod
    def from_target(cls, target: str, /, **kwargs: Any) -> LlamaCppBackend:
        """``llamacpp:NAME`` or ``llamacpp:PATH.gguf``; an empty target is the default model.

        A query string sets the engine: ``llamacpp:smollm2?parallel=8&cache_prompt=false``
        (``parallel``, ``cache_prompt``, ``engine``, ``tool_format``, ``max_queue``), and
        ``flash_attn=true`` turns on llama.cpp's flash attention (``extra={"flash_attn":
        True}`` in the backend's options)."""
        model, _, query = target.partition("?")
        parsed = _target_options(query)
        flash_attn = parsed.pop("flash_attn", None)
        if flash_attn is not None:
            options = coerce_options(kwargs.get("options")) or Options()
            extra = dict(options.extra or {})
            if "flash_attn" in extra:
                raise InvalidRequestError(
                    "backend string: flash_attn is given twice (in the string and in options)",
                    fields=["flash_attn"],
                )
            kwargs["options"] = options.model_copy(
                update={"extra": {**extra, "flash_attn": flash_attn}}
            )
        for key, value in parsed.items():
            if key in kwargs:
                raise InvalidRequestError(
                    f"backend string: {key} is given twice (in the string and as an argument)",
                    fields=[key],
                )
            kwargs[key] = value
        return cls(model or None, **kwargs)

    # -- the protocol ---------------------------------------------------------

    def chat(self, request: ChatRequest) -> Iterator[StreamEvent]:
        self._check_request(request.think, images=None)
        for index, message in enumerate(request.messages):
            if message.images:
                raise UnsupportedFeatureError(
                    f"messages.{index}.images", BACKEND, "no multimodal support"
                )
        self._check_common(request)
        _, split = self._split(request.options)
        path, name = self._model_for(request.model)
        plan = output_plan(
            request,
            backend=BACKEND,
            tool_format=self.tool_format,
            go_template=self.go_template,
            template_source=lambda: (
                self.chat_template or self._load(path, split.load).template_source
            ),
            can_constrain=True,
        )
        grammar = _grammar(request.format)
        if plan.forced is not None:
            for index, offered in enumerate(plan.tools or ()):
                _check_repetitions(
                    offered.function.parameters, f"tools.{index}.function.parameters"
                )
            grammar = _tool_grammar(plan.forced)

        def prompt(loaded: _Loaded) -> PromptTokens:
            return self._prompts.chat(request, loaded.text, tools=plan.tools)

        events = self._run(
            path,
            name,
            split,
            prompt,
            grammar,
            keep_alive=request.keep_alive,
            logprobs=_wanted_logprobs(request),
        )
        return parse_stream(events, plan.parser)

    def generate(self, request: GenerateRequest) -> Iterator[StreamEvent]:
        self._check_request(request.think, images=request.images)
        self._check_common(request)
        go = self._prompts.go_template_for(request.template)
        self._prompts.check_suffix(request, go)
        _, split = self._split(request.options)
        path, name = self._model_for(request.model)
        grammar = _grammar(request.format)

        def prompt(loaded: _Loaded) -> PromptTokens:
            _check_context_tokens(loaded, request.context)
            return self._prompts.generate(request, loaded.text, go)

        parser = (
            None
            if request.format
            else stream_parser(tools=None, think=request.think, go_template=go)
        )
        events = self._run(
            path,
            name,
            split,
            prompt,
            grammar,
            keep_alive=request.keep_alive,
            want_context=True,
            logprobs=_wanted_logprobs(request),
        )
        return parse_stream(events, parser)

    def embed(self, request: EmbedRequest) -> EmbedResponse:
        self._check_common(request)
        merged, split = self._split(request.options, with_defaults=False)
        for option in merged.given() if merged else {}:
            if option_stage(option) != "load":
                raise UnsupportedOptionError(option, BACKEND, "it has no effect on embeddings")
        if request.dimensions is not None:
            raise UnsupportedFeatureError(
                "dimensions", BACKEND, "embeddings have the model's own size"
            )
        path, name = self._model_for(request.model)
        split.load.update(embedding=True, pooling_type=LLAMA_POOLING_TYPE_MEAN)
        loaded = self._load(path, split.load)
        inputs = [request.input] if isinstance(request.input, str) else list(request.input)
        started = time.perf_counter_ns()
        loaded.lock.acquire()
        try:
            counts = [len(_tokenize(loaded, text)) for text in inputs]
            vectors = loaded.llm.embed(
                inputs, normalize=True, truncate=bool(request.truncate is not False)
            )
        except (RuntimeError, ValueError) as exc:
            raise GenerationError(f"llama.cpp could not embed: {exc}") from exc
        finally:
            loaded.lock.release()
            if unload_after_request(request.keep_alive):
                self._loaded.unload(loaded)
        return EmbedResponse(
            model=name,
            embeddings=[[float(x) for x in vector] for vector in vectors],
            total_duration=time.perf_counter_ns() - started,
            load_duration=loaded.take_load_ns(),
            prompt_eval_count=sum(counts),
        )

    def engine_counters(self) -> EngineCounters:
        """What the engines of the loaded models did with prompts, summed over the models.

        ``prompt_tokens`` were asked for; ``evaluated`` were read by ``llama_decode``;
        ``reused`` stayed in a slot from its previous request; ``copied`` came from another
        slot (a prefix shared by requests at once).  Zero when nothing is loaded.
        """
        total = EngineCounters()
        for loaded in self._loaded.values():
            if loaded.engine is not None:
                counters = loaded.engine.counters()
                for name, value in vars(counters).items():
                    setattr(total, name, getattr(total, name) + value)
        return total

    def close(self) -> None:
        """Unload every model this backend loaded."""
        self._loaded.clear()

    # -- internals ------------------------------------------------------------

    @staticmethod
    def _check_request(think: object, *, images: object) -> None:
        del think  # thinking is split out of the output (llmkit.tools.stream)
        if images:
            raise UnsupportedFeatureError("images", BACKEND, "no multimodal support")

    @staticmethod
    def _check_common(request: ChatRequest | GenerateRequest | EmbedRequest) -> None:
        if getattr(request, "shift", None):
            raise UnsupportedFeatureError(
                "shift", BACKEND, "llama-cpp-python never shifts the context"
            )
        if isinstance(request, GenerateRequest) and request.truncate:
            raise UnsupportedFeatureError(
                "truncate", BACKEND, "a generate prompt is never cut; chat() drops old messages"
            )

    def _split(
        self, options: Options | None, *, with_defaults: bool = True
    ) -> tuple[Options | None, SplitOptions]:
        merged = self.options.merged(options) if self.options else options
        return merged, split_options(merged, with_defaults=with_defaults)

    def _model_for(self, model: str | None) -> tuple[Path, str]:
        return self.models.resolve(model)

    def _load(self, path: Path, load: dict[str, Any]) -> _Loaded:
        def check() -> None:
            if not path.is_file():
                raise ModelNotFoundError(f"model file not found: {path}", path=str(path))
            _check_context_options(path, load)

        def load_now(_: None) -> _Loaded:
            from llama_cpp import Llama  # imported on first load, never at import time

            started = time.perf_counter_ns()
            try:
                llm = Llama(model_path=str(path), verbose=False, **load)
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelLoadError(f"llama.cpp could not load {path}: {exc}") from exc
            return _Loaded(llm, path, time.perf_counter_ns() - started)

        key = (str(path), *sorted((k, repr(v)) for k, v in load.items()))
        return self._loaded.get(key, check, load_now)

    def _load_for_generation(self, path: Path, split: SplitOptions) -> _Loaded:
        loaded = self._load(path, split.load)
        if split.load.get("vocab_only"):
            raise InvalidRequestError(
                "a model loaded with vocab_only cannot generate", fields=["options.vocab_only"]
            )
        return loaded

    def _run(
        self,
        path: Path,
        name: str,
        split: SplitOptions,
        build_prompt: Any,
        grammar: Any,
        *,
        keep_alive: str | float | None,
        want_context: bool = False,
        logprobs: int | None = None,
    ) -> Iterator[StreamEvent]:
        if self.engine:
            yield from self._run_batched(
                path, name, split, build_prompt, grammar, keep_alive, want_context, logprobs
            )
            return
        if logprobs is not None:
            raise UnsupportedFeatureError(
                "logprobs", BACKEND, "only the engine computes them (engine=True, the default)"
            )
        started = time.perf_counter_ns()
        loaded = self._load_for_generation(path, split)
        load_ns = loaded.take_load_ns()
        llm = loaded.llm
        loaded.lock.acquire()
        generator = None
        try:
            native_grammar = _accepted_grammar(loaded, grammar)
            prompt, fit = checked_prompt(build_prompt(loaded), llm.n_ctx(), stacklevel=4)
            n_ctx = llm.n_ctx()
            limit = token_limit(split.num_predict, n_ctx - len(prompt))
            llm.last_n_tokens_size = n_ctx if split.repeat_last_n < 0 else split.repeat_last_n
            llm.set_seed(split.seed if split.seed is not None else random.randrange(2**31))
            if not self.reuse_prompt_cache:
                llm.reset()  # evaluate the whole prompt: same request, same output
            generator = llm.generate(prompt, grammar=native_grammar, **split.sample)
            decoded = yield from decode_text(
                generator,
                piece=lambda token: bytes(llm.detokenize([token])),
                is_end=_eog_checker(llm),
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
        except (RuntimeError, ValueError) as exc:
            if isinstance(exc, InvalidRequestError):
                raise
            raise GenerationError(f"llama.cpp failed while generating: {exc}") from exc
        finally:
            if generator is not None:
                generator.close()
            loaded.lock.release()
            if unload_after_request(keep_alive):
                self._loaded.unload(loaded)

    def _run_batched(
        self,
        path: Path,
        name: str,
        split: SplitOptions,
        build_prompt: Any,
        grammar: Any,
        keep_alive: str | float | None,
        want_context: bool,
        logprobs: int | None = None,
    ) -> Iterator[StreamEvent]:
        """``_run`` through the batch engine: the same checks, events and counts."""
        started = time.perf_counter_ns()
        loaded = self._load_for_generation(path, split)
        load_ns = loaded.take_load_ns()
        stream = None
        try:
            native_grammar = _accepted_grammar(loaded, grammar)
            prompt, fit = checked_prompt(build_prompt(loaded), loaded.llm.n_ctx(), stacklevel=4)
            n_ctx = loaded.llm.n_ctx()
            seed = split.seed if split.seed is not None else random.randrange(2**31)
            sampler = SamplerSpec.from_options(
                split.sample, repeat_last_n=split.repeat_last_n, n_ctx=n_ctx, seed=seed
            )
            limit = token_limit(split.num_predict, n_ctx - len(prompt))
            cache = self.cache_prompt if split.cache_prompt is None else split.cache_prompt
            job = SequenceJob(
                prompt, sampler, limit, split.stop, native_grammar, cache, logprobs=logprobs
            )
            stream = loaded.engine_for(self.parallel, self.max_queue).submit(job)
            for item in stream:
                if not isinstance(item, Finished):
                    yield item
                    continue
                yield done_event(
                    name,
                    item.reason,
                    prompt,
                    item.tokens,
                    fit,
                    context=want_context,
                    times=(started, load_ns, item.first_token_ns, item.ended_ns),
                )
        except (RuntimeError, ValueError) as exc:
            if isinstance(exc, InvalidRequestError):
                raise
            raise GenerationError(f"llama.cpp failed while generating: {exc}") from exc
        finally:
            if stream is not None:
                stream.close()
            if unload_after_request(keep_alive):
                self._loaded.unload(loaded)


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not true or false: {text!r}")


_TARGET_OPTIONS: dict[str, Callable[[str], Any]] = {
    "parallel": int,
    "cache_prompt": _flag,
    "engine": _flag,
    "tool_format": str,
    "max_queue": int,
    "flash_attn": _flag,
}


def _target_options(query: str) -> dict[str, Any]:
    """The backend options of a backend string's query (``parallel=8&cache_prompt=false``)."""
    if not query:
        return {}
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise InvalidRequestError(f"backend string: bad query {query!r}: {exc}") from exc
    options: dict[str, Any] = {}
    for key, text in pairs:
        parse = _TARGET_OPTIONS.get(key)
        if parse is None:
            raise InvalidRequestError(
                f"backend string: unknown option {key!r} (known: {', '.join(_TARGET_OPTIONS)})",
                fields=[key],
            )
        try:
            options[key] = parse(text)
        except ValueError as exc:
            raise InvalidRequestError(f"backend string: {key}: {exc}", fields=[key]) from exc
    return options


def _wanted_logprobs(request: ChatRequest | GenerateRequest) -> int | None:
    """``None`` when the request wants no log probabilities, else how many alternatives."""
    return (request.top_logprobs or 0) if request.logprobs else None


def _check_context_tokens(loaded: _Loaded, context: list[int] | None) -> None:
    """A generate request's ``context`` must be token ids of this model's vocabulary."""
    if not context:
        return
    n_vocab = loaded.llm.n_vocab()
    for index, token in enumerate(context):
        if not 0 <= token < n_vocab:
            raise InvalidRequestError(
                f"context.{index}: {token} is not a token of this model (0 to {n_vocab - 1})",
                fields=[f"context.{index}"],
            )


def _check_context_options(path: Path, load: dict[str, Any]) -> None:
    """Refuse a context larger than the model was trained for, before llama.cpp allocates
    memory for it."""
    n_ctx = load.get("n_ctx")
    if n_ctx is not None:
        trained = _trained_context(path)
        if trained is not None and n_ctx > trained:
            raise InvalidRequestError(
                f"options.num_ctx: {n_ctx} is more than the {trained} tokens of context "
                f"{path.name} was trained for",
                fields=["options.num_ctx"],
            )


_trained_contexts: dict[tuple[str, float], int | None] = {}


def _trained_context(path: Path) -> int | None:
    """The model's training context (``<arch>.context_length``), read once per file."""
    key = (str(path), path.stat().st_mtime)
    if key not in _trained_contexts:
        metadata = read_gguf_metadata(path, read_arrays=False)
        arch = metadata.architecture
        _trained_contexts[key] = metadata.get_int(f"{arch}.context_length") if arch else None
    return _trained_contexts[key]


def _eog_checker(llm: Any) -> Any:
    import llama_cpp

    vocab = llm._model.vocab
    return lambda token: llama_cpp.llama_vocab_is_eog(vocab, token)


def _tokenize(loaded: _Loaded, text: str, *, add_bos: bool = True) -> list[int]:
    llm = loaded.llm
    starts_with_bos = bool(loaded.bos_text) and text.startswith(loaded.bos_text)
    wants_bos = add_bos and not starts_with_bos and bool(llm._model.add_bos_token())
    return list(llm.tokenize(text.encode("utf-8"), add_bos=wants_bos, special=True))


@dataclass(frozen=True)
class _RequestGrammar:
    """A request's grammar and the request field it came from (for the error if llama.cpp
    refuses it)."""

    grammar: Any
    """A ``llama_cpp.LlamaGrammar``."""
    field: str
    what: str


#: llama.cpp refuses a grammar that repeats a rule more than this many times.
_MAX_REPETITION = 2000
_REPETITION_KEYS = ("maxLength", "minLength", "maxItems", "minItems")


def _check_repetitions(schema: Any, field: str) -> None:
    """Refuse a schema bound llama.cpp's grammar cannot take, naming where it is, before a
    grammar of thousands of rules is written for it."""
    pending: list[tuple[Any, str]] = [(schema, field)]
    while pending:
        value, where = pending.pop()
        if isinstance(value, dict):
            for key in _REPETITION_KEYS:
                bound = value.get(key)
                if isinstance(bound, int) and bound > _MAX_REPETITION:
                    raise InvalidRequestError(
                        f"{where}.{key}: {bound} is more than the {_MAX_REPETITION} repetitions "
                        "llama.cpp's grammars allow",
                        fields=[f"{where}.{key}"],
                    )
            pending.extend((item, f"{where}.{key}") for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((item, f"{where}.{index}") for index, item in enumerate(value))


def _grammar(format: Any) -> _RequestGrammar | None:
    if format is None:
        return None
    from llama_cpp.llama_grammar import LlamaGrammar

    _check_repetitions(format, "format")
    try:
        if format == "json":
            from llama_cpp.llama_grammar import JSON_GBNF

            grammar = LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        else:
            grammar = LlamaGrammar.from_json_schema(json.dumps(format), verbose=False)
    except Exception as exc:  # llama-cpp-python's converter on an untrusted schema
        raise InvalidRequestError(
            f"format: cannot turn this JSON schema into a grammar: {exc!r}", fields=["format"]
        ) from exc
    return _RequestGrammar(grammar, "format", "this JSON schema")


def _tool_grammar(forced: ToolCallGrammar | None) -> _RequestGrammar | None:
    """The llama.cpp grammar of a forced tool call (``tool_choice``), or ``None``."""
    if forced is None:
        return None
    from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

    try:
        grammar = LlamaGrammar.from_string(forced.gbnf(json_schema_to_gbnf), verbose=False)
    except Exception as exc:  # llama-cpp-python's converter on untrusted schemas
        raise InvalidRequestError(
            f"tools: cannot turn the tools' parameters into a grammar: {exc!r}", fields=["tools"]
        ) from exc
    return _RequestGrammar(grammar, "tools", "the tools' parameters")


def _accepted_grammar(loaded: _Loaded, requested: _RequestGrammar | None) -> Any:
    """The request's ``LlamaGrammar`` once llama.cpp has accepted it, or ``None``."""
    if requested is None:
        return None
    if not grammar_is_accepted(loaded.llm._model.vocab, requested.grammar):
        raise InvalidRequestError(
            f"{requested.field}: llama.cpp refuses the grammar made from {requested.what} "
            "(a repetition bound over 2,000, such as maxLength or maxItems, or a rule it "
            "cannot build); simplify the schema",
            fields=[requested.field],
        )
    return requested.grammar


def _free(loaded: _Loaded) -> None:
    """Unload a model once no stream uses it (waits for one in another thread)."""
    if loaded.engine is not None:  # it borrows the model: stopped first
        loaded.engine.close()
        loaded.engine = None
    loaded.lock.acquire()
    try:
        close = getattr(loaded.llm, "close", None)
        if close is not None:
            close()
    finally:
        loaded.lock.release()
