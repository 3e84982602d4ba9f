"""Hugging Face style Jinja chat templates, rendered in a sandbox (pure, no I/O).

A GGUF file carries its chat template as untrusted text
(``tokenizer.chat_template``).  It is compiled once in jinja2's
``ImmutableSandboxedEnvironment``: no attribute access to internals, no
mutation of the data passed in, and only the helpers below are callable.

Compiling and rendering are bounded by :class:`ChatTemplateLimits` (source size,
loop iterations and calls, output and value sizes, memory built, ``range`` size,
wall-clock time), enforced from inside the sandbox, so a hostile template fails
fast with :class:`ChatTemplateError` instead of running forever or filling memory.
Errors name the template's line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jinja2

from llmkit._jinja_limits import BoundedEnvironment, ChatTemplateLimits, check_strftime, to_json
from llmkit.errors import ChatTemplateError
from llmkit.types.messages import Message, Tool

__all__ = [
    "ChatTemplateError",
    "ChatTemplateLimits",
    "JinjaChatTemplate",
    "hf_messages",
    "hf_tools",
]

# A template's own message (raise_exception) or a Python error is cut to this length.
_MAX_MESSAGE = 500


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(_shorten(str(message)))


def _strftime_now(fmt: str) -> str:
    check_strftime(fmt)
    return datetime.now().strftime(fmt)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False) -> str:
    # HF's tojson keeps non-ASCII as is, unlike jinja2's HTML-safe filter.
    return to_json(value, indent=indent, ensure_ascii=ensure_ascii)


def hf_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages in the shape Hugging Face templates expect (OpenAI-style tool calls)."""
    shaped: list[dict[str, Any]] = []
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.thinking:
            item["reasoning_content"] = message.thinking
        if message.tool_calls:
            item["tool_calls"] = [
                {
                    "type": "function",
                    **({"id": call.id} if call.id else {}),
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
                for call in message.tool_calls
            ]
        if message.tool_call_id:
            item["tool_call_id"] = message.tool_call_id
        if message.tool_name:
            item["name"] = message.tool_name
        shaped.append(item)
    return shaped


def hf_tools(tools: list[Tool] | None) -> list[dict[str, Any]] | None:
    """Tools as JSON-schema dicts, or ``None``."""
    return [tool.model_dump(exclude_none=True) for tool in tools] if tools else None


class JinjaChatTemplate:
    """A compiled chat template; ``render()`` gives the prompt text.

    ``limits`` bounds compiling and every render (:class:`ChatTemplateLimits`; the
    defaults when ``None``).
    """

    def __init__(
        self,
        source: str,
        *,
        bos_token: str = "",
        eos_token: str = "",
        limits: ChatTemplateLimits | None = None,
    ) -> None:
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.limits = limits = limits if limits is not None else ChatTemplateLimits()
        if len(source) > limits.max_template_size:
            raise ChatTemplateError(
                f"chat template is {len(source)} characters, past "
                f"ChatTemplateLimits.max_template_size = {limits.max_template_size}"
            )
        env = BoundedEnvironment(
            limits, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.Undefined
        )
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        env.filters["tojson"] = _tojson
        self._env = env
        try:
            self._template = env.compile_bounded(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ChatTemplateError(
                f"chat template syntax error at line {exc.lineno}: {exc.message}"
            ) from exc
        except Exception as exc:  # too deeply nested for Python's parser, out of memory ...
            raise ChatTemplateError(
                f"chat template could not be compiled: {_describe(exc, compiling=True)}"
            ) from _unpinned(exc)

    def render(
        self,
        messages: list[Message],
        *,
        tools: list[Tool] | None = None,
        add_generation_prompt: bool = True,
        **variables: Any,
    ) -> str:
        """The prompt for these messages, ending with the assistant's turn opened.

        Raises :class:`ChatTemplateError` for anything the template raises (an error of
        its own, a Python error such as a division by zero, running out of memory or
        recursion) and when it goes past one of its :class:`ChatTemplateLimits`.
        """
        context = dict(
            messages=hf_messages(messages),
            tools=hf_tools(tools),
            add_generation_prompt=add_generation_prompt,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            **variables,
        )
        try:
            return self._env.render_bounded(self._template, context)
        except Exception as exc:
            line = _template_line(exc)
            where = f" (template line {line})" if line else ""
            raise ChatTemplateError(
                f"chat template failed{where}: {_describe(exc)}"
            ) from _unpinned(exc)


def _describe(exc: Exception, *, compiling: bool = False) -> str:
    if isinstance(exc, jinja2.TemplateError):
        return _shorten(str(exc))
    if isinstance(exc, MemoryError):
        return "out of memory"
    if isinstance(exc, RecursionError):
        if compiling:
            return "nested too deeply (RecursionError)"
        return "recursion too deep (a macro or recursive loop calling itself?)"
    return _shorten(f"{type(exc).__name__}: {exc}")


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _unpinned(exc: Exception) -> Exception:
    """``exc`` to chain from; a MemoryError loses its traceback, which pins what was built."""
    return exc.with_traceback(None) if isinstance(exc, MemoryError) else exc


def _template_line(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
