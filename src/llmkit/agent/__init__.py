"""The agent loop: call the model, run the tool calls it asks for, and call it again.

:func:`run_tools` / :func:`arun_tools` chat with tools until the model answers without
calling one, and return a :class:`ToolRun`. Each step's calls go through the
``before_call`` / ``after_call`` hooks (:data:`BeforeCall`, :data:`AfterCall`; for the
async loop :data:`AsyncBeforeCall`, :data:`AsyncAfterCall`): see :mod:`llmkit.agent._loop`.

The loop sits above the client and the tools: it imports :mod:`llmkit.tools` (the tool
definitions) and is given a :class:`~llmkit.Client`; neither of them imports it.
"""

from llmkit.agent._async.loop import arun_tools
from llmkit.agent._loop import AfterCall, AsyncAfterCall, AsyncBeforeCall, BeforeCall, ToolRun
from llmkit.agent._sync.loop import run_tools

__all__ = [
    "AfterCall",
    "AsyncAfterCall",
    "AsyncBeforeCall",
    "BeforeCall",
    "ToolRun",
    "arun_tools",
    "run_tools",
]
