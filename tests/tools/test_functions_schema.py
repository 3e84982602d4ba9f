"""Tools from Python: the schema a function, a pydantic model or a JSON schema offers."""

from __future__ import annotations

import copy
import doctest
import enum
import functools
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field

import llmkit
from llmkit import InvalidRequestError
from llmkit.tools import FunctionTool, as_tool, functions, tool
from llmkit.tools.schema import inline_refs
from llmkit.types import Tool


class Unit(enum.Enum):
    """A temperature unit."""

    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Address(BaseModel):
    """A postal address."""

    street: str
    zip_code: Annotated[str, Field(pattern=r"^\d{5}$")] | None = None


class Stop(BaseModel):
    """One stop of a trip."""

    city: str
    address: Address
    nights: int = Field(1, ge=1, description="Nights to stay.")


class Tree(BaseModel):
    """A tree of numbers."""

    value: int
    children: list[Tree] = []


@tool
def plan_trip(
    traveller: str,
    stops: list[Stop],
    unit: Unit = Unit.CELSIUS,
    pace: Literal["slow", "fast"] = "slow",
    mode: Literal["train"] = "train",
    budget: float | None = None,
    days: Annotated[int, Field(ge=1, le=30, description="Length of the trip.")] = 7,
    tags: dict[str, int] | None = None,
    notes: str = Field("", max_length=200, title="Notes"),
) -> str:
    """Plan a trip.

    The plan is a list of stops.

    Args:
        traveller: Who travels.
        stops: Where to stop,
            in order.
        unit: Unit for temperatures.
        days: This docstring entry loses to the Field description.
        tags: Labels and weights.
    """
    return f"{traveller}: {len(stops)} stops"


def props(t: FunctionTool[..., Any]) -> dict[str, Any]:
    return t.parameters["properties"]


def test_name_description_and_required_come_from_the_function():
    assert plan_trip.name == "plan_trip"
    assert plan_trip.description == "Plan a trip.\n\nThe plan is a list of stops."
    assert plan_trip.parameters["type"] == "object"
    assert plan_trip.parameters["required"] == ["traveller", "stops"]
    assert plan_trip.parameters["additionalProperties"] is False
    assert list(props(plan_trip)) == [
        "traveller",
        "stops",
        "unit",
        "pace",
        "mode",
        "budget",
        "days",
        "tags",
        "notes",
    ]


def test_scalar_types_defaults_and_docstring_descriptions():
    p = props(plan_trip)
    assert p["traveller"] == {"description": "Who travels.", "type": "string"}
    assert p["budget"] == {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None}
    assert p["tags"]["anyOf"][0] == {"additionalProperties": {"type": "integer"}, "type": "object"}
    assert p["tags"]["description"] == "Labels and weights."


def test_annotated_field_description_and_constraints_win_over_the_docstring():
    assert props(plan_trip)["days"] == {
        "default": 7,
        "description": "Length of the trip.",
        "maximum": 30,
        "minimum": 1,
        "type": "integer",
    }


def test_a_field_default_keeps_its_constraints_and_explicit_title():
    assert props(plan_trip)["notes"] == {
        "default": "",
        "maxLength": 200,
        "title": "Notes",
        "type": "string",
    }


def test_no_generated_titles_anywhere():
    def titles(node: Any) -> set[str]:
        if isinstance(node, dict):
            own = {node["title"]} if isinstance(node.get("title"), str) else set()
            return own.union(*(titles(v) for v in node.values()))
        if isinstance(node, list):
            return set().union(*(titles(v) for v in node))
        return set()

    # The explicit Field(title=...) and the models' and enum's own titles; no "Traveller".
    assert titles(plan_trip.parameters) == {"Notes", "Unit", "Stop", "Address"}


def test_enums_and_literals_are_inlined_enums():
    p = props(plan_trip)
    assert p["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert p["unit"]["type"] == "string"
    assert p["unit"]["default"] == "celsius"
    # Both descriptions are kept: the parameter's, then the enum's own.
    assert p["unit"]["description"] == "Unit for temperatures.\n\nA temperature unit."
    assert p["pace"] == {"default": "slow", "enum": ["slow", "fast"], "type": "string"}
    # A one-value Literal is a const, and also an enum, which Ollama keeps.
    assert p["mode"] == {"const": "train", "default": "train", "type": "string", "enum": ["train"]}


def test_nested_models_stay_nested_with_nothing_dropped():
    stops = props(plan_trip)["stops"]
    assert stops["type"] == "array"
    assert stops["description"] == "Where to stop, in order."
    stop = stops["items"]
    assert stop["description"] == "One stop of a trip."
    # A described parameter of a described model keeps both texts.
    assert props(plan_trip)["stops"]["items"]["properties"]["address"]["description"] == (
        "A postal address."
    )
    assert stop["required"] == ["city", "address"]
    assert stop["properties"]["nights"] == {
        "default": 1,
        "description": "Nights to stay.",
        "minimum": 1,
        "type": "integer",
    }
    address = stop["properties"]["address"]
    assert address["type"] == "object"
    assert address["required"] == ["street"]
    assert address["properties"]["zip_code"]["anyOf"][0] == {
        "pattern": r"^\d{5}$",
        "type": "string",
    }
    assert "$ref" not in repr(plan_trip.parameters)
    assert "$defs" not in plan_trip.parameters


def test_a_recursive_model_keeps_a_ref_to_itself_only():
    @tool
    def grow(tree: Tree, depth: int = 1) -> Tree:
        """Grow a tree."""
        return tree

    tree = props(grow)["tree"]
    assert tree["properties"]["value"] == {"type": "integer"}
    assert tree["properties"]["children"]["items"] == {"$ref": "#/$defs/Tree"}
    assert set(grow.parameters["$defs"]) == {"Tree"}
    assert grow.parameters["$defs"]["Tree"]["properties"]["children"]["items"] == {
        "$ref": "#/$defs/Tree"
    }


def test_the_schema_equals_pydantic_s_own_with_references_resolved():
    """Nothing is flattened or dropped: resolving pydantic's $refs by hand gives the tool's
    schema, less pydantic's generated titles (and the docstring, moved to the description)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    resolved = naive_resolve(Stop.model_json_schema())
    assert resolved.pop("description") == as_tool(Stop).description
    assert strip(as_tool(Stop).parameters) == strip(resolved)


def naive_resolve(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node and isinstance(node["$ref"], str):
                target = copy.deepcopy(defs[node["$ref"].split("/")[-1]])
                return {**walk(target), **{k: walk(v) for k, v in node.items() if k != "$ref"}}
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


# Schemas with non-recursive definitions: property names may be "$ref" or "properties".
SCHEMA_NAMES = st.sampled_from(["a", "b", "$ref", "properties", "items"])


@st.composite
def layered_schemas(draw: st.DrawFn) -> dict[str, Any]:
    """Definitions D0..Dn where Di may refer only to Dj with j < i (no cycles)."""
    count = draw(st.integers(1, 4))
    defs: dict[str, Any] = {}
    for i in range(count):
        earlier = [f"D{j}" for j in range(i)]
        leaf = st.sampled_from([{"type": "string"}, {"type": "integer", "default": 3}])
        ref = st.sampled_from(earlier).map(lambda n: {"$ref": f"#/$defs/{n}"}) if earlier else leaf
        sub = st.one_of(leaf, ref, ref.map(lambda r: {"anyOf": [r, {"type": "null"}]}))
        names = draw(st.lists(SCHEMA_NAMES, unique=True, min_size=1, max_size=3))
        defs[f"D{i}"] = {
            "type": "object",
            "properties": {n: draw(sub) for n in names},
            "default": {"$ref": "not a reference, a default value"},
        }
    top = {
        "type": "object",
        "properties": {"x": {"$ref": f"#/$defs/D{count - 1}", "description": "d"}},
    }
    return {**top, "$defs": defs}


@given(layered_schemas())
def test_inline_refs_resolves_every_reference_and_nothing_else(schema):
    inlined = inline_refs(schema)
    assert "$defs" not in inlined
    assert inlined == naive_resolve_schema_aware(schema)


def naive_resolve_schema_aware(schema: dict[str, Any]) -> Any:
    """Resolve the references of ``layered_schemas`` (which appear only as property values
    and anyOf members) by direct substitution."""
    defs = schema["$defs"]

    def walk(node: dict[str, Any]) -> Any:
        if "$ref" in node:
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            return {**walk(defs[node["$ref"].split("/")[-1]]), **siblings}
        out = dict(node)
        if "properties" in node:
            out["properties"] = {k: walk(v) for k, v in node["properties"].items()}
        if "anyOf" in node:
            out["anyOf"] = [walk(v) for v in node["anyOf"]]
        return out

    return walk({k: v for k, v in schema.items() if k != "$defs"})


def test_docstring_styles_all_describe_parameters():
    def numpy_style(city: str, days: int = 1) -> str:
        """Forecast.

        Parameters
        ----------
        city : str
            The city.
        days : int
            How many days.
        """
        return city

    def rest_style(city: str, days: int = 1) -> str:
        """Forecast.

        :param city: The city.
        :param int days: How many days.
        """
        return city

    for function in (numpy_style, rest_style):
        made = tool(function)
        assert made.description == "Forecast."
        assert props(made)["city"]["description"] == "The city."
        assert props(made)["days"]["description"] == "How many days."


def test_decorator_forms_and_overrides():
    @tool(name="lookup", description="Look something up.")
    def find(query: str) -> str:
        """Ignored."""
        return query

    assert (find.name, find.description) == ("lookup", "Look something up.")
    assert tool(find.function, name="again").name == "again"

    @tool()
    def bare(x: int) -> int:
        return x

    assert bare.description is None
    assert bare.to_tool().model_dump(exclude_unset=True) == {
        "function": {
            "name": "bare",
            "parameters": {
                "additionalProperties": False,
                "properties": {"x": {"type": "integer"}},
                "required": ["x"],
                "type": "object",
            },
        }
    }


def test_the_decorated_function_still_works_and_keeps_its_metadata():
    assert plan_trip("Ada", []) == "Ada: 0 stops"
    assert plan_trip.__name__ == "plan_trip"
    assert plan_trip.__doc__ is not None and plan_trip.__doc__.startswith("Plan a trip.")
    assert isinstance(plan_trip, llmkit.FunctionTool)


def test_positional_only_keyword_only_partials_and_bound_methods():
    def scale(value: float, /, factor: float = 2.0, *, offset: float = 0.0) -> float:
        return value * factor + offset

    made = tool(scale)
    assert list(props(made)) == ["value", "factor", "offset"]
    assert made.call({"value": 2, "offset": 1}).value == 5.0

    half = tool(functools.partial(scale, factor=0.5), name="half")
    assert half.call({"value": 8}).value == 4.0

    class Counter:
        def __init__(self) -> None:
            self.total = 0

        def add(self, amount: int) -> int:
            """Add to the total."""
            self.total += amount
            return self.total

    counter = Counter()
    adder = tool(counter.add)
    assert list(props(adder)) == ["amount"] and adder.description == "Add to the total."
    assert adder.call({"amount": 3}).value == 3 and counter.total == 3


def test_parameter_names_pydantic_would_refuse_are_kept():
    def odd(_private: int, model_config: str, schema: int = 0) -> str:
        return f"{_private}{model_config}{schema}"

    made = tool(odd)
    assert list(props(made)) == ["_private", "model_config", "schema"]
    assert made.call({"_private": 1, "model_config": "x", "schema": 2}).content == "1x2"


def test_locally_defined_classes_resolve_under_postponed_annotations():
    class Point(BaseModel):
        x: int
        y: int

    @tool
    def norm(point: Point) -> int:
        return abs(point.x) + abs(point.y)

    assert props(norm)["point"]["required"] == ["x", "y"]
    assert norm.call({"point": {"x": -2, "y": 3}}).value == 5


def test_functions_that_cannot_be_described_are_refused_by_name():
    class Opaque:
        pass

    def takes_opaque(thing: Opaque) -> None: ...

    def star_args(*values: int) -> None: ...

    def star_kwargs(**values: int) -> None: ...

    def unresolvable(x: NoSuchType) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(InvalidRequestError, match=r"tool 'takes_opaque', parameter 'thing'"):
        tool(takes_opaque)
    with pytest.raises(InvalidRequestError, match=r"parameter 'values': \*args and \*\*kwargs"):
        tool(star_args)
    with pytest.raises(InvalidRequestError, match=r"parameter 'values'"):
        tool(star_kwargs)
    with pytest.raises(InvalidRequestError, match=r"parameter 'x': cannot resolve .*NoSuchType"):
        tool(unresolvable)
    with pytest.raises(InvalidRequestError, match=r"the tool name '<lambda>'"):
        tool(lambda x: x)
    with pytest.raises(InvalidRequestError, match=r"the tool name 'has space'"):
        tool(plan_trip.function, name="has space")


class Booking(BaseModel):
    """Book a table.

    Attributes:
        guests: How many people.
        when: The time, as HH:MM.
    """

    model_config = ConfigDict(extra="forbid")

    guests: int = Field(ge=1)
    when: str = Field(alias="time")
    name: str = Field(description="Who books.")


def test_a_pydantic_model_as_a_tool():
    made = tool(Booking)
    assert made is not Booking and made.name == "Booking"
    assert made.description == "Book a table."
    assert made.parameters == {
        "additionalProperties": False,
        "properties": {
            "guests": {"description": "How many people.", "minimum": 1, "type": "integer"},
            "time": {"description": "The time, as HH:MM.", "type": "string"},
            "name": {"description": "Who books.", "type": "string"},
        },
        "required": ["guests", "time", "name"],
        "type": "object",
    }
    result = made.call({"guests": 2, "time": "19:30", "name": "Ada"})
    assert result.value == Booking(guests=2, time="19:30", name="Ada")
    assert result.content == '{"guests":2,"when":"19:30","name":"Ada"}'
    assert as_tool(Booking).name == "Booking"
    assert tool(Booking, name="book").name == "book"


def test_a_json_schema_as_a_tool_is_kept_as_given():
    schema = {
        "title": "search",
        "description": "Search the web.",
        "type": "object",
        "properties": {"q": {"type": "string", "x-custom": [1, 2]}, "n": {"$ref": "#/$defs/N"}},
        "$defs": {"N": {"type": "integer"}},
        "required": ["q"],
    }
    made = tool(schema)
    assert (made.name, made.description) == ("search", "Search the web.")
    assert made.parameters == {k: v for k, v in schema.items() if k not in ("title", "description")}
    assert made.function is None and repr(made) == "<FunctionTool 'search' (schema)>"
    with pytest.raises(InvalidRequestError, match="has no Python function"):
        made.call({"q": "x"})
    with pytest.raises(InvalidRequestError, match="has no Python function"):
        made()


def test_declarations_and_tool_dicts_are_accepted_too():
    declaration = {"name": "ping", "description": "Ping.", "parameters": {"type": "object"}}
    wire = {"type": "function", "function": declaration}
    for source in (declaration, wire, Tool.model_validate(wire)):
        made = as_tool(source)
        assert made.to_tool() == Tool.model_validate(wire)
    assert tool(declaration, name="pong").name == "pong"


def test_bad_schemas_and_sources_name_the_problem():
    with pytest.raises(InvalidRequestError, match="needs a 'title'"):
        tool({"type": "object", "properties": {}})
    assert tool({"type": "object"}, name="named").name == "named"
    with pytest.raises(InvalidRequestError, match="must be an object schema"):
        tool({"title": "x", "type": "string"})
    with pytest.raises(InvalidRequestError, match=r"function\.name"):
        as_tool({"type": "function", "function": {"description": "no name"}})
    with pytest.raises(InvalidRequestError, match="got int"):
        as_tool(3)


def test_as_tool_returns_a_tool_unchanged():
    assert as_tool(plan_trip) is plan_trip
    assert as_tool(plan_trip.function).parameters == plan_trip.parameters


def test_a_described_parameter_of_a_described_model_keeps_both_descriptions():
    def ship(address: Address, unit: Unit) -> None:
        """Ship it.

        Args:
            address: Where to ship.
            unit: A temperature unit.
        """

    made = tool(ship)
    assert props(made)["address"]["description"] == "Where to ship.\n\nA postal address."
    # The same text is not repeated.
    assert props(made)["unit"]["description"] == "A temperature unit."


def test_the_doctest_examples_hold():
    assert doctest.testmod(functions).failed == 0
    assert doctest.testmod(functions).attempted >= 3
