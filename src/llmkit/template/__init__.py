"""Ollama's Go chat templates, compiled to Python and rendered byte for byte.

>>> from llmkit.template import Template
>>> t = Template.from_go("{{ range .Messages }}<{{ .Role }}>{{ .Content }}{{ end }}")
>>> t.render([{"role": "user", "content": "hi"}])
'<user>hi'

The compiler works in stages, each in its own module: :mod:`.lexer` ->
:mod:`.parser` (nodes named as Go's ``text/template/parse``, :mod:`.nodes`) ->
:mod:`.codegen` (Python source) -> :mod:`.runtime` (Go's execution rules) with
:mod:`.gofmt` (Go's ``fmt`` and ``encoding/json`` printing).  :mod:`.ollama`
adds what Ollama does around a template: its data, paths and functions.
Templates are untrusted input: compiling or rendering one never runs code
from it, and :class:`~llmkit.template.runtime.Limits` bounds time and memory:

>>> import threading
>>> stop = threading.Event()  # set it to stop a render early (a client went away)
>>> t.render([{"role": "user", "content": "hi"}], limits=Limits(max_seconds=2.0, cancel=stop))
'<user>hi'
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llmkit.errors import (
    InvalidRequestError,
    TemplateCancelledError,
    TemplateError,
    TemplateExecError,
    TemplateLimitError,
    TemplateSyntaxError,
)
from llmkit.template.inference import thinking_tags, tool_call_tag
from llmkit.template.ollama import Compat, OllamaTemplate
from llmkit.template.runtime import Limits
from llmkit.types.messages import Message
from llmkit.types.requests import ChatRequest, GenerateRequest

__all__ = [
    "Compat",
    "Limits",
    "Template",
    "TemplateCancelledError",
    "TemplateError",
    "TemplateExecError",
    "TemplateLimitError",
    "TemplateSyntaxError",
]

_MODELFILE_TEMPLATE = re.compile(
    r'^TEMPLATE\s+(?:"""(.*?)"""|"((?:[^"\\]|\\.)*)"|(.+))$', re.S | re.M | re.I
)


def _as_dict(value: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return dict(value)


def _message(value: BaseModel | Mapping[str, Any]) -> Mapping[str, Any]:
    """A message in Ollama's JSON shape, role lower-cased (as Ollama decodes it); not copied
    when nothing changes, since nothing downstream modifies it."""
    if type(value) is dict:
        role = value.get("role", "")
        if type(role) is str and (role.islower() or not role):
            return value
    message = _as_dict(value)
    message["role"] = str(message.get("role", "")).lower()
    return message


class Template:
    """A compiled Ollama chat template."""

    def __init__(self, compiled: OllamaTemplate) -> None:
        self._compiled = compiled

    @classmethod
    def from_go(cls, source: str, *, name: str = "") -> Template:
        """Compile Go template text; syntax errors are raised now, with line and column."""
        return cls(OllamaTemplate(source, name=name))

    @classmethod
    def from_file(cls, path: str | Path) -> Template:
        """Compile a ``.gotmpl`` file (named after the file)."""
        file = Path(path)
        return cls.from_go(file.read_text(encoding="utf-8"), name=file.name)

    @classmethod
    def from_modelfile(cls, modelfile: str) -> Template:
        """Compile the ``TEMPLATE`` of an Ollama Modelfile."""
        match = _MODELFILE_TEMPLATE.search(modelfile)
        if match is None:
            raise TemplateSyntaxError("the Modelfile has no TEMPLATE instruction")
        triple, quoted, bare = match.groups()
        if triple is not None:
            source = triple
        elif quoted is not None:
            source = re.sub(r"\\(.)", r"\1", quoted)
        else:
            source = bare.strip()
        return cls.from_go(source, name="Modelfile")

    @property
    def source(self) -> str:
        return self._compiled.source

    @property
    def python_source(self) -> str:
        """The generated Python code (deterministic for a given template)."""
        return self._compiled.python_source

    @property
    def vars(self) -> list[str]:
        """The identifiers Ollama collects from the template (lower-cased)."""
        return list(self._compiled.vars)

    @property
    def tool_call_tag(self) -> str:
        """The text Ollama expects before tool calls (``{`` when the template shows none)."""
        return tool_call_tag(self._compiled.trees[self._compiled.name])

    @property
    def thinking_tags(self) -> tuple[str, str]:
        """The opening and closing thinking tags, or ``("", "")``."""
        return thinking_tags(self._compiled.trees[self._compiled.name])

    def to_jinja(self) -> str:
        """An equivalent Hugging Face Jinja2 chat template (see :mod:`llmkit.template.jinja`)."""
        from llmkit.template.jinja import to_jinja

        return to_jinja(self._compiled)

    def render_request(
        self,
        request: ChatRequest | GenerateRequest,
        *,
        today: dt.date | None = None,
        limits: Limits | None = None,
    ) -> str:
        """The prompt for an llmkit chat or generate request, as Ollama builds it.

        A generate request becomes Ollama's messages (its ``system``, then the prompt as a
        user message) or, with a ``suffix``, the fill-in-the-middle values.  ``limits`` as
        for :meth:`render`.
        """
        if isinstance(request, ChatRequest):
            return self.render(
                request.messages,
                tools=request.tools,
                think=request.think,
                today=today,
                limits=limits,
            )
        turns = [Message(role="user", content=request.prompt, images=request.images)]
        if request.system:
            turns.insert(0, Message(role="system", content=request.system))
        return self.render(
            turns,
            think=request.think,
            prompt=request.prompt,
            suffix=request.suffix or "",
            image_tags=bool(request.images),
            today=today,
            limits=limits,
        )

    def render(
        self,
        messages: Sequence[BaseModel | Mapping[str, Any]] = (),
        *,
        tools: Sequence[BaseModel | Mapping[str, Any]] | None = None,
        think: bool | str | None = None,
        prompt: str = "",
        suffix: str = "",
        system: str | None = None,
        image_tags: bool = False,
        today: dt.date | None = None,
        compat: Compat = "current",
        limits: Limits | None = None,
    ) -> str:
        """The prompt Ollama would send for this chat.

        ``system`` is a model-level system prompt (a Modelfile's SYSTEM): it is
        put first unless the first message is a system message.
        ``image_tags`` applies Ollama's ``[img-N]`` tags to messages with images.
        ``today`` fixes the date ``currentDate`` prints.

        ``limits`` (default ``Limits()``) bound the render, since a template is untrusted
        input: steps, depth, output and value size, printf widths, the values functions
        create, wall-clock time (``max_seconds``, 10 s) and a ``cancel`` flag the caller
        may set (a ``threading.Event`` or a callable).  Going past one raises
        :class:`TemplateLimitError` (:class:`TemplateCancelledError` for a cancel), naming
        the template line and column; see :class:`~llmkit.template.runtime.Limits`.
        """
        if compat not in ("current", "v0.14", "v0.13"):
            raise TemplateError(f"compat must be 'current', 'v0.14' or 'v0.13', not {compat!r}")
        _check_request(messages, think, compat)
        shaped: list[Mapping[str, Any]] = [_message(m) for m in messages]
        if system is not None and not (shaped and shaped[0].get("role") == "system"):
            shaped.insert(0, {"role": "system", "content": system})
        if image_tags:
            shaped = _tag_images(shaped)
        return self._compiled.execute(
            shaped,
            tools=[_as_dict(t) for t in tools] if tools is not None else None,
            prompt=prompt,
            suffix=suffix,
            think=think,
            today=today,
            compat=compat,
            limits=limits,
        )


_LEVELS = frozenset({"low", "medium", "high"})
_THINK_LEVELS = {"current": _LEVELS | {"max"}, "v0.14": _LEVELS | {"max"}, "v0.13": _LEVELS}


def _check_request(
    messages: Sequence[BaseModel | Mapping[str, Any]], think: bool | str | None, compat: str
) -> None:
    """What Ollama rejects when it decodes the request, before any template runs."""
    if isinstance(think, str) and think not in _THINK_LEVELS[compat]:
        levels = ", ".join(sorted(_THINK_LEVELS[compat]))
        raise InvalidRequestError(
            f"think: {think!r} is not a valid level ({levels}, or true/false)", fields=["think"]
        )
    for index, message in enumerate(messages):
        if isinstance(message, BaseModel):
            continue
        for number, call in enumerate(message.get("tool_calls") or []):
            arguments = (call.get("function") or {}).get("arguments")
            if arguments is not None and not isinstance(arguments, Mapping):
                raise InvalidRequestError(
                    f"messages.{index}.tool_calls.{number}.function.arguments: "
                    f"must be a JSON object, not {type(arguments).__name__}",
                    fields=[f"messages.{index}.tool_calls.{number}.function.arguments"],
                )


def _tag_images(messages: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``[img-N]`` for each image, counted across messages (server/prompt.go)."""
    counter = 0
    tagged: list[Mapping[str, Any]] = []
    for message in messages:
        prefix = ""
        content = message.get("content") or ""
        for _ in message.get("images") or []:
            tag = f"[img-{counter}]"
            counter += 1
            if "[img]" in content:
                content = content.replace("[img]", tag, 1)
            else:
                prefix += tag
        tagged.append({**message, "content": prefix + content})
    return tagged
