"""A small MCP server for llmkit's MCP tool tests (a real one, built with the mcp package).

Run as ``python server.py`` for stdio, or ``python server.py http PORT`` for streamable
HTTP on 127.0.0.1:PORT (endpoint ``/mcp``). Its tools: ``add``, ``get_weather``,
``divide`` (fails on a zero divisor), ``whoami`` (its process id and the environment's
``LLMKIT_MCP_GREETING``) and ``crash`` (an unexpected exception).
"""

from __future__ import annotations

import os
import sys

try:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    MODERN = True
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as MCPServer
    from mcp.server.fastmcp.exceptions import ToolError

    MODERN = False

# CRITICAL: the crash tool's traceback would fill the test log otherwise.
server = MCPServer("llmkit-test-server", log_level="CRITICAL")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool(description="The weather in a city.")
def get_weather(city: str) -> str:
    return f"sunny in {city}"


@server.tool()
def divide(a: float, b: float) -> float:
    """Divide a by b."""
    if b == 0:
        raise ToolError("cannot divide by zero")
    return a / b


@server.tool()
def whoami() -> str:
    """This server's process id and greeting."""
    return f"{os.getpid()} {os.environ.get('LLMKIT_MCP_GREETING', '')}".strip()


@server.tool()
def crash() -> str:
    """Always fails."""
    raise RuntimeError("the server's tool crashed")


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"] and MODERN:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    elif sys.argv[1:2] == ["http"]:
        server.settings.host, server.settings.port = "127.0.0.1", int(sys.argv[2])
        server.run("streamable-http")
    else:
        server.run()
