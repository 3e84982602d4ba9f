"""Tools from Python: functions, pydantic models and JSON schemas, offered and called safely.

* :func:`tool` turns a function (sync or async) into a :class:`FunctionTool`; it also takes a
  pydantic model or a JSON-schema dict. :func:`as_tool` accepts every form a client's
  ``tools=[...]`` does.
* The schema comes from the type hints (pydantic, see :mod:`llmkit.tools.schema`) and the
  docstring (:mod:`llmkit.tools.docstrings`): the description is the docstring's text before
  its sections, and each parameter's docstring entry describes it unless
  ``Annotated[..., Field(description=...)]`` or a ``Field(...)`` default already does.
* :meth:`FunctionTool.call` / :meth:`FunctionTool.acall` validate the arguments first.
  Invalid arguments and exceptions raised by the function become a :class:`ToolResult` whose
  ``content`` tells the model what went wrong, so a conversation can go on; pass
  ``propagate_exceptions=True`` to have the function's exceptions raised instead.

Runs a sync function in a worker thread (``anyio.to_thread``) when called from async code,
and an async function with ``anyio.run`` when called from sync code; otherwise pure.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload

import anyio
import anyio.to_thread
from pydantic import BaseModel, ValidationError

from llmkit.errors import InvalidRequestError
from llmkit.tools.docstrings import parse_docstring
from llmkit.tools.results import (
    ArgumentProblem,
    ToolResult,
    content_of,
    exception_result,
    invalid_arguments_result,
    problems_of,
    shown,
)
from llmkit.tools.schema import model_parameters, signature_model
from llmkit.types.messages import Tool, ToolCall, ToolFunction

__all__ = ["FunctionTool", "ToolSource", "as_tool", "tool"]

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

ToolSource = Any
"""Anything :func:`as_tool` accepts: a :class:`FunctionTool`, a function, a pydantic model
class, a JSON-schema or function-declaration dict, a :class:`~llmkit.types.Tool` or its dict."""

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _identity(value: Any) -> Any:
    return value


def _check_name(name: str, source: str) -> str:
    if not _NAME.match(name):
        raise InvalidRequestError(
            f"{source}: the tool name {name!r} must be 1 to 64 letters, digits, '_' or '-'; "
            "pass name=... to choose one"
        )
    return name


def _is_async(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


class FunctionTool(Generic[P, R]):
    """A tool the model can be offered and that llmkit can call.

    Made by :func:`tool` (or :meth:`from_function`, :meth:`from_model`, :meth:`from_schema`).
    ``name``, ``description`` and ``parameters`` (a JSON schema) are what the model sees;
    :meth:`to_tool` gives them as a :class:`~llmkit.types.Tool`. Calling the object itself
    calls the function unchanged; :meth:`call` and :meth:`acall` take the model's arguments,
    validate them and return a :class:`ToolResult`. A tool declared from a JSON schema alone
    has no function (``function is None``) and cannot be called.
    """

    def __init__(
        self,
        *,
        name: str,
        parameters: dict[str, Any],
        description: str | None = None,
        function: Callable[P, R] | None = None,
        bind: Callable[[dict[str, Any]], tuple[list[Any], dict[str, Any]]] | None = None,
        target: Callable[..., Any] | None = None,
        propagate_exceptions: bool = False,
    ) -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self.function = function
        self.propagate_exceptions = propagate_exceptions
        self._bind = bind
        self._target = target if target is not None else function
        self.is_async = self._target is not None and _is_async(self._target)
        # A pydantic model's tool only validates; there is no user code to keep off the loop.
        self._needs_thread = self._target is not None and self._target is not _identity

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_function(
        cls,
        function: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        propagate_exceptions: bool = False,
    ) -> FunctionTool[P, R]:
        """A tool from a function (sync or async), its type hints and its docstring."""
        if not callable(function):
            raise InvalidRequestError(f"expected a function, got {type(function).__name__}")
        inner = function.func if isinstance(function, functools.partial) else function
        default_name = getattr(inner, "__name__", type(inner).__name__)
        tool_name = _check_name(name or default_name, f"function {default_name!r}")
        doc = parse_docstring(inspect.getdoc(function) if inner is function else inner.__doc__)
        arguments = signature_model(function, tool_name, doc.params)

        def bind(values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
            return arguments.call_arguments(arguments.model.model_validate(values))

        made = cls(
            name=tool_name,
            description=description or doc.description or None,
            parameters=arguments.parameters(),
            function=function,
            bind=bind,
            propagate_exceptions=propagate_exceptions,
        )
        functools.update_wrapper(made, function, updated=())
        return made

    @classmethod
    def from_model(
        cls, model: type[M], *, name: str | None = None, description: str | None = None
    ) -> FunctionTool[..., M]:
        """A tool whose arguments are a pydantic model; calling it returns the validated
        instance. The model's name and docstring become the tool's name and description;
        entries of its docstring's ``Attributes:`` / ``Args:`` section describe its fields."""
        tool_name = _check_name(name or model.__name__, f"model {model.__name__!r}")
        doc = parse_docstring(model.__doc__ if "__doc__" in model.__dict__ else None)
        parameters = model_parameters(model)
        parameters.pop("title", None)
        parameters.pop("description", None)
        properties = parameters.get("properties", {})
        for field_name, info in model.model_fields.items():
            key = info.validation_alias if isinstance(info.validation_alias, str) else None
            key = key or info.alias or field_name
            entry = properties.get(key)
            text = doc.params.get(field_name)
            if isinstance(entry, dict) and text and "description" not in entry:
                entry["description"] = text

        def bind(values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
            return [model.model_validate(values)], {}

        return FunctionTool(
            name=tool_name,
            description=description or doc.description or None,
            parameters=parameters,
            function=cast("Callable[..., M]", model),
            bind=bind,
            target=_identity,
        )

    @classmethod
    def from_schema(
        cls,
        schema: Mapping[str, Any] | Tool,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> FunctionTool[..., Any]:
        """A tool declared by a JSON schema alone (no function to call).

        Takes a :class:`~llmkit.types.Tool` or its dict (``{"type": "function", "function":
        {...}}``), a function declaration (``{"name", "description", "parameters"}``), or a
        JSON schema of the arguments whose ``title`` names the tool (and whose
        ``description`` describes it) unless ``name`` is given. The schema is kept as given.
        """
        if isinstance(schema, Tool):
            declared: ToolFunction | None = schema.function
            schema = {}
        else:
            declared = _declaration(schema)
        if declared is not None:
            return FunctionTool(
                name=name or declared.name,
                description=description or declared.description,
                parameters=dict(declared.parameters),
            )
        title = schema.get("title")
        tool_name = name or title
        if not isinstance(tool_name, str) or not tool_name:
            raise InvalidRequestError(
                "a JSON schema used as a tool needs a 'title' to name it, or pass name=...",
                fields=["title"],
            )
        if schema.get("type", "object") != "object":
            raise InvalidRequestError(
                f"tool {tool_name!r}: its parameters must be an object schema "
                f"(type 'object'), got type {schema.get('type')!r}",
                fields=["type"],
            )
        parameters = {k: v for k, v in schema.items() if k not in ("title", "description")}
        parameters.setdefault("type", "object")
        text = schema.get("description")
        return FunctionTool(
            name=tool_name,
            description=description or (text if isinstance(text, str) else None),
            parameters=parameters,
        )

    # -- what the model sees --------------------------------------------------------------

    def to_tool(self) -> Tool:
        """The tool as offered to a model (Ollama's and OpenAI's ``{"type": "function"}``)."""
        function = ToolFunction(name=self.name, parameters=self.parameters)
        if self.description is not None:
            function.description = self.description
        return Tool(function=function)

    def __repr__(self) -> str:
        kind = "schema" if self.function is None else ("async" if self.is_async else "sync")
        return f"<FunctionTool {self.name!r} ({kind})>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call the function directly, as if it were not a tool."""
        if self.function is None:
            raise self._not_callable()
        return self.function(*args, **kwargs)

    # -- calling with the model's arguments ----------------------------------------------

    def call(
        self,
        arguments: Mapping[str, Any] | str | ToolCall | None = None,
        *,
        call_id: str | None = None,
        propagate_exceptions: bool | None = None,
    ) -> ToolResult:
        """Validate the arguments, call the function, and report the outcome.

        ``arguments`` is a dict, a JSON string, or a :class:`~llmkit.ToolCall` (whose id
        becomes the result's ``call_id``). An async function runs in a new event loop;
        from async code use :meth:`acall`.
        """
        call_id, arguments = self._unpack(arguments, call_id)
        prepared = self._prepare(arguments, call_id)
        if isinstance(prepared, ToolResult):
            return prepared
        args, kwargs = prepared
        target = self._callable_target()
        if self.is_async:
            _check_no_running_loop(self.name)
        try:
            if self.is_async:
                value = anyio.run(functools.partial(target, *args, **kwargs))
            else:
                value = target(*args, **kwargs)
        except Exception as exc:
            return self._failed(exc, call_id, propagate_exceptions)
        return ToolResult(self.name, content_of(value), call_id, value)

    async def acall(
        self,
        arguments: Mapping[str, Any] | str | ToolCall | None = None,
        *,
        call_id: str | None = None,
        propagate_exceptions: bool | None = None,
    ) -> ToolResult:
        """:meth:`call` for async code: an async function is awaited, a sync one runs in a
        worker thread (``anyio.to_thread.run_sync``) so the event loop is never blocked."""
        call_id, arguments = self._unpack(arguments, call_id)
        prepared = self._prepare(arguments, call_id)
        if isinstance(prepared, ToolResult):
            return prepared
        args, kwargs = prepared
        target = self._callable_target()
        try:
            if self.is_async:
                value = await cast("Callable[..., Awaitable[Any]]", target)(*args, **kwargs)
            elif self._needs_thread:
                value = await anyio.to_thread.run_sync(functools.partial(target, *args, **kwargs))
            else:
                value = target(*args, **kwargs)
        except Exception as exc:
            return self._failed(exc, call_id, propagate_exceptions)
        return ToolResult(self.name, content_of(value), call_id, value)

    # -- internals ------------------------------------------------------------------------

    def _not_callable(self) -> InvalidRequestError:
        return InvalidRequestError(
            f"tool {self.name!r} was declared by a JSON schema and has no Python function "
            "to call; make it with tool(function) to call it"
        )

    def _callable_target(self) -> Callable[..., Any]:
        if self._target is None:
            raise self._not_callable()
        return self._target

    def _unpack(
        self, arguments: Mapping[str, Any] | str | ToolCall | None, call_id: str | None
    ) -> tuple[str | None, Mapping[str, Any] | str | None]:
        if not isinstance(arguments, ToolCall):
            return call_id, arguments
        if arguments.function.name != self.name:
            raise InvalidRequestError(
                f"a call to {arguments.function.name!r} was given to the tool {self.name!r}"
            )
        return call_id or arguments.id, arguments.function.arguments

    def _prepare(
        self, arguments: Mapping[str, Any] | str | None, call_id: str | None
    ) -> tuple[list[Any], dict[str, Any]] | ToolResult:
        if self._bind is None:
            raise self._not_callable()
        if arguments is None:
            arguments = {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                return self._invalid(
                    (ArgumentProblem("", f"not valid JSON: {exc.msg} at position {exc.pos}"),),
                    call_id,
                )
        if not isinstance(arguments, Mapping):
            return self._invalid(
                (ArgumentProblem("", f"expected a JSON object, got {shown(arguments)}"),),
                call_id,
            )
        try:
            return self._bind(dict(arguments))
        except ValidationError as exc:
            return self._invalid(problems_of(exc, self.parameters), call_id)

    def _invalid(self, problems: tuple[ArgumentProblem, ...], call_id: str | None) -> ToolResult:
        return invalid_arguments_result(self.name, problems, call_id)

    def _failed(self, exc: Exception, call_id: str | None, propagate: bool | None) -> ToolResult:
        if self.propagate_exceptions if propagate is None else propagate:
            raise exc
        return exception_result(self.name, exc, call_id)


def _check_no_running_loop(name: str) -> None:
    try:
        anyio.get_current_task()
    except RuntimeError:  # anyio.NoEventLoopError (or sniffio's error on older anyio)
        return
    raise RuntimeError(
        f"tool {name!r} is async and an event loop is running in this thread; "
        "use `await tool.acall(arguments)`"
    )


def _declaration(schema: Mapping[str, Any]) -> ToolFunction | None:
    """The function declaration in a Tool's dict or a ``{"name", "parameters"}`` dict;
    ``None`` for a plain JSON schema."""
    try:
        if isinstance(schema.get("function"), Mapping):
            return Tool.model_validate(dict(schema)).function
        if "parameters" in schema or ("name" in schema and "properties" not in schema):
            return ToolFunction.model_validate(dict(schema))
    except ValidationError as exc:
        raise InvalidRequestError.from_validation_error(exc) from exc
    return None


def as_tool(value: ToolSource) -> FunctionTool[..., Any]:
    """Any form a client's ``tools=[...]`` accepts, as a :class:`FunctionTool`: a tool as is;
    a pydantic model class; a JSON-schema, declaration or :class:`~llmkit.types.Tool` (no
    function); any other callable."""
    if isinstance(value, FunctionTool):
        return value
    if isinstance(value, type) and issubclass(value, BaseModel):
        return FunctionTool.from_model(value)
    if isinstance(value, Tool | Mapping):
        return FunctionTool.from_schema(value)
    if callable(value):
        return FunctionTool.from_function(value)
    raise InvalidRequestError(
        "a tool must be a function, a pydantic model class, a JSON-schema dict or a Tool; "
        f"got {type(value).__name__}"
    )


@overload
def tool(
    function: type[M], /, *, name: str | None = ..., description: str | None = ...
) -> FunctionTool[..., M]: ...
@overload
def tool(
    function: Callable[P, R],
    /,
    *,
    name: str | None = ...,
    description: str | None = ...,
    propagate_exceptions: bool = ...,
) -> FunctionTool[P, R]: ...
@overload
def tool(
    function: Mapping[str, Any], /, *, name: str | None = ..., description: str | None = ...
) -> FunctionTool[..., Any]: ...
@overload
def tool(
    function: None = None,
    /,
    *,
    name: str | None = ...,
    description: str | None = ...,
    propagate_exceptions: bool = ...,
) -> Callable[[Callable[P, R]], FunctionTool[P, R]]: ...
def tool(
    function: Any = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    propagate_exceptions: bool = False,
) -> Any:
    """Make a tool: ``@tool``, ``@tool(name=..., description=...)``, or ``tool(x)`` with a
    function, a pydantic model class or a JSON-schema dict.

    >>> @tool
    ... def add(a: int, b: int = 1) -> int:
    ...     '''Add two numbers.
    ...
    ...     Args:
    ...         a: The first number.
    ...         b: The second number.
    ...     '''
    ...     return a + b
    >>> add.parameters["properties"]["a"]
    {'description': 'The first number.', 'type': 'integer'}
    >>> add.call({"a": 2}).content
    '3'
    """
    if function is None:

        def decorate(inner: Callable[P, R]) -> FunctionTool[P, R]:
            return FunctionTool.from_function(
                inner,
                name=name,
                description=description,
                propagate_exceptions=propagate_exceptions,
            )

        return decorate
    if isinstance(function, type) and issubclass(function, BaseModel):
        return FunctionTool.from_model(function, name=name, description=description)
    if isinstance(function, Mapping | Tool):
        return FunctionTool.from_schema(function, name=name, description=description)
    return FunctionTool.from_function(
        function, name=name, description=description, propagate_exceptions=propagate_exceptions
    )
