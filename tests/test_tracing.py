"""``llmkit.tracing``: OpenTelemetry spans and metrics (GenAI semantic conventions), read back
with the OpenTelemetry SDK's in-memory exporter and reader, on every backend kind (mock,
the in-process llama.cpp backend on the real model, Ollama and OpenAI-compatible HTTP
against a real ``llmkit serve``), for tools, batch lines and serve's own server spans."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from serve.serve_helpers import live_server

import llmkit
import llmkit.tracing
from llmkit.agent import run_tools
from llmkit.batch import BatchRunner
from llmkit.errors import LLMKitError
from llmkit.serve import create_app
from llmkit.types import Done, TextDelta, ToolCall
from llmkit.types.events import ToolCallEvent

HELLO = [{"role": "user", "content": "hello there"}]


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def finished(self, name_start: str = "") -> list:
        return [s for s in self.spans.get_finished_spans() if s.name.startswith(name_start)]

    def points(self, metric: str) -> list:
        data = self.metrics.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found += list(item.data.data_points)
        return found


@pytest.fixture
def telemetry():
    recorded = Telemetry()
    llmkit.tracing.instrument(
        tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider
    )
    yield recorded
    llmkit.tracing.uninstrument()


def test_nothing_is_imported_or_recorded_when_off():
    code = textwrap.dedent(
        """
        import sys, llmkit
        client = llmkit.Client("mock")
        client.chat([{"role": "user", "content": "hi"}])
        list(client.chat([{"role": "user", "content": "hi"}], stream=True))
        print(any(name.startswith("opentelemetry") for name in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_chat_generate_and_embed_on_the_mock_backend(telemetry):
    client = llmkit.Client("mock")
    client.chat(HELLO, model="m1", options={"temperature": 0.5, "stop": ["x"], "seed": 3})
    with client.chat(HELLO, model="m1", stream=True) as stream:
        "".join(stream.text_stream())
    client.generate("once upon", model="m2", options={"num_predict": 1})
    client.embed(["a b", "c"], model="m3")
    chat, streamed, generate, embed = telemetry.finished()
    assert chat.name == "chat m1" and chat.kind == SpanKind.CLIENT
    attributes = dict(chat.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "mock"
    assert attributes["gen_ai.request.model"] == "m1"
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.request.seed"] == 3
    assert tuple(attributes["gen_ai.request.stop_sequences"]) == ("x",)
    assert attributes["gen_ai.usage.output_tokens"] == 2  # "hello there", a word a token
    assert tuple(attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert attributes["gen_ai.response.time_to_first_chunk"] >= 0
    assert "gen_ai.input.messages" not in attributes  # contents only when asked
    assert streamed.name == "chat m1" and streamed.status.status_code == StatusCode.UNSET
    assert generate.name == "text_completion m2"
    assert dict(generate.attributes)["gen_ai.request.max_tokens"] == 1
    assert embed.name == "embeddings m3"
    assert dict(embed.attributes)["gen_ai.usage.input_tokens"] == 3
    usage = telemetry.points("gen_ai.client.token.usage")
    kinds = {p.attributes["gen_ai.token.type"] for p in usage}
    assert kinds == {"input", "output"}
    durations = telemetry.points("gen_ai.client.operation.duration")
    assert sum(p.count for p in durations) == 4
    assert (
        sum(p.count for p in telemetry.points("gen_ai.client.operation.time_to_first_chunk")) == 3
    )


def test_the_async_client_and_a_stream_left_early(telemetry):
    async def run() -> None:
        client = llmkit.AsyncClient("mock")
        await client.chat(HELLO)
        stream = await client.chat([{"role": "user", "content": "one two three four"}], stream=True)
        async with stream:
            async for _ in stream:
                break

    anyio.run(run)
    whole, left = telemetry.finished("chat")
    assert whole.status.status_code == StatusCode.UNSET
    assert left.status.status_code == StatusCode.UNSET  # leaving early is not an error
    assert "gen_ai.usage.output_tokens" not in dict(left.attributes)


def test_contents_are_recorded_only_when_asked():
    recorded = Telemetry()
    llmkit.tracing.instrument(
        tracer_provider=recorded.tracer_provider,
        meter_provider=recorded.meter_provider,
        capture_content=True,
    )
    try:
        llmkit.Client("mock").chat(HELLO)
    finally:
        llmkit.tracing.uninstrument()
    (span,) = recorded.finished()
    attributes = dict(span.attributes)
    assert json.loads(attributes["gen_ai.input.messages"])[0]["parts"][0]["content"] == (
        "hello there"
    )
    output = json.loads(attributes["gen_ai.output.messages"])
    assert output[0]["role"] == "assistant" and output[0]["parts"][0]["content"] == "hello there"
    assert not llmkit.tracing.is_instrumented()
    llmkit.Client("mock").chat(HELLO)
    assert len(recorded.finished()) == 1  # nothing after uninstrument()


def test_tool_execution_spans(telemetry):
    call = ToolCall.model_validate(
        {"id": "c0", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    )
    backend = llmkit.MockBackend(
        [[ToolCallEvent(call=call), Done()], [TextDelta(text="Sunny."), Done()]]
    )

    @llmkit.tool
    def get_weather(city: str) -> str:
        """The weather.

        Args:
            city: The city.
        """
        return f"sunny in {city}"

    run = run_tools(llmkit.Client(backend), HELLO, [get_weather])
    assert run.text == "Sunny."
    names = [span.name for span in telemetry.finished()]
    assert names == ["chat", "execute_tool get_weather", "chat"]  # no model named: no suffix
    tool = telemetry.finished("execute_tool")[0]
    assert dict(tool.attributes)["gen_ai.tool.call.id"] == "c0"
    assert "gen_ai.tool.call.arguments" not in dict(tool.attributes)


def test_batch_lines_are_spans_around_their_calls(telemetry):
    lines = [{"custom_id": "a", "prompt": "hello"}, {"custom_id": "b", "prompt": "bye"}]
    assert [r.text for r in BatchRunner("mock").results(lines)] == ["hello", "bye"]
    lines_spans = telemetry.finished("batch_line")
    calls = telemetry.finished("text_completion")
    assert sorted(dict(s.attributes)["llmkit.batch.custom_id"] for s in lines_spans) == ["a", "b"]
    parents = {s.context.span_id for s in lines_spans}
    assert {c.parent.span_id for c in calls if c.parent is not None} == parents


def test_http_backends_and_serves_server_spans(telemetry):
    app = create_app(llmkit.MockBackend(), models=["m"])
    with live_server(app) as url:
        host = url.removeprefix("http://")
        llmkit.Client(f"ollama://{host}").chat(HELLO, model="m")
        llmkit.Client(f"openai://{host}/v1").chat(HELLO, model="m")
        with pytest.raises(LLMKitError):
            llmkit.Client(f"openai://{host}/v1").chat(HELLO, model="missing")
    client_spans = [s for s in telemetry.finished("chat") if s.kind == SpanKind.CLIENT]
    assert [dict(s.attributes)["gen_ai.provider.name"] for s in client_spans] == [
        "ollama",
        "openai",
        "openai",
    ]
    assert client_spans[0].attributes["gen_ai.usage.output_tokens"] == 2
    failed = client_spans[2]
    assert failed.status.status_code == StatusCode.ERROR
    assert "NotFound" in dict(failed.attributes)["error.type"]
    server = [s for s in telemetry.finished() if s.kind == SpanKind.SERVER]
    assert [(s.name, s.attributes["http.response.status_code"]) for s in server] == [
        ("POST /api/chat", 200),
        ("POST /v1/chat/completions", 200),
        ("POST /v1/chat/completions", 404),
    ]


@pytest.mark.model
def test_the_in_process_backend_on_the_real_model(telemetry, llama_backend):
    response = llmkit.Client(llama_backend).chat(
        [{"role": "user", "content": "Say hi."}], options={"num_predict": 3, "temperature": 0}
    )
    (span,) = telemetry.finished()
    attributes = dict(span.attributes)
    assert attributes["gen_ai.provider.name"] == "llamacpp"
    assert attributes["gen_ai.usage.input_tokens"] == response.prompt_eval_count
    assert attributes["gen_ai.usage.output_tokens"] == response.eval_count == 3
    assert tuple(attributes["gen_ai.response.finish_reasons"]) == ("length",)
