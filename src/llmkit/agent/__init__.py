"""The agent loop: call the model, run the tool calls it asks for, and call it again.

:func:`run_tools` / :func:`arun_tools` chat with tools until the model answers without
calling one, and return a :class:`ToolRun`. Each step's calls go through the
``before_call`` / ``after_call`` hooks (:data:`BeforeCall`, :data:`AfterCall`; for the
async loop :data:`AsyncBeforeCall`, :data:`AsyncAfterCall`): see :mod:`llmkit.agent._loop`.
:class:`MCPTools` offers the tools of a Model Context Protocol server (stdio or streamable
HTTP) to the loop beside Python functions: see :mod:`llmkit.agent._mcp`.

The loop sits above the client and the tools: it imports :mod:`llmkit.tools` (the tool
definitions) and is given a :class:`~llmkit.Client`; neither of them imports it.
"""

from llmkit.agent._async.loop import arun_tools
from llmkit.agent._loop import AfterCall, AsyncAfterCall, AsyncBeforeCall, BeforeCall, ToolRun
from llmkit.agent._mcp import MCPTool, MCPToolError, MCPTools
from llmkit.agent._sync.loop import run_tools

__all__ = [
    "AfterCall",
    "AsyncAfterCall",
    "AsyncBeforeCall",
    "BeforeCall",
    "MCPTool",
    "MCPToolError",
    "MCPTools",
    "ToolRun",
    "arun_tools",
    "run_tools",
]
