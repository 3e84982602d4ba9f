"""MCP tools in the tool loop, against a real MCP server (tests/tools/data/mcp/server.py),
over stdio (a subprocess MCPTools starts) and streamable HTTP (a subprocess the tests
start), with the scripted mock backend standing in for the model."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

import llmkit
from llmkit.agent import MCPTool, MCPToolError, MCPTools, arun_tools, run_tools
from llmkit.types import Done, TextDelta, ToolCall
from llmkit.types.events import ToolCallEvent

SERVER = Path(__file__).parent / "data" / "mcp" / "server.py"
QUESTION = [{"role": "user", "content": "What is 2 + 3, and the weather in Paris?"}]


def calls(*pairs):
    events = [
        ToolCallEvent(
            call=ToolCall.model_validate(
                {"id": f"c{i}", "function": {"name": name, "arguments": arguments, "index": i}}
            )
        )
        for i, (name, arguments) in enumerate(pairs)
    ]
    return [*events, Done()]


def answer(text):
    return [TextDelta(text=text), Done()]


@llmkit.tool
def shout(text: str) -> str:
    """Say it louder.

    Args:
        text: What to say.
    """
    return text.upper() + "!"


def stdio_server(**kwargs):
    return MCPTools.stdio(sys.executable, [str(SERVER)], timeout=30, **kwargs)


def tool_contents(request):
    return [(m.tool_name, m.tool_call_id, m.content) for m in request.messages if m.role == "tool"]


def script():
    """Two steps of calls (answers, an MCP error, invalid arguments, a Python tool), then
    an answer."""
    return [
        calls(("add", {"a": 2, "b": 3}), ("get_weather", {"city": "Paris"}), ("shout", {})),
        calls(("divide", {"a": 1, "b": 0}), ("add", {"a": "two"}), ("shout", {"text": "hi"})),
        answer("5, and sunny."),
    ]


def check_conversation(backend, run):
    assert run.steps == 3 and run.text == "5, and sunny."
    offered = [t.function.name for t in backend.requests[0].tools]
    assert offered == ["add", "get_weather", "divide", "whoami", "crash", "shout"]
    assert tool_contents(backend.requests[1]) == [
        ("add", "c0", "5"),
        ("get_weather", "c1", "sunny in Paris"),
        (
            "shout",
            "c2",
            "Error: invalid arguments for tool 'shout' (1 problem):\n"
            "- text: missing required argument\n"
            "Call shout again with arguments that match its parameters.",
        ),
    ]
    assert tool_contents(backend.requests[2])[3:] == [
        (
            "divide",
            "c0",
            "Error: tool 'divide' failed: Error executing tool divide: cannot divide by zero",
        ),
        (
            "add",
            "c1",
            "Error: invalid arguments for tool 'add' (2 problems):\n"
            "- a: 'two' is not of type 'integer' (got \"two\")\n"
            "- b: missing required argument\n"
            "Call add again with arguments that match its parameters.",
        ),
        ("shout", "c2", "HI!"),
    ]
    errors = [r.error for r in run.results]
    assert errors == [None, None, "invalid_arguments", "exception", "invalid_arguments", None]
    assert isinstance(run.results[3].exception, MCPToolError)
    assert run.results[3].exception.result["isError"] is True


def gone(pid, within=10.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# -- stdio ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stdio_lists_the_servers_tools_with_their_schemas():
    async with stdio_server() as server:
        assert [t.name for t in server] == ["add", "get_weather", "divide", "whoami", "crash"]
        add = server["add"]
        assert isinstance(add, MCPTool) and add.mcp_name == "add" and add.is_async
        assert add.description == "Add two integers."
        assert server["get_weather"].description == "The weather in a city."
        assert add.parameters["type"] == "object"
        assert add.parameters["required"] == ["a", "b"]
        assert add.parameters["properties"]["a"]["type"] == "integer"
        declared = add.to_tool().function
        assert declared.name == "add" and declared.parameters == add.parameters
        assert len(server) == 5 and server[0] is not None


@pytest.mark.anyio
async def test_the_async_loop_runs_mcp_tools_beside_python_ones_over_stdio():
    backend = llmkit.MockBackend(script())
    async with stdio_server() as server:
        run = await arun_tools(llmkit.AsyncClient(backend), QUESTION, [*server, shout])
    check_conversation(backend, run)


def test_the_sync_loop_runs_mcp_tools_beside_python_ones_over_stdio():
    backend = llmkit.MockBackend(script())
    with stdio_server() as server:
        assert not server["add"].is_async  # calls go to the background loop
        run = run_tools(llmkit.Client(backend), QUESTION, [*server, shout])
    check_conversation(backend, run)


@pytest.mark.anyio
async def test_a_crashing_tool_reaches_the_model_and_the_loop_goes_on():
    backend = llmkit.MockBackend([calls(("crash", {})), answer("It broke.")])
    async with stdio_server() as server:
        run = await arun_tools(llmkit.AsyncClient(backend), QUESTION, server.tools)
    assert run.text == "It broke."
    assert tool_contents(backend.requests[1]) == [
        ("crash", "c0", "Error: tool 'crash' failed: Error executing tool crash")
    ]


@pytest.mark.anyio
async def test_the_async_server_process_ends_with_the_block_and_gets_env():
    async with stdio_server(env={"LLMKIT_MCP_GREETING": "hello"}) as server:
        result = await server["whoami"].acall({})
        pid_text, greeting = result.content.split()
        assert greeting == "hello"
    pid = int(pid_text)
    assert pid != os.getpid() and gone(pid)
    with pytest.raises(RuntimeError, match="not connected"):
        _ = server.tools


def test_the_sync_server_process_ends_with_the_block_and_late_calls_are_errors():
    with stdio_server() as server:
        whoami = server["whoami"]
        pid = int(whoami.call({}).content)
        with pytest.raises(RuntimeError, match="already connected"), server:
            pass
    assert gone(pid)
    late = whoami.call({})
    assert late.error == "exception" and late.content.startswith("Error: tool 'whoami' raised")
    # a closed MCPTools connects anew
    with server:
        assert int(server["whoami"].call({}).content) != pid


def test_a_prefix_names_the_tools_apart():
    with stdio_server(prefix="math.") as server:
        add = server["math_add"]
        assert add.mcp_name == "add" and server["add"] is not None
        assert add.call({"a": 1, "b": 2}).content == "3"


def test_a_server_that_cannot_start_raises_on_enter():
    with pytest.raises(OSError), MCPTools.stdio(str(SERVER.parent / "no-such-server")):
        pass


# -- streamable HTTP -----------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def http_url():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the MCP test server exited"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert time.monotonic() < deadline, "the MCP test server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.anyio
async def test_the_async_loop_runs_mcp_tools_over_streamable_http(http_url):
    backend = llmkit.MockBackend(script())
    async with MCPTools.http(http_url, headers={"X-Test": "1"}, timeout=30) as server:
        assert server["add"].parameters["required"] == ["a", "b"]
        run = await arun_tools(llmkit.AsyncClient(backend), QUESTION, [*server, shout])
    check_conversation(backend, run)


def test_the_sync_loop_runs_mcp_tools_over_streamable_http(http_url):
    backend = llmkit.MockBackend(script())
    with MCPTools.http(http_url, timeout=30) as server:
        run = run_tools(llmkit.Client(backend), QUESTION, [*server, shout])
    check_conversation(backend, run)


@pytest.mark.anyio
async def test_sync_mcp_tools_also_work_in_the_async_loop(http_url):
    backend = llmkit.MockBackend([calls(("add", {"a": 4, "b": 5})), answer("9")])
    with MCPTools.http(http_url, timeout=30) as server:
        with anyio.fail_after(30):
            run = await arun_tools(llmkit.AsyncClient(backend), QUESTION, list(server))
    assert [r.content for r in run.results] == ["9"]
