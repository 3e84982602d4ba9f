"""Tools from Python: calling a tool with the model's arguments, sync and async."""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio
import pytest
from pydantic import BaseModel, Field

from llmkit import InvalidRequestError, ToolCall
from llmkit.tools import ArgumentProblem, ToolResult, tool


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Place(BaseModel):
    city: str
    country: str = "FR"


@tool
def forecast(
    place: Place,
    unit: Unit = Unit.CELSIUS,
    days: int = Field(1, ge=1, le=7),
    hours: list[int] | None = None,
    style: Literal["short", "long"] = "short",
) -> dict[str, Any]:
    """Forecast the weather."""
    return {"city": place.city, "unit": unit, "days": days, "hours": hours, "style": style}


def test_valid_arguments_are_converted_and_the_result_is_json():
    result = forecast.call({"place": {"city": "Paris"}, "unit": "fahrenheit", "days": "3"})
    assert result == ToolResult(
        "forecast",
        '{"city":"Paris","unit":"fahrenheit","days":3,"hours":null,"style":"short"}',
        value={
            "city": "Paris",
            "unit": Unit.FAHRENHEIT,
            "days": 3,
            "hours": None,
            "style": "short",
        },
    )
    assert not result.is_error


def test_arguments_may_be_a_json_string_or_absent():
    assert forecast.call('{"place": {"city": "Oslo"}}').value["city"] == "Oslo"

    @tool
    def now() -> str:
        return "12:00"

    assert now.call().content == "12:00"
    assert now.call("").content == "12:00"
    assert now.call("  ").content == "12:00"


def test_invalid_arguments_become_a_result_that_names_each_field():
    result = forecast.call(
        {
            "place": {"country": 3},
            "unit": "kelvin",
            "days": 9,
            "hours": [1, "noon"],
            "colour": "red",
        }
    )
    assert result.error == "invalid_arguments"
    assert result.is_error and result.value is None
    assert result.problems == (
        ArgumentProblem("place.city", "missing required argument"),
        ArgumentProblem("place.country", "Input should be a valid string (got 3)"),
        ArgumentProblem("unit", "Input should be 'celsius' or 'fahrenheit' (got \"kelvin\")"),
        ArgumentProblem("days", "Input should be less than or equal to 7 (got 9)"),
        ArgumentProblem(
            "hours[1]",
            'Input should be a valid integer, unable to parse string as an integer (got "noon")',
        ),
        ArgumentProblem("colour", "unexpected argument"),
    )
    lines = result.content.splitlines()
    assert lines[0] == "Error: invalid arguments for tool 'forecast' (6 problems):"
    assert lines[1] == "- place.city: missing required argument"
    assert lines[-1] == "Call forecast again with arguments that match its parameters."


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    name: str


class Node(BaseModel):
    value: int
    children: list[Node] = []


@tool
def adopt(
    pet: Cat | Dog,
    tagged: Annotated[Cat | Dog, Field(discriminator="kind")] | None = None,
    size: int | list[int] = 1,
    owner: Place | None = None,
    extra: dict[str, int] | None = None,
    tree: Node | None = None,
    pair: tuple[int, str] = (0, ""),
) -> None:
    """Adopt a pet."""


def test_union_forms_are_told_apart_from_argument_paths():
    result = adopt.call(
        {
            "pet": {"kind": "cow", "lives": "many"},
            "tagged": {"kind": "dog", "name": 5},
            "size": "big",
            "owner": {"country": "FR"},
            "extra": {"k": "v"},
            "tree": {"value": 1, "children": [{"value": 2, "children": [{"value": "x"}]}]},
            "pair": [1, 2],
        }
    )
    assert [(p.path, p.variant) for p in result.problems] == [
        ("pet.kind", "Cat"),
        ("pet.lives", "Cat"),
        ("pet.kind", "Dog"),
        ("pet.name", "Dog"),
        ("tagged.name", "dog"),
        ("size", "int"),
        ("size", "list[int]"),
        ("owner.city", ""),
        ("extra.k", ""),
        ("tree.children[0].children[0].value", ""),
        ("pair[1]", ""),
    ]
    assert "- pet.kind (as Cat): Input should be 'cat' (got \"cow\")" in result.content
    assert "- owner.city: missing required argument" in result.content
    assert str(result.problems[0]) == "pet.kind (as Cat): Input should be 'cat' (got \"cow\")"


def test_the_function_is_not_called_with_invalid_arguments():
    calls: list[int] = []

    @tool
    def record(n: int) -> int:
        calls.append(n)
        return n

    assert record.call({"n": "x"}).is_error
    assert record.call({}).problems == (ArgumentProblem("n", "missing required argument"),)
    assert calls == []


def test_arguments_that_are_not_an_object():
    bad_json = forecast.call('{"place": ')
    assert bad_json.error == "invalid_arguments"
    assert bad_json.problems[0].path == ""
    assert bad_json.problems[0].message.startswith("not valid JSON: Expecting value")
    assert "- not valid JSON" in bad_json.content
    assert forecast.call("[1, 2]").problems == (
        ArgumentProblem("", "expected a JSON object, got [1, 2]"),
    )


def test_long_inputs_are_shortened_in_the_message():
    result = forecast.call({"place": {"city": "x" * 500}, "days": "y" * 500})
    assert result.problems[0].path == "days"
    assert len(result.content) < 400
    assert '"yyyy' in result.content and '..."' not in result.content
    assert result.content.count("y") < 100


def test_an_exception_in_the_tool_becomes_a_result():
    @tool
    def divide(a: float, b: float) -> float:
        return a / b

    result = divide.call({"a": 1, "b": 0})
    assert result.error == "exception"
    assert isinstance(result.exception, ZeroDivisionError)
    assert result.content == "Error: tool 'divide' raised ZeroDivisionError: float division by zero"
    assert divide.call({"a": 1, "b": 4}).content == "0.25"

    @tool
    def silent() -> None:
        raise KeyError

    assert silent.call().content == "Error: tool 'silent' raised KeyError"


def test_exceptions_propagate_when_asked():
    def fail() -> None:
        raise ValueError("no")

    raising = tool(fail, propagate_exceptions=True)
    with pytest.raises(ValueError, match="no"):
        raising.call()
    # ... per call too, both ways.
    assert raising.call(propagate_exceptions=False).error == "exception"
    with pytest.raises(ValueError, match="no"):
        tool(fail).call(propagate_exceptions=True)

    @tool(propagate_exceptions=True)
    def also() -> None:
        raise LookupError("x")

    with pytest.raises(LookupError):
        also.call()


def test_base_exceptions_are_never_swallowed():
    class Stop(BaseException):
        pass

    @tool
    def stop() -> None:
        raise Stop

    with pytest.raises(Stop):
        stop.call()


def test_return_values_become_text():
    @dataclass
    class Point:
        x: int

    class Opaque:
        def __str__(self) -> str:
            return "opaque!"

    values: dict[str, Any] = {
        "text": ("héllo", "héllo"),
        "none": (None, "null"),
        "model": (Place(city="Rome"), '{"city":"Rome","country":"FR"}'),
        "dataclass": (Point(1), '{"x":1}'),
        "list": ([1, "é", {"a": None}], '[1,"é",{"a":null}]'),
        "opaque": (Opaque(), '"opaque!"'),
    }

    def returning(value: Any) -> Any:
        def give() -> Any:
            return value

        return give

    for name, (value, content) in values.items():
        made = tool(returning(value), name=name)
        assert made.parameters["properties"] == {}
        assert made.call({}).content == content, name


def test_a_tool_call_carries_its_id_and_name_into_the_result():
    call = ToolCall.model_validate(
        {"id": "call_7", "function": {"name": "forecast", "arguments": {"place": {"city": "Nice"}}}}
    )
    result = forecast.call(call)
    assert result.call_id == "call_7" and result.value["city"] == "Nice"
    message = result.to_message()
    assert (message.role, message.tool_name, message.tool_call_id) == ("tool", "forecast", "call_7")
    assert message.content == result.content
    assert forecast.call(call, call_id="mine").call_id == "mine"
    assert forecast.call({"place": {"city": "x"}}, call_id="c1").call_id == "c1"
    wrong = ToolCall.model_validate({"function": {"name": "other", "arguments": {}}})
    with pytest.raises(InvalidRequestError, match="a call to 'other' was given to the tool"):
        forecast.call(wrong)


def test_a_function_s_own_default_is_used_when_an_argument_is_not_given():
    sentinel = object()

    def pick(x: Any = sentinel) -> bool:
        return x is sentinel

    assert tool(pick).call({}).value is True
    # A default that is not JSON is not shown; the parameter is still optional.
    assert tool(pick).parameters["properties"]["x"] == {}
    assert "required" not in tool(pick).parameters
    assert tool(pick).call({"x": 1}).value is False

    def grow(items: list[int] | None = None) -> list[int]:
        items = items if items is not None else []
        items.append(1)
        return items

    grower = tool(grow)
    assert grower.call({}).value == [1] and grower.call({}).value == [1]


# -- async ---------------------------------------------------------------------------------


@tool
async def fetch_title(url: str, retries: int = 0) -> str:
    """Fetch a page's title."""
    await anyio.sleep(0)
    if url == "bad":
        raise ConnectionError("refused")
    return f"title of {url} ({retries})"


@pytest.mark.anyio
async def test_async_tools_are_awaited():
    assert fetch_title.is_async
    result = await fetch_title.acall({"url": "a.example", "retries": "2"})
    assert result.content == "title of a.example (2)"
    failed = await fetch_title.acall({"url": "bad"})
    assert failed.error == "exception" and "ConnectionError: refused" in failed.content
    invalid = await fetch_title.acall({"retries": 1})
    assert invalid.problems == (ArgumentProblem("url", "missing required argument"),)


@pytest.mark.anyio
async def test_sync_tools_run_in_a_worker_thread_from_async_code():
    loop_thread = threading.get_ident()
    barrier = threading.Barrier(2, timeout=10)

    @tool
    def meet(who: str) -> str:
        # Both calls must be running at once to pass the barrier: neither blocks the loop.
        barrier.wait()
        return f"{who} in {'worker' if threading.get_ident() != loop_thread else 'loop'}"

    results: list[str] = []

    async def one(who: str) -> None:
        results.append((await meet.acall({"who": who})).content)

    async with anyio.create_task_group() as group:
        group.start_soon(one, "a")
        group.start_soon(one, "b")
    assert sorted(results) == ["a in worker", "b in worker"]


@pytest.mark.anyio
async def test_async_exceptions_propagate_when_asked():
    with pytest.raises(ConnectionError):
        await fetch_title.acall({"url": "bad"}, propagate_exceptions=True)


def test_an_async_tool_called_from_sync_code_runs_its_own_loop():
    assert fetch_title.call({"url": "b.example"}).content == "title of b.example (0)"
    assert fetch_title.call({"url": "bad"}).error == "exception"


@pytest.mark.anyio
async def test_an_async_tool_called_sync_inside_a_loop_says_to_await():
    with pytest.raises(RuntimeError, match=r"await tool.acall"):
        fetch_title.call({"url": "x"})


@pytest.mark.anyio
async def test_calling_the_object_calls_the_function():
    assert await fetch_title("c", 1) == "title of c (1)"
    assert fetch_title.__name__ == "fetch_title"


@pytest.mark.anyio
async def test_model_tools_validate_in_async_code_too():
    made = tool(Place)
    assert (await made.acall({"city": "Lyon"})).value == Place(city="Lyon")
    assert (await made.acall({"city": 1})).error == "invalid_arguments"
