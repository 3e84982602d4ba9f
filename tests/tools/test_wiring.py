"""The pure wiring: parsed streams, format choice, forced-call grammars, tool_choice on the
request and the wires, and ``format`` validation (no model)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf
from pydantic import BaseModel

import llmkit
from llmkit._format import check_response, request_format
from llmkit.backends.http import ollama_wire, openai_wire
from llmkit.errors import InvalidRequestError, ResponseFormatError, UnsupportedFeatureError
from llmkit.serve.openai_requests import chat_request
from llmkit.template import Template
from llmkit.tools import ThinkingSplitter, ToolCallParser, parse_stream, stream_parser
from llmkit.tools.grammar import CALL_LAYOUTS, ToolCallGrammar, call_schema, gbnf_literal
from llmkit.tools.stream import infer_tool_format
from llmkit.types import ChatRequest, ChatResponse, Done, Message, TextDelta, ThinkingDelta, Tool
from llmkit.types.events import ToolCallEvent

TOOLS = [
    Tool.model_validate(
        {
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            }
        }
    ),
    Tool.model_validate({"function": {"name": "get_time"}}),
]
OUTPUT = (
    "<think>Let me look.</think>\nChecking."
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    '<tool_call>{"name": "launch", "arguments": {}}</tool_call> done'
)


def deltas(text: str, size: int) -> list[TextDelta | Done]:
    pieces: list[TextDelta | Done] = [
        TextDelta(text=text[i : i + size]) for i in range(0, len(text), size)
    ]
    return [*pieces, Done(done_reason="stop")]


def summary(events):
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    thinking = "".join(e.text for e in events if isinstance(e, ThinkingDelta))
    calls = [
        (e.call.function.name, e.call.function.arguments)
        for e in events
        if isinstance(e, ToolCallEvent)
    ]
    return text, thinking, calls


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_parse_stream_splits_text_thinking_and_calls_in_any_chunking(size):
    parser = ToolCallParser.for_format("hermes", TOOLS, thinking=("<think>", "</think>"))
    events = list(parse_stream(deltas(OUTPUT, size), parser))
    text, thinking, calls = summary(events)
    assert thinking == "Let me look."
    assert calls == [("get_weather", {"city": "Paris"}), ("launch", {})]
    assert text == "Checking. done"
    # the call to a tool that was not offered is flagged, its text kept on the event
    flagged = [(e.unknown, e.raw) for e in events if isinstance(e, ToolCallEvent)]
    assert flagged == [
        (False, None),
        (True, '<tool_call>{"name": "launch", "arguments": {}}</tool_call>'),
    ]
    assert isinstance(events[-1], Done)
    assert all(not isinstance(e, Done) for e in events[:-1])


def test_a_failed_call_keeps_its_text_and_what_is_held_back_comes_out_before_done():
    parser = ToolCallParser.for_format("hermes", TOOLS)
    raw = 'Sure <tool_call>{"name": "get_weather", "argu'
    events = list(parse_stream(deltas(raw, 4), parser))
    assert summary(events) == (raw, "", [])
    assert isinstance(events[-1], Done)


def test_parse_stream_without_done_still_flushes_and_none_passes_through():
    parser = ToolCallParser.for_format("hermes", TOOLS)
    text = '<tool_call>{"name": "get_time"}'  # closing tag cut by a stop sequence
    events = list(parse_stream([TextDelta(text=text)], parser))
    assert summary(events)[2] == [("get_time", {})]
    original = deltas("plain", 2)
    assert list(parse_stream(original, None)) == original


def test_stream_parser_picks_the_parser_a_request_needs():
    assert stream_parser(tools=None) is None
    assert isinstance(stream_parser(tools=None, think=True), ThinkingSplitter)
    hermes = stream_parser(tools=TOOLS, chat_template="... <tool_call> ...")
    assert isinstance(hermes, ToolCallParser) and hermes.format.name == "hermes"
    mistral = stream_parser(tools=TOOLS, chat_template="[TOOL_CALLS]", tool_format="granite")
    assert isinstance(mistral, ToolCallParser) and mistral.format.name == "granite"
    template = Template.from_go(
        "{{ range .Messages }}{{ .Content }}{{ end }}"
        "{{ if .ToolCalls }}<tool_call>{{ range .ToolCalls }}"
        '{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}'
        "{{ end }}</tool_call>{{ end }}"
    )
    from_template = stream_parser(tools=TOOLS, go_template=template, think=True)
    assert isinstance(from_template, ToolCallParser)
    events = list(parse_stream(deltas(OUTPUT, 5), from_template))
    assert summary(events)[1:] == (
        "Let me look.",
        [("get_weather", {"city": "Paris"}), ("launch", {})],
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ '<tool_call>' }}", "hermes"),
        ("[TOOL_CALLS]", "mistral"),
        ("<|python_tag|>", "llama3_json"),
        ("<|tool_call|>", "granite"),
        ("<|tool_call|>x<|/tool_call|>", "phi4"),
        ("functools[", "firefunction"),
        ("{% for m in messages %}{{ m.content }}{% endfor %}", "hermes"),
        (None, "hermes"),
    ],
)
def test_infer_tool_format_reads_a_jinja_templates_markers(template, expected):
    assert infer_tool_format(template) == expected


@pytest.mark.parametrize("fmt", sorted(CALL_LAYOUTS))
def test_a_forced_call_grammar_compiles_and_its_layout_parses_back(fmt):
    forced = ToolCallGrammar.for_choice(TOOLS, "get_weather", fmt)
    assert forced is not None
    gbnf = forced.gbnf(json_schema_to_gbnf)
    LlamaGrammar.from_string(gbnf, verbose=False)  # valid GBNF for llama.cpp
    layout = forced.layout
    call = {layout.name_key: "get_weather", layout.arguments_key: {"city": "Paris"}}
    jsonschema.validate(call, forced.schema())
    written = layout.prefix + json.dumps(call) + layout.suffix
    parsed = ToolCallParser.for_format(fmt, TOOLS).parse(written)
    assert [(c.function.name, c.function.arguments) for c in parsed.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]


def test_call_schema_offers_every_tool_for_required_and_hoists_defs():
    nested = Tool.model_validate(
        {
            "function": {
                "name": "plan",
                "parameters": {
                    "type": "object",
                    "properties": {"stop": {"$ref": "#/$defs/Stop"}},
                    "$defs": {"Stop": {"type": "object", "properties": {"n": {"type": "integer"}}}},
                },
            }
        }
    )
    schema = call_schema([*TOOLS, nested])
    assert [b["properties"]["name"]["const"] for b in schema["anyOf"]] == [
        "get_weather",
        "get_time",
        "plan",
    ]
    assert "Stop" in schema["$defs"]
    jsonschema.validate({"name": "plan", "arguments": {"stop": {"n": 2}}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "plan", "arguments": {"stop": {"n": "x"}}}, schema)
    assert ToolCallGrammar.for_choice(TOOLS, "auto", "hermes") is None
    assert gbnf_literal('a"\\\n') == '"a\\"\\\\\\n"'
    with pytest.raises(InvalidRequestError, match="pythonic"):
        ToolCallGrammar(tuple(TOOLS), "pythonic")


def test_tool_choice_on_the_request_is_checked_against_the_tools():
    tools = [t.model_dump() for t in TOOLS]
    assert ChatRequest(tools=tools, tool_choice="get_time").offered_tools() == TOOLS
    assert ChatRequest(tools=tools, tool_choice="none").offered_tools() is None
    client = llmkit.Client("mock")
    with pytest.raises(InvalidRequestError, match="not one of the offered tools"):
        client.chat([{"role": "user", "content": "x"}], tools=tools, tool_choice="nope")
    with pytest.raises(InvalidRequestError, match="needs tools"):
        client.chat([{"role": "user", "content": "x"}], tool_choice="required")


def test_the_wires_carry_or_refuse_tool_choice():
    request = ChatRequest(
        model="m", messages=[Message(role="user", content="x")], tools=TOOLS, tool_choice="get_time"
    )
    body = openai_wire.chat_body(request, None, "generic")
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    required = request.model_copy(update={"tool_choice": "required"})
    assert openai_wire.chat_body(required, None, "generic")["tool_choice"] == "required"
    with pytest.raises(UnsupportedFeatureError, match="tool_choice"):
        ollama_wire.chat_body(request)
    auto = request.model_copy(update={"tool_choice": "auto"})
    assert "tool_choice" not in ollama_wire.chat_body(auto)


def test_serve_maps_openais_tool_choice():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": "x"}]

    def choice(value):
        body = {"model": "m", "messages": messages, "tools": tools, "tool_choice": value}
        return chat_request(body).request.tool_choice

    assert choice("required") == "required"
    assert choice({"type": "function", "function": {"name": "f"}}) == "f"
    assert choice("auto") == "auto"
    for bad in ({"type": "function", "function": {"name": "g"}}, {"type": "x"}, "always"):
        with pytest.raises(InvalidRequestError) as caught:
            choice(bad)
        assert caught.value.fields == ["tool_choice"]


class Answer(BaseModel):
    value: int


def response(text: str, reason: str = "stop") -> ChatResponse:
    return ChatResponse(message=Message(role="assistant", content=text), done_reason=reason)


def test_format_validation_sets_parsed_or_raises():
    assert request_format(Answer) == Answer.model_json_schema()
    assert request_format("json") == "json"
    good = check_response(response('{"value": 3}'), Answer)
    assert good.parsed == Answer(value=3)
    assert "parsed" not in good.model_dump_json()
    assert check_response(response('{"value": 3}'), "json").parsed == {"value": 3}
    schema = Answer.model_json_schema()
    assert check_response(response('{"value": 3}'), schema).parsed == {"value": 3}
    with pytest.raises(ResponseFormatError) as caught:
        check_response(response('{"value": "x"}'), schema)
    assert caught.value.errors and caught.value.response is not None
    with pytest.raises(ResponseFormatError, match="cut off"):
        check_response(response('{"value": ', "length"), Answer)
    assert check_response(response('{"value": ', "length"), "json").parsed is None
    with pytest.raises(ResponseFormatError, match="not JSON"):
        check_response(response("hello"), "json")
    assert check_response(response("hello"), None).parsed is None


def test_the_client_validates_format_through_a_backend():
    client = llmkit.Client(llmkit.MockBackend(['{"value": 41}', "not json"]))
    reply = client.chat([{"role": "user", "content": "x"}], format=Answer)
    assert reply.parsed == Answer(value=41)
    with pytest.raises(ResponseFormatError):
        client.chat([{"role": "user", "content": "x"}], format=Answer)


def test_closing_the_parsed_stream_closes_the_backends_stream_at_once():
    closed = []

    def backend_events():
        try:
            for piece in ["Hello ", "<tool_", "call>"]:
                yield TextDelta(text=piece)
            yield Done()
        finally:
            closed.append(True)

    parsed = parse_stream(backend_events(), ToolCallParser.for_format("hermes", TOOLS))
    assert next(parsed) == TextDelta(text="Hello ")
    parsed.close()
    assert closed == [True]
