"""Tools from Python reach the backend: every form in ``client.chat(tools=[...])``, the
prompt Ollama's templates build from them, and the example program."""

from __future__ import annotations

import enum
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

import llmkit
from llmkit import InvalidRequestError, MockBackend
from llmkit.template import Template
from llmkit.tools import as_tool, tool
from llmkit.types import ChatRequest, Tool

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "tests" / "data" / "templates"
USER = [{"role": "user", "content": "What is the weather in Paris?"}]


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Place(BaseModel):
    """A place on Earth."""

    city: str
    country: str = Field("FR", description="ISO country code.")


def get_weather(place: Place, unit: Unit = Unit.CELSIUS) -> str:
    """Get the weather.

    Args:
        place: Where.
        unit: Temperature unit.
    """
    return f"sunny in {place.city}"


@tool(name="convert_currency")
async def convert(amount: float) -> float:
    """Convert to dollars."""
    return amount * 1.1


class Booking(BaseModel):
    """Book a table."""

    guests: int


SCHEMA = {
    "title": "search",
    "description": "Search the web.",
    "type": "object",
    "properties": {"query": {"type": "string"}},
}
DECLARATION = {"name": "ping", "parameters": {"type": "object", "properties": {}}}
WIRE = {"type": "function", "function": {"name": "wire", "description": "As Ollama takes it."}}
SOURCES: list[Any] = [
    get_weather,
    convert,
    Booking,
    SCHEMA,
    DECLARATION,
    WIRE,
    Tool.model_validate(WIRE),
]


def offered(request: Any) -> list[Tool]:
    assert isinstance(request, ChatRequest) and request.tools is not None
    return request.tools


def test_every_form_of_tool_reaches_the_backend_as_its_schema():
    backend = MockBackend()
    llmkit.Client(backend).chat(USER, tools=SOURCES)
    tools = offered(backend.requests[-1])
    assert [t.function.name for t in tools] == [
        "get_weather",
        "convert_currency",
        "Booking",
        "search",
        "ping",
        "wire",
        "wire",
    ]
    for source, sent in zip(SOURCES, tools, strict=True):
        assert sent == as_tool(source).to_tool()
    assert tools[0].function.parameters["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]


@pytest.mark.anyio
async def test_the_async_client_takes_the_same_forms():
    backend = MockBackend()
    async with llmkit.AsyncClient(backend) as client:
        await client.chat(USER, tools=SOURCES)
    assert [t.function.name for t in offered(backend.requests[-1])][:3] == [
        "get_weather",
        "convert_currency",
        "Booking",
    ]


def test_a_bad_tool_is_an_error_naming_its_position():
    def star(*args: int) -> None: ...

    cases = [
        ([get_weather, star], "tools.1", r"tools\.1: tool 'star', parameter 'args'"),
        (
            [{"type": "object"}],
            "tools.0",
            r"tools\.0: a JSON schema used as a tool needs a 'title'",
        ),
        ([get_weather, get_weather, 42], "tools.2", r"tools\.2: a tool must be a function"),
    ]
    for tools, field, message in cases:
        with pytest.raises(InvalidRequestError, match=message) as caught:
            llmkit.Client(MockBackend()).chat(USER, tools=tools)
        assert caught.value.fields[0] == field
    # The wire shape is still validated field by field, as before.
    with pytest.raises(InvalidRequestError) as caught:
        llmkit.Client(MockBackend()).chat(USER, tools=[{"type": "function", "function": {}}])
    assert caught.value.fields == ["tools.0.function.name"]


def test_ollama_s_template_renders_the_nested_schema_and_the_enum():
    """The in-process path renders tools as Ollama does: its ToolProperty has no $ref, so
    the inlined schema is what lets the enum and the nested model reach the prompt."""
    template = Template.from_file(TEMPLATES / "llama3-tools.gotmpl")
    prompt = template.render(USER, tools=[as_tool(get_weather).to_tool()])
    assert '"name":"get_weather","description":"Get the weather."' in prompt
    unit = '"unit":{"type":"string","description":"Temperature unit.",'
    assert unit + '"enum":["celsius","fahrenheit"]}' in prompt
    country = '"country":{"type":"string","description":"ISO country code."}'
    assert '"properties":{"city":{"type":"string"},' + country + "}" in prompt
    assert '"required":["city"]' in prompt

    # What pydantic writes by itself (references) reaches Ollama's rendering as empty
    # properties: the definitions are printed apart, the parameters say nothing.
    raw = Tool.model_validate(
        {"function": {"name": "get_weather", "parameters": as_tool_model_schema()}}
    )
    raw_prompt = template.render(USER, tools=[raw])
    assert '"properties":{"place":{},"unit":{}}' in raw_prompt


def as_tool_model_schema() -> dict[str, Any]:
    class Arguments(BaseModel):
        place: Place
        unit: Unit = Unit.CELSIUS

    return Arguments.model_json_schema()


def test_the_example_runs_and_shows_good_and_bad_calls():
    result = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / "tools_from_functions.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"name": "get_weather"' in out
    assert '{"city":"Paris","temperature":21,"days":3}' in out
    assert "- place.city: missing required argument" in out
    assert "- days: Input should be less than or equal to 7 (got 9)" in out
    assert "raised LookupError: no weather station in Atlantis" in out
    assert "11.00 USD" in out and "22.00 USD" in out
    assert "Booking(guests=2, time='19:30')" in out
    assert "search: 'Search the web.'" in out
