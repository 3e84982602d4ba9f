"""Hugging Face style Jinja chat templates, rendered in a sandbox (pure, no I/O).

A GGUF file carries its chat template as untrusted text
(``tokenizer.chat_template``).  It is compiled once in jinja2's
``ImmutableSandboxedEnvironment``: no attribute access to internals, no
mutation of the data passed in, and only the helpers below are callable.
Errors name the template's line.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from llmkit.errors import InvalidRequestError
from llmkit.types.messages import Message, Tool

__all__ = ["ChatTemplateError", "JinjaChatTemplate", "hf_messages", "hf_tools"]


class ChatTemplateError(InvalidRequestError):
    """A chat template failed to compile or raised while rendering."""


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False) -> str:
    # HF's tojson keeps non-ASCII as is, unlike jinja2's HTML-safe filter.
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


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
    """A compiled chat template; ``render()`` gives the prompt text."""

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "") -> None:
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, undefined=jinja2.Undefined
        )
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        env.filters["tojson"] = _tojson
        try:
            self._template = env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ChatTemplateError(
                f"chat template syntax error at line {exc.lineno}: {exc.message}"
            ) from exc

    def render(
        self,
        messages: list[Message],
        *,
        tools: list[Tool] | None = None,
        add_generation_prompt: bool = True,
        **variables: Any,
    ) -> str:
        """The prompt for these messages, ending with the assistant's turn opened."""
        try:
            return self._template.render(
                messages=hf_messages(messages),
                tools=hf_tools(tools),
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                **variables,
            )
        except jinja2.TemplateError as exc:
            line = _template_line(exc)
            where = f" (template line {line})" if line else ""
            raise ChatTemplateError(f"chat template failed{where}: {exc}") from exc


def _template_line(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
