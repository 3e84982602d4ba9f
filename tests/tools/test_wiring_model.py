"""Tool calling end to end with the real SmolLM2: parsed calls, forced calls, structured
output, the loop, and the same calls in-process and through ``llmkit serve``."""

from __future__ import annotations

import sys
from pathlib import Path

import jsonschema
import pytest
from pydantic import BaseModel

import llmkit
from llmkit.backends.http.ollama import OllamaBackend
from llmkit.backends.http.openai import OpenAIBackend

pytestmark = pytest.mark.model

GREEDY = {"temperature": 0, "seed": 7, "num_predict": 80}
KEY = "test-key"


@llmkit.tool
def get_weather(city: str, unit: str = "celsius") -> dict[str, object]:
    """Get the current weather in a city.

    Args:
        city: The city's name.
        unit: celsius or fahrenheit.
    """
    return {"city": city, "temperature": 21, "unit": unit, "sky": "sunny"}


@llmkit.tool
def add(a: int, b: int) -> int:
    """Add two whole numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


# SmolLM2's chat template shows no tools, so the model learns the Hermes format from
# one example turn; greedy decoding then writes a call on its own (tool_choice "auto").
FEW_SHOT = [
    {
        "role": "system",
        "content": "You can call tools. To call one, answer only with "
        '<tool_call>{"name": NAME, "arguments": {...}}</tool_call>.',
    },
    {"role": "user", "content": "What is the weather in Rome?"},
    {
        "role": "assistant",
        "content": '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>',
    },
    {"role": "user", "content": "What is the weather in Paris?"},
]


@pytest.fixture(scope="module")
def client(llama_backend):
    return llmkit.Client(llama_backend)


def calls_of(response):
    return [(c.function.name, c.function.arguments) for c in response.message.tool_calls or []]


def test_auto_parses_the_models_own_call_out_of_its_text(client):
    response = client.chat(FEW_SHOT, tools=[get_weather], options=GREEDY)
    assert calls_of(response) == [("get_weather", {"city": "Paris"})]
    assert "<tool_call>" not in response.message.content
    streamed = list(client.chat(FEW_SHOT, tools=[get_weather], options=GREEDY, stream=True))
    text = "".join(e.text for e in streamed if isinstance(e, llmkit.TextDelta))
    calls = [e.call for e in streamed if isinstance(e, llmkit.ToolCallEvent)]
    assert "<tool_call>" not in text
    assert [(c.function.name, c.function.arguments) for c in calls] == calls_of(response)


def test_without_tools_the_same_output_stays_text(client):
    response = client.chat(FEW_SHOT, options=GREEDY)
    assert response.message.tool_calls is None
    assert response.message.content.startswith('<tool_call>{"name": "get_weather"')


@pytest.mark.parametrize("tool_format", ["hermes", "mistral", "llama3_json", "command_r"])
def test_a_named_tool_choice_yields_a_schema_valid_call(smollm2_path, tool_format):
    from llmkit_llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(str(smollm2_path), options={"num_ctx": 1024}, tool_format=tool_format)
    try:
        response = llmkit.Client(backend).chat(
            [{"role": "user", "content": "What is 2 plus 3?"}],
            tools=[get_weather, add],
            tool_choice="add",
            options=GREEDY,
        )
    finally:
        backend.close()
    [call] = response.message.tool_calls
    assert call.function.name == "add"
    jsonschema.validate(call.function.arguments, add.to_tool().function.parameters)
    assert add.call(call).error is None


def test_the_batched_engine_path_parses_and_forces_calls_the_same(client, smollm2_path):
    from llmkit_llamacpp import LlamaCppBackend

    question = [{"role": "user", "content": "What is 2 plus 3?"}]
    expected = calls_of(client.chat(FEW_SHOT, tools=[get_weather], options=GREEDY))
    backend = LlamaCppBackend(str(smollm2_path), options={"num_ctx": 1024}, parallel=2)
    try:
        batched = llmkit.Client(backend)
        assert calls_of(batched.chat(FEW_SHOT, tools=[get_weather], options=GREEDY)) == expected
        [call] = batched.chat(
            question, tools=[add], tool_choice="add", options=GREEDY
        ).message.tool_calls
        jsonschema.validate(call.function.arguments, add.to_tool().function.parameters)
    finally:
        backend.close()


def test_required_makes_the_model_call_one_of_the_tools(client):
    response = client.chat(
        [{"role": "user", "content": "Tell me a joke."}],
        tools=[get_weather, add],
        tool_choice="required",
        options=GREEDY,
    )
    [call] = response.message.tool_calls
    tool = {"get_weather": get_weather, "add": add}[call.function.name]
    jsonschema.validate(call.function.arguments, tool.to_tool().function.parameters)


def test_tool_choice_none_offers_no_tools_so_nothing_is_parsed(client):
    response = client.chat(FEW_SHOT, tools=[get_weather], tool_choice="none", options=GREEDY)
    assert response.message.tool_calls is None
    assert "<tool_call>" in response.message.content


def test_think_is_accepted_and_an_answer_without_thinking_stays_answer(client):
    question = [{"role": "user", "content": "Name a color."}]
    plain = client.chat(question, options=GREEDY)
    thought = client.chat(question, think=True, options=GREEDY)
    assert thought.message.thinking is None
    assert thought.message.content == plain.message.content
    generated = client.generate("Name a color.", think=True, options=GREEDY)
    assert generated.thinking is None and generated.response


class City(BaseModel):
    name: str
    country: str
    population: int


def test_format_with_a_pydantic_model_gives_a_valid_instance(client):
    response = client.chat(
        [{"role": "user", "content": "Describe Paris as JSON with name, country, population."}],
        format=City,
        options={**GREEDY, "num_predict": 120},
    )
    assert response.done_reason == "stop"
    assert isinstance(response.parsed, City)
    assert response.parsed == City.model_validate_json(response.message.content)
    assert "parsed" not in response.model_dump()


def test_format_with_a_schema_gives_the_decoded_value(client):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    response = client.chat(
        [{"role": "user", "content": "What is 2 + 2? Answer in JSON."}],
        format=schema,
        options={**GREEDY, "num_predict": 40},
    )
    jsonschema.validate(response.parsed, schema)


def test_the_loop_runs_a_real_two_step_conversation(client):
    seen = []
    run = llmkit.run_tools(
        client,
        [{"role": "user", "content": "What is the weather in Paris?"}],
        [get_weather],
        tool_choice="required",
        after_call=lambda call, result: seen.append((call.function.name, result.content)),
        options=GREEDY,
    )
    assert run.steps == 2
    assert [m.role for m in run.messages] == ["user", "assistant", "tool", "assistant"]
    call = run.messages[1].tool_calls[0]
    assert call.function.name == "get_weather"
    tool_message = run.messages[2]
    assert (tool_message.tool_name, tool_message.tool_call_id) == ("get_weather", call.id)
    assert '"temperature":21' in tool_message.content
    assert seen == [("get_weather", tool_message.content)]
    assert run.text == run.response.message.content and run.text.strip()
    assert not run.response.message.tool_calls


@pytest.mark.anyio
async def test_the_async_loop_runs_the_same_conversation(llama_backend, client):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    expected = llmkit.run_tools(
        client, messages, [get_weather], tool_choice="required", options=GREEDY
    )
    async with llmkit.AsyncClient(llama_backend) as async_client:
        run = await llmkit.arun_tools(
            async_client, messages, [get_weather], tool_choice="required", options=GREEDY
        )
    assert run.text == expected.text
    assert run.messages[2].content == expected.messages[2].content


@pytest.fixture(scope="module")
def server(smollm2_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
    from serve_helpers import serve_process

    with serve_process("--model", "smollm2", "--api-key", KEY, "--log-level", "warning") as url:
        yield url


def test_calls_come_out_the_same_in_process_and_through_serve(client, server):
    expected = calls_of(client.chat(FEW_SHOT, tools=[get_weather], options=GREEDY))
    assert expected == [("get_weather", {"city": "Paris"})]
    question = [{"role": "user", "content": "What is 2 plus 3?"}]
    forced = calls_of(client.chat(question, tools=[add], tool_choice="add", options=GREEDY))
    assert forced and forced[0][0] == "add"
    over_ollama = llmkit.Client(OllamaBackend(server, model="smollm2", api_key=KEY))
    over_openai = llmkit.Client(
        OpenAIBackend(server + "/v1", model="smollm2", api_key=KEY, dialect="llama.cpp")
    )
    with over_ollama, over_openai:
        for remote in (over_ollama, over_openai):
            assert calls_of(remote.chat(FEW_SHOT, tools=[get_weather], options=GREEDY)) == expected
        # OpenAI's protocol carries tool_choice; the server forces the same call.
        remote_forced = over_openai.chat(question, tools=[add], tool_choice="add", options=GREEDY)
        assert calls_of(remote_forced) == forced
        with pytest.raises(llmkit.UnsupportedFeatureError, match="tool_choice"):
            over_ollama.chat(question, tools=[add], tool_choice="add", options=GREEDY)


def test_a_call_to_a_tool_not_offered_is_flagged_the_same_everywhere(client, server):
    # SmolLM2's template shows no tools, so offering only `add` leaves the few-shot prompt
    # as it was: the model still calls get_weather, which now was not offered.
    def flagged(remote):
        events = list(remote.chat(FEW_SHOT, tools=[add], options=GREEDY, stream=True))
        calls = [e for e in events if isinstance(e, llmkit.ToolCallEvent)]
        return [(e.call.function.name, e.call.function.arguments, e.unknown) for e in calls], calls

    expected, local = flagged(client)
    assert expected == [("get_weather", {"city": "Paris"}, True)]
    assert local[0].raw is not None and local[0].raw.startswith('<tool_call>{"name": "get_weather"')
    over_ollama = llmkit.Client(OllamaBackend(server, model="smollm2", api_key=KEY))
    over_openai = llmkit.Client(
        OpenAIBackend(server + "/v1", model="smollm2", api_key=KEY, dialect="llama.cpp")
    )
    with over_ollama, over_openai:
        for remote in (over_ollama, over_openai):
            assert flagged(remote)[0] == expected


# One example turn teaches SmolLM2 to reason inside <think> tags; greedy decoding copies it.
THINK_SHOT = [
    {"role": "system", "content": "Think first inside <think></think>, then answer."},
    {"role": "user", "content": "What is 2 plus 2?"},
    {"role": "assistant", "content": "<think>2 plus 2 makes 4.</think>The answer is 4."},
    {"role": "user", "content": "What is 3 plus 3?"},
]


def test_a_real_models_thinking_is_split_out_in_process_and_through_serve(client, server):
    plain = client.chat(THINK_SHOT, options=GREEDY)
    assert plain.message.content.startswith("<think>") and plain.message.thinking is None
    thought = client.chat(THINK_SHOT, think=True, options=GREEDY)
    reasoning, _, answer = plain.message.content.removeprefix("<think>").partition("</think>")
    assert (thought.message.thinking, thought.message.content) == (reasoning, answer)
    assert reasoning and answer
    events = list(client.chat(THINK_SHOT, think=True, options=GREEDY, stream=True))
    assert "".join(e.text for e in events if isinstance(e, llmkit.ThinkingDelta)) == reasoning
    assert "".join(e.text for e in events if isinstance(e, llmkit.TextDelta)) == answer
    over_ollama = llmkit.Client(OllamaBackend(server, model="smollm2", api_key=KEY))
    over_openai = llmkit.Client(
        OpenAIBackend(server + "/v1", model="smollm2", api_key=KEY, dialect="llama.cpp")
    )
    with over_ollama, over_openai:
        for remote in (over_ollama, over_openai):
            for stream in (False, True):
                got = remote.chat(THINK_SHOT, think=True, options=GREEDY, stream=stream)
                message = (got.final_response() if stream else got).message
                assert (message.thinking, message.content) == (reasoning, answer)
