"""Template errors: each names the template, line and column, and shows the line."""

from __future__ import annotations

from llmkit.errors import InvalidRequestError

__all__ = [
    "TemplateCancelledError",
    "TemplateError",
    "TemplateExecError",
    "TemplateLimitError",
    "TemplateSyntaxError",
]


class TemplateError(InvalidRequestError):
    """A Go template could not be compiled or rendered.

    ``name``, ``line`` and ``column`` (1-based) say where; ``source_line`` is
    the offending line of the template.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str = "",
        line: int = 0,
        column: int = 0,
        source_line: str = "",
    ) -> None:
        where = f"{name}:{line}:{column}" if line else name
        text = f"template: {where}: {message}" if where else f"template: {message}"
        if source_line:
            caret = " " * max(column - 1, 0) + "^"
            text += f"\n    {source_line}\n    {caret}"
        super().__init__(text, fields=["template"])
        self.reason = message
        self.name = name
        self.line = line
        self.column = column
        self.source_line = source_line


class TemplateSyntaxError(TemplateError):
    """The template does not parse (Go reports these at parse time)."""


class TemplateExecError(TemplateError):
    """The template failed while executing (Go's execution errors)."""


class TemplateLimitError(TemplateExecError):
    """Rendering exceeded a safety limit of :class:`~llmkit.template.Limits` (steps, depth,
    output or value size, printf width, created values, time) or ran out of memory."""


class TemplateCancelledError(TemplateExecError):
    """The caller cancelled the render (``Limits.cancel`` became set)."""
