"""The tool loop's logic, sync and async, against the scripted mock backend (no model)."""

from __future__ import annotations

import anyio
import pytest

import llmkit
from llmkit.agent import arun_tools, run_tools
from llmkit.errors import InvalidRequestError, ToolLoopError
from llmkit.tools import ToolResult
from llmkit.types import Done, TextDelta, ToolCall
from llmkit.types.events import ToolCallEvent

QUESTION = [{"role": "user", "content": "What is the weather in Paris and in Rome?"}]


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
def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city.
    """
    return f"sunny in {city}"


def test_the_loop_runs_calls_appends_results_and_stops_at_an_answer():
    backend = llmkit.MockBackend(
        [
            calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})),
            answer("Both sunny."),
        ]
    )
    run = run_tools(llmkit.Client(backend), QUESTION, [get_weather], tool_choice="required")
    assert run.steps == 2 and run.text == "Both sunny."
    assert [m.role for m in run.messages] == ["user", "assistant", "tool", "tool", "assistant"]
    assert [(m.tool_name, m.tool_call_id, m.content) for m in run.messages[2:4]] == [
        ("get_weather", "c0", "sunny in Paris"),
        ("get_weather", "c1", "sunny in Rome"),
    ]
    assert [r.content for r in run.results] == ["sunny in Paris", "sunny in Rome"]
    # tool_choice forces the first step only; the second lets the model answer
    assert [r.tool_choice for r in backend.requests] == ["required", None]
    assert all(r.tools[0].function.name == "get_weather" for r in backend.requests)
    assert backend.requests[1].messages == run.messages[:4]


def test_max_steps_raises_with_the_conversation_so_far():
    script = [calls(("get_weather", {"city": "Paris"})) for _ in range(3)]
    with pytest.raises(ToolLoopError, match="max_steps=2") as caught:
        run_tools(llmkit.Client(llmkit.MockBackend(script)), QUESTION, [get_weather], max_steps=2)
    assert caught.value.steps == 2
    assert [m.role for m in caught.value.messages] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]


def test_hooks_approve_deny_answer_and_replace():
    script = [
        calls(
            ("get_weather", {"city": "Paris"}),
            ("get_weather", {"city": "Rome"}),
            ("get_weather", {"city": "Oslo"}),
            ("get_weather", {"city": "Lima"}),
        ),
        answer("ok"),
    ]
    verdicts = {"Paris": None, "Rome": False, "Oslo": "cached: rainy", "Lima": True}
    logged = []

    def before(call):
        return verdicts[call.function.arguments["city"]]

    def after(call, result):
        logged.append(result.content)
        return result.content.upper() if call.function.arguments["city"] == "Lima" else None

    run = run_tools(
        llmkit.Client(llmkit.MockBackend(script)),
        QUESTION,
        [get_weather],
        before_call=before,
        after_call=after,
    )
    contents = [m.content for m in run.messages if m.role == "tool"]
    assert contents[0] == "sunny in Paris"
    assert "denied" in contents[1]
    assert contents[2] == "cached: rainy"
    assert contents[3] == "SUNNY IN LIMA"
    assert logged == ["sunny in Paris", contents[1], "cached: rainy", "sunny in Lima"]


def test_unknown_tools_and_bad_arguments_become_results_the_model_reads():
    script = [calls(("launch", {}), ("get_weather", {"town": "Paris"})), answer("sorry")]
    run = run_tools(llmkit.Client(llmkit.MockBackend(script)), QUESTION, [get_weather])
    unknown, invalid = run.results
    assert unknown.error == "invalid_arguments" and "no tool named 'launch'" in unknown.content
    assert "get_weather" in unknown.content
    assert invalid.error == "invalid_arguments" and "city" in invalid.content


def test_bad_loop_input_is_an_invalid_request():
    client = llmkit.Client("mock")
    with pytest.raises(InvalidRequestError, match="max_steps"):
        run_tools(client, QUESTION, [get_weather], max_steps=0)
    with pytest.raises(InvalidRequestError, match="no Python function") as caught:
        run_tools(client, QUESTION, [get_weather, {"name": "declared_only"}])
    assert caught.value.fields == ["tools.1"]
    with pytest.raises(InvalidRequestError, match="at least one tool"):
        run_tools(client, QUESTION, [])
    with pytest.raises(InvalidRequestError, match=r"messages\.0"):
        run_tools(client, [{"role": "robot"}], [get_weather])


@pytest.mark.anyio
async def test_the_async_loop_runs_async_tools_concurrently():
    both_started = anyio.Event()
    started = []

    @llmkit.tool
    async def slow_lookup(key: str) -> str:
        """Look a key up.

        Args:
            key: The key.
        """
        started.append(key)
        if len(started) == 2:
            both_started.set()
        with anyio.fail_after(5):  # sequential calls would wait here forever
            await both_started.wait()
        return key.upper()

    script = [calls(("slow_lookup", {"key": "a"}), ("slow_lookup", {"key": "b"})), answer("AB")]
    async with llmkit.AsyncClient(llmkit.MockBackend(script)) as client:
        run = await arun_tools(client, QUESTION, [slow_lookup])
    assert [r.content for r in run.results] == ["A", "B"]
    assert run.text == "AB" and run.steps == 2


@pytest.mark.anyio
async def test_the_async_loop_calls_hooks_in_order_and_runs_sync_tools():
    seen = []
    script = [
        calls(("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})),
        answer("x"),
    ]
    async with llmkit.AsyncClient(llmkit.MockBackend(script)) as client:
        run = await arun_tools(
            client,
            QUESTION,
            [get_weather],
            before_call=lambda call: seen.append(call.id),
            after_call=lambda call, result: ToolResult(result.tool_name, "edited", call.id),
        )
    assert seen == ["c0", "c1"]
    assert [m.content for m in run.messages if m.role == "tool"] == ["edited", "edited"]


def test_calls_to_tools_not_offered_are_flagged_for_every_backend():
    # the mock backend, like an HTTP server, hands over calls already parsed
    script = [calls(("get_weather", {"city": "Paris"}), ("launch", {"code": 1})), answer("x")]
    client = llmkit.Client(llmkit.MockBackend(script))
    events = list(client.chat(QUESTION, tools=[get_weather], stream=True))
    flagged = [
        (e.call.function.name, e.unknown, e.raw) for e in events if isinstance(e, ToolCallEvent)
    ]
    assert flagged == [("get_weather", False, None), ("launch", True, None)]
    # the response keeps every call the model made; the loop answers the unknown one
    run = run_tools(llmkit.Client(llmkit.MockBackend(script)), QUESTION, [get_weather])
    assert [c.function.name for c in run.messages[1].tool_calls] == ["get_weather", "launch"]
    assert "no tool named 'launch'" in run.results[1].content


@pytest.mark.anyio
async def test_async_clients_flag_unknown_calls_too():
    script = [
        calls(
            ("launch", {}),
        )
    ]
    async with llmkit.AsyncClient(llmkit.MockBackend(script)) as client:
        stream = await client.chat(QUESTION, tools=[get_weather], stream=True)
        async with stream:
            events = [e async for e in stream]
    assert [e.unknown for e in events if isinstance(e, ToolCallEvent)] == [True]
    # without tools nothing is offered, so nothing is judged
    async with llmkit.AsyncClient(llmkit.MockBackend(script)) as client:
        stream = await client.chat(QUESTION, stream=True)
        async with stream:
            events = [e async for e in stream]
    assert [e.unknown for e in events if isinstance(e, ToolCallEvent)] == [False]


@pytest.mark.anyio
async def test_the_async_loop_awaits_async_hooks_in_order():
    script = [
        calls(
            ("get_weather", {"city": "Paris"}),
            ("get_weather", {"city": "Rome"}),
            ("get_weather", {"city": "Oslo"}),
        ),
        answer("ok"),
    ]
    seen = []

    async def before(call):
        await anyio.sleep(0.01 if call.id == "c0" else 0)  # order holds even when one waits
        seen.append(("before", call.id))
        return {"c1": False, "c2": "asked a person: cloudy"}.get(call.id)

    async def after(call, result):
        await anyio.sleep(0)
        seen.append(("after", call.id))
        return f"logged: {result.content}" if call.id == "c0" else None

    async with llmkit.AsyncClient(llmkit.MockBackend(script)) as client:
        run = await arun_tools(
            client, QUESTION, [get_weather], before_call=before, after_call=after
        )
    assert seen == [
        ("before", "c0"),
        ("before", "c1"),
        ("before", "c2"),
        ("after", "c0"),
        ("after", "c1"),
        ("after", "c2"),
    ]
    contents = [m.content for m in run.messages if m.role == "tool"]
    assert contents[0] == "logged: sunny in Paris"
    assert "denied" in contents[1]
    assert contents[2] == "asked a person: cloudy"


def test_the_sync_loop_refuses_async_hooks_clearly():
    async def before(call):
        return None

    script = [calls(("get_weather", {"city": "Paris"})), answer("ok")]
    client = llmkit.Client(llmkit.MockBackend(script))
    with pytest.raises(InvalidRequestError, match="before_call returned an awaitable"):
        run_tools(client, QUESTION, [get_weather], before_call=before)

    async def after(call, result):
        return None

    client = llmkit.Client(llmkit.MockBackend(script))
    with pytest.raises(InvalidRequestError, match="after_call returned an awaitable"):
        run_tools(client, QUESTION, [get_weather], after_call=after)
