"""What every in-process runtime shares: prompts, context fitting, output plans, decoding.

A runtime plug-in (``llmkit-llamacpp``, ``llmkit-ctransformers``, a third party's) owns
only what is its runtime's: loading a model, tokenizing, evaluating tokens and picking the
next one, telling the end of generation.  Everything between a request and those calls is
here, so that every in-process backend behaves alike:

* :class:`PromptBuilder` turns a chat or generate request into prompt tokens: the Go
  template (the backend's, or a request's own ``template``, compiled once and bounded in
  size), else the model's Jinja chat template, else the raw prompt; ``system``,
  ``suffix`` and ``context``; a chat's history fitted to ``num_ctx`` by bisection
  (Ollama's rule: the oldest non-system messages go first, one token kept for the answer).
  Renders are bounded by their limits and stop early when an async caller is cancelled.
* :func:`output_plan` decides a chat's tool-call format, the parser that splits tool calls
  and thinking out of the text, and the grammar of a forced call (for runtimes that can
  constrain sampling).
* :func:`decode_text` turns sampled tokens into text: UTF-8 pieces held until whole, stop
  strings cut, the tail flushed; :func:`done_event` builds the final event with Ollama's
  counts and durations.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from llmkit.backends.base import caller_cancelled
from llmkit.chat_template import ChatTemplateLimits, JinjaChatTemplate
from llmkit.errors import (
    ContextWindowError,
    InvalidRequestError,
    ModelNotFoundError,
    UnsupportedFeatureError,
)
from llmkit.models.registry import DEFAULT_MODEL
from llmkit.models.store import ModelStore
from llmkit.streaming.text import StopScanner, Utf8Pieces
from llmkit.template import Limits, Template
from llmkit.tokens.context import ContextFit, ContextTruncatedWarning, fit_messages
from llmkit.tools.grammar import ToolCallGrammar
from llmkit.tools.stream import infer_tool_format, stream_parser
from llmkit.types.events import Done, TextDelta
from llmkit.types.messages import Message
from llmkit.types.requests import ChatRequest, GenerateRequest
from llmkit.types.responses import Usage

__all__ = [
    "GO_LIMITS",
    "JINJA_LIMITS",
    "MAX_REQUEST_TEMPLATE",
    "DecodeResult",
    "ModelSource",
    "OutputPlan",
    "PromptBuilder",
    "PromptTokens",
    "as_go_template",
    "checked_prompt",
    "decode_text",
    "done_event",
    "now",
    "output_plan",
    "token_limit",
]

#: The longest Go template a generate request may carry (256 KiB): compiling is not
#: bounded by the render limits (about 4 s a MB).
MAX_REQUEST_TEMPLATE = 256 * 1024
#: Renders keep their default bounds and stop early when an async caller is cancelled
#: (a client of ``llmkit serve`` went away): ``caller_cancelled`` is false elsewhere.
GO_LIMITS = Limits(cancel=caller_cancelled)
JINJA_LIMITS = ChatTemplateLimits(cancel=caller_cancelled)


def now() -> str:
    """The current time as Ollama writes ``created_at`` (UTC, microseconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_go_template(value: Template | str | os.PathLike[str] | None) -> Template | None:
    """A Go template from a compiled one, a file (``.gotmpl`` or Modelfile), or text."""
    if value is None or isinstance(value, Template):
        return value
    text = str(value)
    path = Path(text)
    if isinstance(value, os.PathLike) or ("{{" not in text and "\n" not in text and path.is_file()):
        if not path.is_file():
            raise ModelNotFoundError(f"template file not found: {path}", path=str(path))
        content = path.read_text(encoding="utf-8")
        if re.search(r"^\s*TEMPLATE\s", content, re.M | re.I) and re.search(
            r"^\s*FROM\s", content, re.M | re.I
        ):
            return Template.from_modelfile(content)
        return Template.from_go(content, name=path.name)
    return Template.from_go(text)


class ModelSource:
    """Which model file a request means: the backend's own (``model``: a store name or a
    path, resolved and pulled if need be when the backend is made) or another one a request
    names (resolved then)."""

    def __init__(self, model: str | None, *, store: ModelStore | None, pull: bool) -> None:
        self.store = store or ModelStore()
        self.pull = pull
        self.path = self.store.resolve(model, pull=pull)
        self.name = model or DEFAULT_MODEL

    def resolve(self, model: str | None) -> tuple[Path, str]:
        """The file and the name to report for a request's ``model``."""
        if model is None or model == self.name:
            return self.path, self.name
        return self.store.resolve(model, pull=self.pull), model


class PromptTokens(NamedTuple):
    """A prompt's tokens and, for a chat, the context fit that chose its messages."""

    tokens: list[int]
    fit: ContextFit | None = None


@dataclass
class ModelText:
    """What a loaded model offers to prompt building."""

    tokenize: Callable[[str, bool], list[int]]
    """``tokenize(text, add_bos)``: the model's tokens for ``text`` (special tokens parsed)."""
    n_ctx: int
    """The context, in tokens, one request may fill."""
    template_source: str | None
    """The model file's Jinja chat template, if it has one."""
    bos_text: str = ""
    eos_text: str = ""
    name: str = "the model"
    """How errors name the model (its file name)."""


class PromptBuilder:
    """Builds prompt tokens from requests for one backend (see the module docstring).

    ``go_template`` (an Ollama template) takes precedence over ``chat_template`` (Jinja
    source replacing the model file's own); ``backend`` names the backend in errors.
    """

    def __init__(
        self,
        backend: str,
        *,
        go_template: Template | None = None,
        chat_template: str | None = None,
    ) -> None:
        self.backend = backend
        self.go_template = go_template
        self.chat_template = chat_template
        self._request_templates: dict[str, Template] = {}
        self._jinja: dict[tuple[str, str, str], JinjaChatTemplate] = {}

    # -- templates ------------------------------------------------------------

    def go_template_for(self, source: str | None) -> Template | None:
        """A request's own ``template`` compiled (once; at most 256 KiB), else the
        backend's Go template."""
        if source is None:
            return self.go_template
        compiled = self._request_templates.get(source)
        if compiled is None:
            if len(source) > MAX_REQUEST_TEMPLATE:
                raise InvalidRequestError(
                    f"template: {len(source)} characters is more than the "
                    f"{MAX_REQUEST_TEMPLATE} a request's template may have",
                    fields=["template"],
                )
            compiled = Template.from_go(source, name="request")
            if len(self._request_templates) >= 16:
                self._request_templates.clear()
            self._request_templates[source] = compiled
        return compiled

    def jinja_template(self, model: ModelText) -> JinjaChatTemplate | None:
        """The Jinja chat template in use (the backend's ``chat_template`` or the model's)."""
        source = self.chat_template or model.template_source
        if source is None:
            return None
        key = (source, model.bos_text, model.eos_text)
        template = self._jinja.get(key)
        if template is None:
            if len(self._jinja) >= 8:
                self._jinja.clear()
            template = JinjaChatTemplate(
                source, bos_token=model.bos_text, eos_token=model.eos_text, limits=JINJA_LIMITS
            )
            self._jinja[key] = template
        return template

    # -- prompts --------------------------------------------------------------

    def chat(
        self, request: ChatRequest, model: ModelText, *, tools: list[Any] | None = None
    ) -> PromptTokens:
        """A chat's prompt, its history fitted to ``model.n_ctx`` (``truncate=False``: an
        error instead of dropping messages)."""

        def render(messages: list[Message]) -> str:
            if self.go_template is not None:
                return self.go_template.render(messages, tools=tools, limits=GO_LIMITS)
            template = self.jinja_template(model)
            if template is None:
                raise InvalidRequestError(
                    f"the model {model.name} has no chat template; pass chat_template= to "
                    "the backend, or use generate() with a prompt",
                    fields=["messages"],
                )
            return template.render(messages, tools=tools)

        last: list[tuple[list[Message], list[int]]] = []

        def count(candidate: list[Message]) -> int:
            tokens = model.tokenize(render(candidate), True)
            last[:] = [(candidate, tokens)]
            return len(tokens)

        fit = fit_messages(
            request.messages,
            count,
            model.n_ctx,
            reserve=1,
            truncate=request.truncate is not False,
        )
        if last and last[0][0] == fit.messages:  # the fit returns the candidate counted last
            return PromptTokens(last[0][1], fit)
        return PromptTokens(model.tokenize(render(fit.messages), True), fit)

    def generate(
        self, request: GenerateRequest, model: ModelText, go: Template | None
    ) -> PromptTokens:
        """A generate request's prompt: ``go`` (from :meth:`go_template_for`) unless
        ``raw``, else the Jinja template, else the prompt itself; ``context`` first."""
        context = list(request.context or [])
        turns = [Message(role="user", content=request.prompt)]
        if request.system:
            turns.insert(0, Message(role="system", content=request.system))
        if go is not None and not request.raw:
            text = go.render(
                turns, prompt=request.prompt, suffix=request.suffix or "", limits=GO_LIMITS
            )
            return PromptTokens(context + model.tokenize(text, not context))
        template = None if request.raw else self.jinja_template(model)
        if template is None:
            if request.system and not request.raw:
                raise UnsupportedFeatureError(
                    "system",
                    self.backend,
                    f"the model {model.name} has no chat template to put it in",
                )
            return PromptTokens(context + model.tokenize(request.prompt, not context))
        return PromptTokens(context + model.tokenize(template.render(turns), not context))

    def check_suffix(self, request: GenerateRequest, go: Template | None) -> None:
        """Fill-in-the-middle needs a Go template (one that uses ``.Suffix``)."""
        if request.suffix is not None and go is None:
            raise UnsupportedFeatureError(
                "suffix", self.backend, "fill-in-the-middle needs a Go template (go_template=)"
            )


def checked_prompt(prompt: PromptTokens, n_ctx: int, *, stacklevel: int = 3) -> PromptTokens:
    """``prompt`` if it leaves room for one token of answer in ``n_ctx``, else
    :class:`~llmkit.errors.ContextWindowError`; a fit that dropped messages warns
    (:class:`~llmkit.tokens.ContextTruncatedWarning`)."""
    if not prompt.tokens:
        raise InvalidRequestError("the prompt is empty", fields=["prompt"])
    if len(prompt.tokens) >= n_ctx:
        raise ContextWindowError(
            f"the prompt is {len(prompt.tokens)} tokens, which does not fit num_ctx={n_ctx} "
            "with room for one token of answer",
            prompt_tokens=len(prompt.tokens),
            num_ctx=n_ctx,
            reserved=1,
        )
    if prompt.fit is not None and prompt.fit.truncated:
        warnings.warn(ContextTruncatedWarning(prompt.fit), stacklevel=stacklevel)
    return prompt


def token_limit(num_predict: int, room: int) -> int:
    """How many tokens to generate: ``num_predict`` (negative: no limit) within ``room``."""
    return room if num_predict < 0 else min(num_predict, room)


@dataclass(frozen=True)
class OutputPlan:
    """How a chat's output is read: the parser (tool calls, thinking) and, for a forced
    tool call, the grammar that makes the model write one."""

    parser: Any
    """A :func:`~llmkit.tools.stream.stream_parser` for :func:`~llmkit.tools.stream.parse_stream`
    (``None``: the text as it is)."""
    forced: ToolCallGrammar | None
    tools: list[Any] | None


def output_plan(
    request: ChatRequest,
    *,
    backend: str,
    tool_format: str | None,
    go_template: Template | None,
    template_source: Callable[[], str | None],
    can_constrain: bool,
) -> OutputPlan:
    """The parser and forced-call grammar for ``request``.

    The tool-call format is ``tool_format`` when given, else the Go template's own (its
    tool-call tag), else inferred from the Jinja template (``template_source()``, read only
    when needed).  ``can_constrain`` says the runtime can sample under a grammar; without
    it a forced ``tool_choice`` is refused (the model could not be made to call a tool).
    """
    tools = request.offered_tools()
    if request.format is not None or not (tools or request.think):
        return OutputPlan(None, None, tools)
    forced = request.tool_choice not in (None, "auto", "none")
    if forced and not can_constrain:
        raise UnsupportedFeatureError(
            "tool_choice", backend, "forcing a tool call needs grammar-constrained sampling"
        )
    fmt = tool_format
    if fmt is None and tools and (go_template is None or forced):
        fmt = infer_tool_format(template_source())
    grammar = ToolCallGrammar.for_choice(tools, request.tool_choice, fmt) if forced else None
    go = None if fmt else go_template
    parser = stream_parser(tools=tools, think=request.think, go_template=go, tool_format=fmt)
    return OutputPlan(parser, grammar, tools)


@dataclass
class DecodeResult:
    """How :func:`decode_text` ended: ``stop`` or ``length``, and the tokens it kept."""

    reason: str
    tokens: list[int]
    first_token_ns: int | None


def decode_text(
    tokens: Iterable[int],
    *,
    piece: Callable[[int], bytes],
    is_end: Callable[[int], bool],
    stop: list[str],
    limit: int,
    clock: Callable[[], int],
) -> Generator[TextDelta, None, DecodeResult]:
    """Text of the sampled ``tokens`` until the end of generation, a stop string or
    ``limit`` tokens; returns how it ended.

    ``piece(token)`` is a token's bytes (a UTF-8 character split over tokens is held until
    whole); stop strings are cut from the text (``StopScanner``); what is held is flushed
    at the end.  ``tokens`` is read lazily, one token after the text of the one before.
    """
    scanner = StopScanner(stop)
    pieces = Utf8Pieces()
    kept: list[int] = []
    reason = "length"
    first: int | None = None
    if limit > 0:
        for token in tokens:
            if first is None:
                first = clock()
            if is_end(token):
                reason = "stop"
                break
            kept.append(token)
            text, stopped = scanner.feed(pieces.feed(piece(token)))
            if text:
                yield TextDelta(text=text)
            if stopped:
                reason = "stop"
                break
            if len(kept) >= limit:
                break
    if not scanner.stopped:
        tail, _ = scanner.feed(pieces.flush())
        tail += scanner.flush() if not scanner.stopped else ""
        if tail:
            yield TextDelta(text=tail)
    return DecodeResult(reason, kept, first)


def done_event(
    name: str,
    reason: str,
    prompt: list[int],
    tokens: list[int],
    fit: ContextFit | None,
    *,
    context: bool,
    times: tuple[int, int, int | None, int],
) -> Done:
    """The final event: why generation stopped, the counts and durations (``times``: the
    request's start, the load time, the first token's time if any, the end, all
    ``perf_counter_ns``); ``context`` adds the prompt and answer tokens (generate)."""
    started, load_ns, first_token, ended = times
    first = first_token or ended
    return Done(
        done_reason=reason,
        model=name,
        created_at=now(),
        context=(prompt + tokens) if context else None,
        dropped_messages=fit.dropped if fit is not None and fit.truncated else None,
        usage=Usage(
            total_duration=ended - started,
            load_duration=load_ns,
            prompt_eval_count=len(prompt),
            prompt_eval_duration=max(first - started - load_ns, 0),
            eval_count=len(tokens),
            eval_duration=ended - first,
        ),
    )
