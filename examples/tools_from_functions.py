"""Tools from Python: schemas from type hints and docstrings, and calls checked against them.

Runs without a model: it prints what a model would be offered, calls the tools the way a
model's tool call would (good arguments, bad arguments, a failing tool, an async tool), and
offers all the tool forms to the mock backend.
"""

from __future__ import annotations

import enum
import json
from typing import Annotated

import anyio
from pydantic import BaseModel, Field

import llmkit


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Place(BaseModel):
    """A place on Earth."""

    city: str
    country: str = Field("FR", description="ISO country code.")


@llmkit.tool
def get_weather(
    place: Place,
    unit: Unit = Unit.CELSIUS,
    days: Annotated[int, Field(ge=1, le=7)] = 1,
) -> dict[str, object]:
    """Get the weather forecast for a place.

    Args:
        place: Where to forecast.
        unit: The temperature unit.
        days: How many days to forecast.
    """
    if place.city == "Atlantis":
        raise LookupError(f"no weather station in {place.city}")
    return {"city": place.city, "temperature": 21 if unit is Unit.CELSIUS else 70, "days": days}


@llmkit.tool
async def convert(amount: float, currency: str = "EUR") -> str:
    """Convert an amount to US dollars.

    :param amount: How much money.
    :param currency: The ISO code of its currency.
    """
    await anyio.sleep(0)
    return f"{amount * 1.1:.2f} USD"


class Booking(BaseModel):
    """Book a table at a restaurant.

    Attributes:
        guests: How many people.
        time: When, as HH:MM.
    """

    guests: int = Field(ge=1)
    time: str


def main() -> None:
    print("== what the model is offered")
    print(json.dumps(get_weather.to_tool().model_dump(exclude_unset=True), indent=2))

    print("\n== good arguments (a JSON string, as a model writes them)")
    result = get_weather.call('{"place": {"city": "Paris"}, "days": "3"}')
    print(result.content)

    print("\n== bad arguments: a result that tells the model what to fix")
    result = get_weather.call({"place": {"country": "IT"}, "unit": "kelvin", "days": 9})
    print(result.content)
    print("problems:", [problem.path for problem in result.problems])

    print("\n== the tool fails: the exception becomes the result")
    print(get_weather.call({"place": {"city": "Atlantis"}}).content)

    print("\n== an async tool, from async code and from sync code")
    print(anyio.run(convert.acall, {"amount": 10}).content)
    print(convert.call({"amount": "20", "currency": "GBP"}).content)

    print("\n== a pydantic model as a tool: the call returns a validated instance")
    booking = llmkit.tool(Booking).call({"guests": 2, "time": "19:30"})
    print(repr(booking.value))

    print("\n== every form goes into client.chat(tools=[...])")
    backend = llmkit.MockBackend()
    schema = {
        "title": "search",
        "description": "Search the web.",
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    }
    llmkit.Client(backend).chat(
        [{"role": "user", "content": "What should I wear in Paris?"}],
        tools=[get_weather, convert, Booking, schema],
    )
    request = backend.requests[0]
    assert isinstance(request, llmkit.ChatRequest) and request.tools is not None
    for offered in request.tools:
        print(f"{offered.function.name}: {offered.function.description!r}")


if __name__ == "__main__":
    main()
