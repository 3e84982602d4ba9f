"""A compiled Go template: parse -> generate Python -> compile once, execute many times.

``GoTemplate`` knows Go's ``text/template`` and nothing of Ollama; the
Ollama layer (:mod:`llmkit.template.ollama`) builds the data and the extra
functions and calls :meth:`GoTemplate.execute`.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping
from typing import Any

from llmkit.errors import (
    TemplateCancelledError,
    TemplateError,
    TemplateExecError,
    TemplateLimitError,
)
from llmkit.template import gofmt, runtime
from llmkit.template.codegen import CHECKED_FUNCTIONS, generate
from llmkit.template.nodes import ListNode
from llmkit.template.parser import parse, position
from llmkit.template.runtime import (
    NO_VALUE,
    Budget,
    Cancelled,
    ExecError,
    LimitExceeded,
    Limits,
    Runtime,
    truth,
)

__all__ = ["GoTemplate"]


def _fail(message: str) -> Any:
    raise ExecError(message)


class _UndefinedFunction(ExecError):
    pass


def _undefined(name: str) -> Callable[..., Any]:
    def undefined(*args: Any) -> Any:
        raise _UndefinedFunction(f'"{name}" is not a defined function')

    return undefined


def _field_missing_invalid(receiver: Any, name: str, has_args: bool = False) -> Any:
    """``evalField`` without ``missingkey=zero``: a missing map key is no value."""
    if type(receiver) is dict and not has_args:
        return receiver.get(name, NO_VALUE)
    return Runtime.field(receiver, name, has_args)


def _not(value: Any) -> bool:
    return not truth(value)


def _escaper(escape: Callable[[str], str]) -> Callable[..., str]:
    return lambda *args: escape(gofmt.eval_args_string(*args))


BUILTINS: dict[str, Callable[..., Any]] = {
    "eq": runtime.eq,
    "ne": runtime.ne,
    "lt": runtime.lt,
    "le": runtime.le,
    "gt": runtime.gt,
    "ge": runtime.ge,
    "len": runtime.length,
    "index": runtime.index,
    "slice": runtime.slice_,
    "not": _not,
    "print": gofmt.sprint,
    "println": gofmt.sprintln,
    "html": _escaper(gofmt.html_escape),
    "js": _escaper(gofmt.js_escape),
    "urlquery": _escaper(gofmt.url_query_escape),
}

#: Builtins each execution binds to its runtime, which bounds what they build.
_BOUNDED: dict[str, str] = {
    "print": "sprint",
    "println": "sprintln",
    "printf": "sprintf",
    "html": "html",
    "js": "js",
    "urlquery": "urlquery",
    "slice": "slice",
}

_NAMESPACE: dict[str, Any] = {
    "NO_VALUE": NO_VALUE,
    "truth": truth,
    "dig": Runtime.dig,
    "printable": Runtime.printable,
    "field": Runtime.field,
    "any_arg": Runtime.any_arg,
    "string_arg": Runtime.string_arg,
    "fail": _fail,
    "len_slice_from": runtime.len_slice_from,
}


class _Run(Runtime):
    def __init__(
        self,
        templates: Mapping[str, Callable[..., int]],
        functions: Mapping[str, Callable[..., Any]],
        limits: Limits,
        budget: Budget | None = None,
    ) -> None:
        super().__init__(functions, limits, budget)
        self.templates = templates

    def template(self, name: str, dot: Any, room: int) -> int:
        """``{{ template name dot }}``: the characters it wrote (at most ``room`` of them)."""
        function = self.templates.get(name)
        if function is None:
            raise ExecError(f'template "{name}" not defined')
        self.tick()
        if self.depth >= self.limits.max_depth:
            raise LimitExceeded(
                f"exceeded maximum template depth ({self.limits.max_depth}; Limits.max_depth)"
            )
        self.depth += 1
        self.room = room
        try:
            return function(self, dot)
        finally:
            self.depth -= 1


def _checked(run: Runtime, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A caller's replacement for a self-bounded builtin: its results are checked."""

    def checked(*args: Any) -> Any:
        return run.produced(function(*args), name)

    return checked


class GoTemplate:
    """A Go template set compiled to Python.

    ``functions`` are the extra template functions (name -> callable); their
    names must be known at parse time, as in Go.  Compiling never runs
    anything from the template; executing runs only the generated code,
    which calls the runtime and the given functions.  The results of extra
    functions are checked against the limits (a string or list counts towards
    ``Limits.max_alloc`` and may not exceed ``Limits.max_output``), except for
    the names in ``small_results`` (functions known to return little, such as
    a date).
    """

    def __init__(
        self,
        source: str,
        *,
        name: str = "",
        functions: Mapping[str, Callable[..., Any]] | None = None,
        trees: dict[str, ListNode] | None = None,
        missing_key: str = "zero",
        small_results: frozenset[str] = frozenset(),
    ) -> None:
        self.source = source
        self.name = name
        self.extra_functions = dict(functions or {})
        self.trees = (
            trees if trees is not None else parse(source, name=name, functions=self.extra_functions)
        )
        # a caller's function replacing a builtin is checked like any other function
        checked = (CHECKED_FUNCTIONS - self.extra_functions.keys()) | small_results
        generated = generate(self.trees, checked)
        self.python_source = generated.source
        self._line_map = generated.line_map
        self._filename = f"<llmkit template {name!r}>"
        try:
            code = compile(generated.source, self._filename, "exec")
        except (SyntaxError, RecursionError, MemoryError) as exc:
            raise TemplateLimitError(
                f"template too deeply nested to compile: {exc}", name=name
            ) from None
        module = types.ModuleType("llmkit_template")
        module.__dict__.update(_NAMESPACE)
        if missing_key == "default":
            module.__dict__["field"] = _field_missing_invalid
        exec(code, module.__dict__)
        self._templates: dict[str, Callable[..., int]] = module.TEMPLATES
        self._function_names = {python: name for name, python in generated.functions.items()}
        self._functions_used = generated.functions_used
        self._table: dict[str, Callable[..., Any]] = {**BUILTINS, **self.extra_functions}
        # the builtins each execution binds to its runtime (the caller's own ones stay)
        self._bounded = tuple(
            (used, _BOUNDED[used])
            for used in sorted(self._functions_used & _BOUNDED.keys())
            if used not in self.extra_functions
        )
        self._unbound = frozenset(self._functions_used - _BOUNDED.keys())

    def defined(self) -> list[str]:
        """The names of every template in the set."""
        return sorted(self._templates)

    def execute(
        self,
        data: Any,
        *,
        name: str | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        limits: Limits | None = None,
        budget: Budget | None = None,
    ) -> str:
        """Run template ``name`` (default: the root) with ``data`` as dot and ``$``.

        ``limits`` bound the execution (:class:`~llmkit.template.runtime.Limits`; its
        ``cancel`` stops it early); ``budget``, when given, is shared with other executions
        of the same render, which then draw on the same limits (and ``limits`` is ignored).
        """
        if budget is None:
            budget = Budget(limits or _DEFAULT_LIMITS)
        table = {**self._table, **functions} if functions else dict(self._table)
        for missing in self._unbound - table.keys():
            table[missing] = _undefined(missing)
        run = _Run(self._templates, table, budget.limits, budget)
        for used, method in self._bounded:
            if functions and used in functions:  # replaced for this call only: checked
                table[used] = _checked(run, used, functions[used])
            else:
                table[used] = getattr(run, method)
        target = self.name if name is None else name
        function = self._templates.get(target)
        if function is None:
            raise TemplateExecError(
                f'no template "{target}" associated with template "{self.name}"', name=self.name
            )
        run.room = budget.limits.max_output - budget.output
        try:
            if budget.limits.cancel is not None:
                run.poll()
            written = function(run, data)
            result = "".join(run.out)
        except TemplateError:
            raise
        except RecursionError:
            raise TemplateLimitError("template recursion too deep", name=self.name) from None
        except Exception as exc:  # every failure of untrusted input is translated
            raise self._located(exc, target, table) from None
        finally:
            budget.steps = run.steps
            budget.alloc = run.alloc
        budget.output += written
        return result

    def _located(
        self, exc: Exception, target: str, table: Mapping[str, Callable[..., Any]]
    ) -> TemplateExecError:
        """Name the template, line and column, and the function that failed, as Go does.

        A limit (:class:`LimitExceeded`, or running out of memory) becomes a
        :class:`TemplateLimitError`, a cancel a :class:`TemplateCancelledError`.
        """
        pos = None
        template_name = target
        callee = None
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename == self._filename:
                pos = self._line_map.get(tb.tb_lineno, pos)
                template_name = self._function_names.get(code.co_name, template_name)
                callee = tb.tb_next.tb_frame.f_code if tb.tb_next is not None else None
            tb = tb.tb_next
        function = _function_of(callee, table) if callee is not None else None
        kind: type[TemplateExecError] = TemplateExecError
        if isinstance(exc, MemoryError):
            kind = TemplateLimitError
            exc = ExecError(
                "ran out of memory (lower Limits.max_output or Limits.max_alloc to bound it)"
            )
        elif isinstance(exc, LimitExceeded):
            kind = TemplateLimitError
        elif isinstance(exc, Cancelled):
            kind = TemplateCancelledError
        if function is not None and not isinstance(exc, _UndefinedFunction):
            exc = ExecError(f"error calling {function}: {exc}")
        elif not isinstance(exc, ExecError):
            exc = ExecError(f"{type(exc).__name__}: {exc}")
        if pos is None:
            return kind(f'executing "{template_name}": {exc}', name=self.name)
        line, column, source_line = position(self.source, pos)
        action = _action_text(self.source, pos)
        return kind(
            f'executing "{template_name}" at <{action}>: {exc}',
            name=self.name,
            line=line,
            column=column,
            source_line=source_line,
        )


_DEFAULT_LIMITS = Limits()


def _function_of(code: Any, table: Mapping[str, Callable[..., Any]]) -> str | None:
    """The template function whose Python code is ``code``, if any."""
    for name, function in table.items():
        inner = getattr(function, "__func__", function)
        if getattr(inner, "__code__", None) is code:
            return name
    return None


_TEMPLATE_KEYWORD = re.compile(r"\{\{-?\s*(?:template|block)\s*$")


def _action_text(source: str, pos: int) -> str:
    end = source.find("}}", pos)
    text = source[pos : end if end >= 0 else len(source)].strip()
    text = text.removesuffix("-").strip()
    if _TEMPLATE_KEYWORD.search(source, max(0, pos - 64), pos):
        return "{{template " + text + "}}"  # as Go prints a template node
    return text
