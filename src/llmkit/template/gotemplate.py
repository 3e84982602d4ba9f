"""A compiled Go template: parse -> generate Python -> compile once, execute many times.

``GoTemplate`` knows Go's ``text/template`` and nothing of Ollama; the
Ollama layer (:mod:`llmkit.template.ollama`) builds the data and the extra
functions and calls :meth:`GoTemplate.execute`.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any

from llmkit.template import gofmt, runtime
from llmkit.template.codegen import generate
from llmkit.template.errors import TemplateError, TemplateExecError, TemplateLimitError
from llmkit.template.nodes import ListNode
from llmkit.template.parser import parse, position
from llmkit.template.runtime import NO_VALUE, ExecError, Limits, Runtime, truth

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
        templates: Mapping[str, Callable[..., None]],
        functions: Mapping[str, Callable[..., Any]],
        limits: Limits,
    ) -> None:
        super().__init__(functions, limits)
        self.templates = templates

    def template(self, name: str, dot: Any) -> None:
        function = self.templates.get(name)
        if function is None:
            raise ExecError(f'template "{name}" not defined')
        self.tick()
        if self.depth >= self.limits.max_depth:
            raise TemplateLimitError(f"exceeded maximum template depth ({self.limits.max_depth})")
        self.depth += 1
        try:
            function(self, dot)
        finally:
            self.depth -= 1


class GoTemplate:
    """A Go template set compiled to Python.

    ``functions`` are the extra template functions (name -> callable); their
    names must be known at parse time, as in Go.  Compiling never runs
    anything from the template; executing runs only the generated code,
    which calls the runtime and the given functions.
    """

    def __init__(
        self,
        source: str,
        *,
        name: str = "",
        functions: Mapping[str, Callable[..., Any]] | None = None,
        trees: dict[str, ListNode] | None = None,
        missing_key: str = "zero",
    ) -> None:
        self.source = source
        self.name = name
        self.extra_functions = dict(functions or {})
        self.trees = (
            trees if trees is not None else parse(source, name=name, functions=self.extra_functions)
        )
        generated = generate(self.trees)
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
        self._templates: dict[str, Callable[..., None]] = module.TEMPLATES
        self._function_names = {python: name for name, python in generated.functions.items()}
        self._functions_used = generated.functions_used
        self._table: dict[str, Callable[..., Any]] = {**BUILTINS, **self.extra_functions}

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
    ) -> str:
        """Run template ``name`` (default: the root) with ``data`` as dot and ``$``."""
        table = {**self._table, **functions} if functions else dict(self._table)
        for missing in self._functions_used - table.keys() - {"printf"}:
            table[missing] = _undefined(missing)
        run = _Run(self._templates, table, limits or _DEFAULT_LIMITS)
        table["printf"] = run.sprintf
        target = self.name if name is None else name
        function = self._templates.get(target)
        if function is None:
            raise TemplateExecError(
                f'no template "{target}" associated with template "{self.name}"', name=self.name
            )
        try:
            function(run, data)
        except TemplateError:
            raise
        except RecursionError:
            raise TemplateLimitError("template recursion too deep", name=self.name) from None
        except Exception as exc:  # every failure of untrusted input is translated
            raise self._located(exc, target, table) from None
        result = "".join(run.out)
        if len(result) > run.limits.max_output:
            raise TemplateLimitError(
                f"output exceeds {run.limits.max_output} characters", name=self.name
            )
        return result

    def _located(
        self, exc: Exception, target: str, table: Mapping[str, Callable[..., Any]]
    ) -> TemplateExecError:
        """Name the template, line and column, and the function that failed, as Go does."""
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
        if function is not None and not isinstance(exc, _UndefinedFunction):
            exc = ExecError(f"error calling {function}: {exc}")
        elif not isinstance(exc, ExecError):
            exc = ExecError(f"{type(exc).__name__}: {exc}")
        if pos is None:
            return TemplateExecError(f'executing "{template_name}": {exc}', name=self.name)
        line, column, source_line = position(self.source, pos)
        action = _action_text(self.source, pos)
        return TemplateExecError(
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


def _action_text(source: str, pos: int) -> str:
    end = source.find("}}", pos)
    text = source[pos : end if end >= 0 else len(source)].strip()
    return text.removesuffix("-").strip()
