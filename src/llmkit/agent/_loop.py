"""The parts of the tool loop that sync and async share: running one step's calls, hooks.

:func:`llmkit.agent.run_tools` (``_sync/loop.py``) and :func:`llmkit.agent.arun_tools`
(``_async/loop.py``) call the model, and hand each answer's calls to :func:`run_calls` /
:func:`arun_calls` here. A call goes through three stages:

1. ``before_call(call)``, if given, may approve it (``None`` or ``True``), deny it
   (``False``: the model reads that the call was denied), or answer it itself (a ``str`` or
   a :class:`~llmkit.tools.ToolResult`: the tool is not run);
2. the tool runs (:meth:`FunctionTool.call` / :meth:`~FunctionTool.acall`: arguments are
   validated first); a call to a tool that was not offered gets an error result that lists
   the offered ones;
3. ``after_call(call, result)``, if given, sees the result and may replace it (return a
   ``ToolResult`` or a ``str``; ``None`` keeps it): for logging, or redacting.

With :func:`arun_calls` (and so ``arun_tools``) either hook may also be an ``async``
function (to ask a person over a websocket, say, or write to an async log); its answer
is awaited. :func:`run_calls` takes plain functions only.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import ValidationError

from llmkit._observe import Observation, observer, observing
from llmkit.errors import InvalidRequestError
from llmkit.tools.functions import FunctionTool, as_tool
from llmkit.tools.results import ToolResult
from llmkit.types.messages import Message

if TYPE_CHECKING:
    from llmkit._request import MessageLike, ToolLike
    from llmkit.types.messages import ToolCall
    from llmkit.types.responses import ChatResponse

__all__ = [
    "AfterCall",
    "AsyncAfterCall",
    "AsyncBeforeCall",
    "BeforeCall",
    "ToolRun",
    "arun_calls",
    "run_calls",
    "to_messages",
    "tool_table",
]

BeforeCall = Callable[["ToolCall"], "ToolResult | str | bool | None"]
"""``before_call(call)``: ``None``/``True`` runs the call, ``False`` denies it, a ``str`` or
``ToolResult`` answers it without running the tool."""

AfterCall = Callable[["ToolCall", ToolResult], "ToolResult | str | None"]
"""``after_call(call, result)``: ``None`` keeps the result; a ``str`` or ``ToolResult``
replaces it."""

AsyncBeforeCall = Callable[
    ["ToolCall"], "Awaitable[ToolResult | str | bool | None] | ToolResult | str | bool | None"
]
"""A ``before_call`` for the async loop: a plain function or an ``async`` one."""

AsyncAfterCall = Callable[
    ["ToolCall", ToolResult], "Awaitable[ToolResult | str | None] | ToolResult | str | None"
]
"""An ``after_call`` for the async loop: a plain function or an ``async`` one."""


@dataclass
class ToolRun:
    """What a tool loop produced.

    ``response`` is the model's final answer (one without tool calls); ``messages`` the
    whole conversation, from the given messages to that answer; ``results`` every tool
    result in order; ``steps`` how many times the model was called.
    """

    response: ChatResponse
    messages: list[Message]
    steps: int
    results: list[ToolResult] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The final answer's text."""
        return self.response.message.content


def tool_table(tools: Sequence[ToolLike]) -> dict[str, FunctionTool[..., Any]]:
    """The tools by name; each must have a Python function to run (errors name ``tools.N``)."""
    table: dict[str, FunctionTool[..., Any]] = {}
    for index, source in enumerate(tools):
        try:
            made = as_tool(source)
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"tools.{index}: {exc}", fields=[f"tools.{index}"]) from exc
        if made.function is None:
            raise InvalidRequestError(
                f"tools.{index}: the tool {made.name!r} has no Python function, so the loop "
                "cannot run it; make it with tool(function)",
                fields=[f"tools.{index}"],
            )
        if made.name in table:
            raise InvalidRequestError(
                f"tools.{index}: a second tool named {made.name!r}", fields=[f"tools.{index}"]
            )
        table[made.name] = made
    if not table:
        raise InvalidRequestError("run_tools needs at least one tool", fields=["tools"])
    return table


def to_messages(messages: Sequence[MessageLike]) -> list[Message]:
    """The conversation as :class:`~llmkit.Message` objects (errors name ``messages.N``)."""
    if isinstance(messages, str):
        raise InvalidRequestError("messages: expected a list of messages, got a string")
    out = []
    for index, item in enumerate(messages):
        try:
            out.append(item if isinstance(item, Message) else Message.model_validate(item))
        except ValidationError as exc:
            raise InvalidRequestError.from_validation_error(
                exc, prefix=f"messages.{index}"
            ) from exc
    return out


def _as_result(call: ToolCall, answer: ToolResult | str) -> ToolResult:
    if isinstance(answer, ToolResult):
        return answer
    return ToolResult(call.function.name, answer, call.id)


def _not_awaitable(hook: str, answer: object) -> None:
    if inspect.isawaitable(answer):
        if inspect.iscoroutine(answer):
            answer.close()  # never awaited: close it so Python does not warn on top
        raise InvalidRequestError(
            f"{hook} returned an awaitable: async hooks need arun_tools / arun_calls",
            fields=[hook],
        )


def _decided(
    call: ToolCall,
    table: dict[str, FunctionTool[..., Any]],
    verdict: ToolResult | str | bool | None,
) -> ToolResult | FunctionTool[..., Any]:
    """The result of a call settled without running it (by ``before_call``'s ``verdict``,
    or because no such tool was offered), or the tool to run."""
    name = call.function.name
    if verdict is False:
        return ToolResult(name, f"The call to {name!r} was denied; do not call it again.", call.id)
    if verdict is not None and verdict is not True:
        return _as_result(call, verdict)
    found = table.get(name)
    if found is None:
        known = ", ".join(sorted(table))
        return ToolResult(
            name,
            f"Error: there is no tool named {name!r}; the tools are: {known}",
            call.id,
            error="invalid_arguments",
        )
    return found


def _replaced(call: ToolCall, result: ToolResult, replaced: ToolResult | str | None) -> ToolResult:
    return result if replaced is None else _as_result(call, replaced)


def run_calls(
    calls: Sequence[ToolCall],
    table: dict[str, FunctionTool[..., Any]],
    *,
    before_call: BeforeCall | None = None,
    after_call: AfterCall | None = None,
) -> list[ToolResult]:
    """Run one answer's calls, one after another; the results in the calls' order."""
    results = []
    for call in calls:
        verdict = None if before_call is None else before_call(call)
        _not_awaitable("before_call", verdict)
        decided = _decided(call, table, verdict)
        result = decided if isinstance(decided, ToolResult) else _run_tool(call, decided)
        if after_call is not None:
            replaced = after_call(call, result)
            _not_awaitable("after_call", replaced)
            result = _replaced(call, result, replaced)
        results.append(result)
    return results


def _run_tool(call: ToolCall, tool: FunctionTool[..., Any]) -> ToolResult:
    """``tool.call(call)``, as an ``execute_tool`` span when tracing is on."""
    watch = observer()
    if watch is None:
        return tool.call(call)
    with observing(watch.tool(call.function.name, call.id, call.function.arguments)) as seen:
        result = tool.call(call)
        _observed_result(seen, result)
        return result


def _observed_result(observation: Observation, result: ToolResult) -> None:
    observation.result(result.content)
    if result.is_error:
        observation.fail(result.exception or RuntimeError(result.content))


async def _answer(value: Awaitable[Any] | Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def arun_calls(
    calls: Sequence[ToolCall],
    table: dict[str, FunctionTool[..., Any]],
    *,
    before_call: AsyncBeforeCall | None = None,
    after_call: AsyncAfterCall | None = None,
) -> list[ToolResult]:
    """Run one answer's calls concurrently (async tools awaited, sync ones in worker
    threads); the hooks (plain or ``async``) run one at a time in the calls' order:
    every ``before_call`` before any tool runs, every ``after_call`` once all have
    finished; the results in the calls' order."""
    decided = []
    for call in calls:
        verdict = None if before_call is None else await _answer(before_call(call))
        decided.append(_decided(call, table, verdict))
    results: list[ToolResult | None] = [
        item if isinstance(item, ToolResult) else None for item in decided
    ]

    async def run(index: int, tool: FunctionTool[..., Any]) -> None:
        call = calls[index]
        watch = observer()
        if watch is None:
            results[index] = await tool.acall(call)
            return
        with observing(watch.tool(call.function.name, call.id, call.function.arguments)) as seen:
            results[index] = result = await tool.acall(call)
            _observed_result(seen, result)

    async with anyio.create_task_group() as group:
        for index, item in enumerate(decided):
            if not isinstance(item, ToolResult):
                group.start_soon(run, index, item)
    done = [result for result in results if result is not None]
    if after_call is None:
        return done
    return [
        _replaced(call, result, await _answer(after_call(call, result)))
        for call, result in zip(calls, done, strict=True)
    ]
