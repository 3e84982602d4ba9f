"""``arun_tools``: the tool loop (the parts both loops share are in :mod:`llmkit.agent._loop`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from llmkit.agent._loop import (
    AsyncAfterCall,
    AsyncBeforeCall,
    ToolRun,
    arun_calls,
    to_messages,
    tool_table,
)
from llmkit.errors import InvalidRequestError, ToolLoopError
from llmkit.tools.results import ToolResult

if TYPE_CHECKING:
    from llmkit._request import MessageLike, OptionsLike, ToolLike
    from llmkit.client import AsyncClient
    from llmkit.types.requests import ThinkLevel, ToolChoice

__all__ = ["arun_tools"]


async def arun_tools(
    client: AsyncClient,
    messages: Sequence[MessageLike],
    tools: Sequence[ToolLike],
    *,
    max_steps: int = 8,
    tool_choice: ToolChoice | None = None,
    before_call: AsyncBeforeCall | None = None,
    after_call: AsyncAfterCall | None = None,
    model: str | None = None,
    options: OptionsLike | None = None,
    think: bool | ThinkLevel | None = None,
    keep_alive: str | float | None = None,
) -> ToolRun:
    """Chat with tools until the model answers without calling one.

    Each step calls the model with ``tools``, runs the calls it asked for (see
    :mod:`llmkit.agent._loop` for ``before_call`` and ``after_call``, and for the async
    loop's concurrent calls and ``async`` hooks), and appends the
    assistant message and one ``tool`` message per call (with ``tool_name`` and
    ``tool_call_id``). ``tool_choice`` applies to the first step only ("required" or a
    tool name forces a call there); later steps let the model choose, so that it can
    answer. After ``max_steps`` model calls that all asked for tools, a
    :class:`~llmkit.errors.ToolLoopError` carries the conversation so far.
    """
    if max_steps < 1:
        raise InvalidRequestError("max_steps must be at least 1", fields=["max_steps"])
    table = tool_table(tools)
    offered = list(table.values())
    conversation = to_messages(messages)
    results: list[ToolResult] = []
    for step in range(1, max_steps + 1):
        response = await client.chat(
            conversation,
            tools=offered,
            tool_choice=tool_choice if step == 1 else None,
            model=model,
            options=options,
            think=think,
            keep_alive=keep_alive,
        )
        conversation.append(response.message)
        calls = response.message.tool_calls or []
        if not calls:
            return ToolRun(response, conversation, step, results)
        done = await arun_calls(calls, table, before_call=before_call, after_call=after_call)
        results.extend(done)
        conversation.extend(result.to_message() for result in done)
    raise ToolLoopError(
        f"the model still called tools after max_steps={max_steps} steps",
        messages=conversation,
        steps=max_steps,
    )
