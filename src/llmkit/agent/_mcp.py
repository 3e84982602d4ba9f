"""Tools from Model Context Protocol servers, for the tool loop (needs ``llmkit[mcp]``).

:class:`MCPTools` connects to one MCP server, over stdio (:meth:`MCPTools.stdio`: the
server runs as a subprocess) or streamable HTTP (:meth:`MCPTools.http`), and offers the
server's tools as :class:`MCPTool` objects, which :func:`~llmkit.agent.run_tools` and
:func:`~llmkit.agent.arun_tools` take beside Python functions::

    async with MCPTools.stdio("python", ["server.py"]) as server:
        run = await arun_tools(client, messages, [*server, get_time])

    with MCPTools.http("http://127.0.0.1:8000/mcp") as server:  # sync: a background loop
        run = run_tools(client, messages, [*server, get_time])

The connection lives as long as the ``with`` block: entering connects, initializes the
session and lists the tools; leaving closes the session and ends a stdio server's
process. ``async with`` runs the session on the caller's event loop (its tools are async);
``with`` runs it on an event loop in a background thread (``anyio``'s blocking portal)
and its tools send each call there, so they work in either loop.

Each tool keeps the server's name (made safe for model APIs: characters other than
letters, digits, ``_`` and ``-`` become ``_``; ``prefix`` is put before it), description
and input schema. A call's arguments are checked against that schema first (invalid ones
become an ``invalid_arguments`` :class:`~llmkit.tools.ToolResult` the model reads); the
answer is the result's text parts joined by newlines (or its structured content as JSON
when it has no text). An error result from the server (``isError``) and a call that
fails (a timeout, a lost connection) become ``exception`` results the model reads, as a
Python tool's exception does, so the loop goes on.

Works with the ``mcp`` package's 2.x API and its 1.x one (streamable HTTP needs 1.8 or
later there); the package is imported only when a server is entered.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import inspect
import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from llmkit.tools.functions import FunctionTool
from llmkit.tools.results import ArgumentProblem, ToolResult, shown

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.from_thread import BlockingPortal
    from mcp import ClientSession

__all__ = ["MCPTool", "MCPToolError", "MCPTools"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_INSTALL = "MCP tools need the mcp package: pip install 'llmkit[mcp]'"


class MCPToolError(Exception):
    """An MCP server answered a tool call with an error result (``isError``).

    The message is the result's text; ``result`` is the whole result as JSON (a dict)."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


class MCPTool(FunctionTool[..., Any]):
    """One tool of an MCP server, as the loop runs it.

    ``name`` is the name the model sees; ``mcp_name`` the server's name for it. Arguments
    are checked against the server's input schema (``parameters``) before the call.
    """

    def __init__(
        self,
        *,
        name: str,
        mcp_name: str,
        description: str | None,
        parameters: dict[str, Any],
        function: Callable[..., Any],
    ) -> None:
        super().__init__(
            name=name,
            description=description,
            parameters=parameters,
            function=function,
            bind=_bind,
        )
        self.mcp_name = mcp_name
        self._validator = _validator(parameters)

    def __repr__(self) -> str:
        return f"<MCPTool {self.name!r}>"

    def _prepare(
        self, arguments: Mapping[str, Any] | str | None, call_id: str | None
    ) -> tuple[list[Any], dict[str, Any]] | ToolResult:
        prepared = super()._prepare(arguments, call_id)
        if isinstance(prepared, ToolResult) or self._validator is None:
            return prepared
        problems = _problems(self._validator, prepared[0][0])
        return self._invalid(problems, call_id) if problems else prepared

    def _failed(self, exc: Exception, call_id: str | None, propagate: bool | None) -> ToolResult:
        if not isinstance(exc, MCPToolError) or (
            self.propagate_exceptions if propagate is None else propagate
        ):
            return super()._failed(exc, call_id, propagate)
        return ToolResult(
            self.name,
            f"Error: tool {self.name!r} failed: {exc}",
            call_id,
            error="exception",
            exception=exc,
        )


def _bind(values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    return [values], {}


def _validator(schema: dict[str, Any]) -> Any:
    """A jsonschema validator for the tool's arguments; ``None`` (the server checks them)
    when the schema is not one jsonschema accepts."""
    import jsonschema

    try:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        return validator_class(schema)
    except (jsonschema.SchemaError, TypeError, ValueError):
        return None


def _path(parts: Sequence[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problems(validator: Any, arguments: dict[str, Any]) -> tuple[ArgumentProblem, ...]:
    """What is wrong with ``arguments``, in the words :class:`FunctionTool` uses."""
    problems: list[ArgumentProblem] = []
    for error in validator.iter_errors(arguments):
        parts = list(error.absolute_path)
        instance = error.instance
        if error.validator == "required" and isinstance(instance, dict):
            problems += [
                ArgumentProblem(_path([*parts, name]), "missing required argument")
                for name in error.validator_value
                if name not in instance
            ]
        elif error.validator == "additionalProperties" and isinstance(instance, dict):
            known = error.schema.get("properties", {})
            problems += [
                ArgumentProblem(_path([*parts, name]), "unexpected argument")
                for name in instance
                if name not in known
            ]
        else:
            problems.append(
                ArgumentProblem(_path(parts), f"{error.message} (got {shown(instance)})")
            )
    unique = dict.fromkeys(problems)
    return tuple(sorted(unique, key=lambda problem: problem.path))


def _answer(result: dict[str, Any]) -> str:
    """A call result's content as text for the model."""
    parts: list[str] = []
    for block in result.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            parts.append(str(block.get("text", "")))
        elif kind == "resource":
            resource = block.get("resource") or {}
            text = resource.get("text")
            parts.append(text if isinstance(text, str) else f"[resource {resource.get('uri', '')}]")
        elif kind == "resource_link":
            parts.append(f"[resource link {block.get('uri', '')}]")
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {block.get('mimeType', '')}]".replace(" ]", "]"))
        else:
            parts.append(f"[{kind} content]")
    structured = result.get("structuredContent")
    if not parts and structured is not None:
        return json.dumps(structured, ensure_ascii=False)
    return "\n".join(parts)


def _dumped(model: Any) -> dict[str, Any]:
    """An mcp model as its wire JSON (camelCase in both mcp 1.x and 2.x)."""
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def _mcp_major() -> int:
    try:
        return int(importlib.metadata.version("mcp").split(".", 1)[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return 2


def _read_timeout(seconds: float | None) -> Any:
    """The session's read timeout as the installed mcp wants it (1.x: a timedelta)."""
    if seconds is None:
        return None
    return timedelta(seconds=seconds) if _mcp_major() < 2 else seconds


class MCPTools:
    """The tools of one MCP server, connected while the ``with`` block runs.

    Make it with :meth:`stdio` or :meth:`http`, then enter it with ``async with`` (for
    :func:`~llmkit.agent.arun_tools`) or ``with`` (for :func:`~llmkit.agent.run_tools`, or
    both: the session runs on a background event loop). Inside, it is a sequence of
    :class:`MCPTool`: iterate it (``[*server, my_function]``), index it by position or
    by name, or read :attr:`tools`. Entering twice at once is an error; entering again
    after leaving connects anew.
    """

    def __init__(
        self,
        transport: Callable[[], contextlib.AbstractAsyncContextManager[Any]],
        *,
        prefix: str = "",
        timeout: float | None = 60.0,
        label: str = "",
    ) -> None:
        self._transport = transport
        self.prefix = prefix
        self.timeout = timeout
        self._label = label
        self._tools: list[MCPTool] | None = None
        self._async_stack: AsyncExitStack | None = None
        self._sync_stack: ExitStack | None = None

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        prefix: str = "",
        timeout: float | None = 60.0,
    ) -> MCPTools:
        """A server run as a subprocess (``command`` with ``args``), spoken to over its
        stdin and stdout; its stderr goes to this process's stderr.

        ``env`` is added to the small default environment the ``mcp`` package gives
        servers (``PATH``, ``HOME``, ...; not the whole of this process's). ``prefix`` is
        put before every tool name; ``timeout`` bounds each request to the server
        (initializing, listing, each call), in seconds (``None``: no bound).
        """
        arguments = list(args)
        extra = dict(env) if env is not None else None

        @asynccontextmanager
        async def transport() -> AsyncIterator[Any]:
            from mcp.client.stdio import (
                StdioServerParameters,
                get_default_environment,
                stdio_client,
            )

            params = StdioServerParameters(
                command=command,
                args=arguments,
                env=None if extra is None else {**get_default_environment(), **extra},
                cwd=cwd,
            )
            async with stdio_client(params) as streams:
                yield streams

        return cls(transport, prefix=prefix, timeout=timeout, label=f"stdio {command}")

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        prefix: str = "",
        timeout: float | None = 60.0,
    ) -> MCPTools:
        """A server at ``url`` (its streamable HTTP endpoint, often ending ``/mcp``),
        with ``headers`` on every request (an ``Authorization`` one, say). ``prefix`` and
        ``timeout`` as for :meth:`stdio`."""
        sent = dict(headers) if headers is not None else None

        @asynccontextmanager
        async def transport() -> AsyncIterator[Any]:
            module: Any = importlib.import_module("mcp.client.streamable_http")
            modern = getattr(module, "streamable_http_client", None)
            if modern is None:  # mcp 1.8 to 1.2x
                async with module.streamablehttp_client(url, headers=sent) as streams:
                    yield streams
                return
            from mcp.shared._httpx_utils import create_mcp_http_client

            async with (
                create_mcp_http_client(headers=sent) as client,
                modern(url, http_client=client) as streams,
            ):
                yield streams

        return cls(transport, prefix=prefix, timeout=timeout, label=url)

    # -- the tools -----------------------------------------------------------------------

    @property
    def tools(self) -> list[MCPTool]:
        """The server's tools (a new list); only inside the ``with`` block."""
        if self._tools is None:
            raise RuntimeError(
                f"MCPTools({self._label}) is not connected: use it inside `with` / `async with`"
            )
        return list(self._tools)

    def __iter__(self) -> Iterator[MCPTool]:
        return iter(self.tools)

    def __len__(self) -> int:
        return len(self.tools)

    def __getitem__(self, key: int | str) -> MCPTool:
        if isinstance(key, int):
            return self.tools[key]
        for found in self.tools:
            if key in (found.name, found.mcp_name):
                return found
        raise KeyError(key)

    def __repr__(self) -> str:
        state = "closed" if self._tools is None else f"{len(self._tools)} tools"
        return f"<MCPTools {self._label} ({state})>"

    # -- async ---------------------------------------------------------------------------

    async def __aenter__(self) -> MCPTools:
        self._check_closed()
        stack = AsyncExitStack()
        try:
            session, listed = await stack.enter_async_context(self._connected())
        except BaseException:
            await stack.aclose()
            raise
        self._async_stack = stack

        async def call(mcp_name: str, arguments: dict[str, Any]) -> str:
            return await _call(session, mcp_name, arguments)

        self._tools = self._make_tools(listed, call, is_async=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, self._async_stack, self._tools = self._async_stack, None, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, traceback)

    # -- sync ----------------------------------------------------------------------------

    def __enter__(self) -> MCPTools:
        from anyio.from_thread import start_blocking_portal

        self._check_closed()
        stack = ExitStack()
        try:
            portal: BlockingPortal = stack.enter_context(start_blocking_portal())
            session, listed = stack.enter_context(
                portal.wrap_async_context_manager(self._connected())
            )
        except BaseException:
            stack.close()
            raise
        self._sync_stack = stack

        def call(mcp_name: str, arguments: dict[str, Any]) -> str:
            answer: str = portal.call(_call, session, mcp_name, arguments)
            return answer

        self._tools = self._make_tools(listed, call, is_async=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, self._sync_stack, self._tools = self._sync_stack, None, None
        if stack is not None:
            stack.__exit__(exc_type, exc, traceback)

    # -- internals -----------------------------------------------------------------------

    def _check_closed(self) -> None:
        if not (self._tools is None and self._async_stack is None and self._sync_stack is None):
            raise RuntimeError(f"MCPTools({self._label}) is already connected")

    @asynccontextmanager
    async def _connected(self) -> AsyncIterator[tuple[ClientSession, list[dict[str, Any]]]]:
        """The initialized session and the server's tools (as JSON), while open."""
        try:
            from mcp import ClientSession
        except ImportError as exc:
            raise ImportError(_INSTALL) from exc
        async with self._transport() as streams:
            session = ClientSession(
                streams[0], streams[1], read_timeout_seconds=_read_timeout(self.timeout)
            )
            async with session:
                await session.initialize()
                yield session, await _list_tools(session)

    def _make_tools(
        self,
        listed: list[dict[str, Any]],
        call: Callable[[str, dict[str, Any]], Any],
        *,
        is_async: bool,
    ) -> list[MCPTool]:
        made = []
        for entry in listed:
            mcp_name = str(entry["name"])
            schema = entry.get("inputSchema")
            parameters = dict(schema) if isinstance(schema, dict) else {}
            parameters.setdefault("type", "object")
            if parameters["type"] == "object":
                parameters.setdefault("properties", {})
            description = entry.get("description") or entry.get("title")
            made.append(
                MCPTool(
                    name=_UNSAFE.sub("_", self.prefix + mcp_name)[:64] or "_",
                    mcp_name=mcp_name,
                    description=description if isinstance(description, str) else None,
                    parameters=parameters,
                    function=_bound(call, mcp_name, is_async=is_async),
                )
            )
        return made


def _bound(
    call: Callable[[str, dict[str, Any]], Any], mcp_name: str, *, is_async: bool
) -> Callable[..., Any]:
    """The tool's function: ``call`` with the server's tool name filled in."""
    if is_async:

        async def run_async(arguments: dict[str, Any]) -> str:
            answer: str = await call(mcp_name, arguments)
            return answer

        return run_async

    def run(arguments: dict[str, Any]) -> str:
        answer: str = call(mcp_name, arguments)
        return answer

    return run


async def _list_tools(session: ClientSession) -> list[dict[str, Any]]:
    """Every tool the server lists, following its pages."""
    listed = _dumped(await session.list_tools())
    tools: list[dict[str, Any]] = list(listed.get("tools", []))
    cursor = listed.get("nextCursor")
    paged: Any = session.list_tools
    by_params = "params" in inspect.signature(paged).parameters
    while cursor:
        if by_params:
            from mcp.types import PaginatedRequestParams

            page = await paged(params=PaginatedRequestParams(cursor=cursor))
        else:  # early mcp 1.x
            page = await paged(cursor=cursor)
        listed = _dumped(page)
        tools += listed.get("tools", [])
        cursor = listed.get("nextCursor")
    return tools


async def _call(session: ClientSession, mcp_name: str, arguments: dict[str, Any]) -> str:
    """Call the tool; its answer as text, or :class:`MCPToolError` for an error result."""
    result = _dumped(await session.call_tool(mcp_name, arguments))
    text = _answer(result)
    if result.get("isError"):
        raise MCPToolError(text or "the server reported an error", result)
    return text
