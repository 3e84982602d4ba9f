"""Work for a caller who went away stops: a template render, a context fit or a wait for a
slot in a worker thread ends at its next check once the awaiting task is cancelled, instead of
running to its deadline (10 s for a Go template, 5 s for a Jinja one).

The renders are real (the Go template compiler, the bounded Jinja environment), the backend is
the real llama.cpp backend on the real model, and the async side is the real
``ThreadedAsyncBackend`` that ``AsyncClient`` and ``llmkit serve`` use."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
from serve_fixtures import MODEL, idle_after

import llmkit
from llmkit.backends import ThreadedAsyncBackend, caller_cancelled
from llmkit.chat_template import ChatTemplateError, ChatTemplateLimits, JinjaChatTemplate
from llmkit.template import Limits, Template, TemplateCancelledError, TemplateLimitError
from llmkit.types import ChatRequest, GenerateRequest
from llmkit.types.events import Done, StreamEvent
from llmkit.types.messages import Message

# Two 9 MB strings that differ in their last digit, compared a million times: each comparison
# reads them whole, so the render runs until its deadline (no other limit is reached).
_WIDE = "%90000d" * 100
SLOW_GO = (
    f'{{{{$s := printf "{_WIDE}" {"1 " * 100}}}}}'
    f'{{{{$t := printf "{_WIDE}" {"1 " * 99}2}}}}'
    "{{range 1000}}{{range 1000}}{{if lt $s $t}}{{end}}{{end}}{{end}}"
)
# The same for Jinja: a loop of comparisons of two long strings, inside the step limit.
SLOW_JINJA = (
    "{% set s = 'x' * 9000000 + 'a' %}{% set t = 'x' * 9000000 + 'b' %}"
    "{% for i in range(1000) %}{% for j in range(900) %}{% if s < t %}{% endif %}"
    "{% endfor %}{% endfor %}"
)
USER = [Message(role="user", content="hi")]


def test_the_slow_templates_run_until_their_deadline_when_nobody_cancels():
    started = time.monotonic()
    with pytest.raises(TemplateLimitError, match="max_seconds"):
        Template.from_go(SLOW_GO).render(USER, limits=Limits(max_seconds=1.0))
    assert 0.9 < time.monotonic() - started < 3
    started = time.monotonic()
    with pytest.raises(ChatTemplateError, match="max_seconds"):
        JinjaChatTemplate(SLOW_JINJA, limits=ChatTemplateLimits(max_seconds=1.0)).render(USER)
    assert 0.9 < time.monotonic() - started < 3


def test_caller_cancelled_is_false_outside_a_worker_thread():
    assert caller_cancelled() is False
    seen: list[bool] = []
    thread = threading.Thread(target=lambda: seen.append(caller_cancelled()))
    thread.start()
    thread.join()
    assert seen == [False]


def test_jinja_limits_cancel_stops_a_render():
    stop = threading.Event()
    stop.set()
    template = JinjaChatTemplate(SLOW_JINJA, limits=ChatTemplateLimits(cancel=stop))
    started = time.monotonic()
    with pytest.raises(ChatTemplateError, match="cancelled"):
        template.render(USER)
    assert time.monotonic() - started < 1


class RenderingBackend:
    """A synchronous backend whose prompt is a real Go template render, as in-process ones."""

    name = "rendering"

    def __init__(self, template: Template) -> None:
        self.template = template
        self.finished: list[str] = []

    def chat(self, request: ChatRequest) -> Iterator[StreamEvent]:
        try:
            self.template.render(request.messages, limits=Limits(cancel=caller_cancelled))
        except TemplateCancelledError as exc:
            self.finished.append(str(exc))
            raise
        self.finished.append("rendered")
        yield Done(model="m", done_reason="stop")

    def generate(self, request: GenerateRequest) -> Iterator[StreamEvent]:
        raise NotImplementedError

    def embed(self, request):
        raise NotImplementedError

    def close(self) -> None:
        pass


async def _cancelled_after(seconds: float, stream) -> float:
    """Read ``stream`` until ``seconds`` pass; how long the cancellation took to complete."""
    with anyio.move_on_after(seconds) as scope:
        async for _ in stream:
            pass
    assert scope.cancelled_caught, "the stream ended before it was cancelled"
    return time.monotonic()


def test_a_cancelled_task_stops_the_render_in_its_worker_thread():
    backend = RenderingBackend(Template.from_go(SLOW_GO))
    threaded = ThreadedAsyncBackend(backend)
    request = ChatRequest(model="m", messages=USER)

    async def main() -> float:
        started = time.monotonic()
        ended = await _cancelled_after(0.3, threaded.chat(request))
        return ended - started

    took = anyio.run(main)
    # Without the cancel the worker thread would be waited for until the 10 s deadline.
    assert took < 1.5, f"the cancelled render ran {took:.2f} s"
    assert len(backend.finished) == 1 and "cancelled" in backend.finished[0]


@pytest.mark.model
def test_async_client_cancel_stops_a_go_template_render_on_the_real_backend(smollm2_path):
    from llmkit_llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(str(smollm2_path), options={"num_ctx": 512})
    try:
        client = llmkit.AsyncClient(backend)

        async def main() -> float:
            await client.generate("warm", options={"num_predict": 1})  # load the model first
            started = time.monotonic()
            stream = await client.generate(
                "hi", template=SLOW_GO, stream=True, options={"num_predict": 4}
            )
            return await _cancelled_after(0.3, stream) - started

        took = anyio.run(main)
        assert took < 1.5, f"the cancelled render ran {took:.2f} s"
    finally:
        backend.close()


@pytest.mark.model
def test_async_client_cancel_stops_a_jinja_render_on_the_real_backend(smollm2_path):
    from llmkit_llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(str(smollm2_path), chat_template=SLOW_JINJA)
    try:
        client = llmkit.AsyncClient(backend)

        async def main() -> float:
            started = time.monotonic()
            stream = await client.chat(USER, stream=True, options={"num_predict": 4})
            return await _cancelled_after(0.3, stream) - started

        took = anyio.run(main)
        # Loading the model is part of it (about 0.2 s); the render alone would take 5 s.
        assert took < 2.0, f"the cancelled render ran {took:.2f} s"
    finally:
        backend.close()


@pytest.mark.model
def test_a_request_cancelled_while_its_long_prompt_is_read_stops_at_once(smollm2_path):
    from llmkit_llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(str(smollm2_path), options={"num_ctx": 4096})
    try:
        threaded = ThreadedAsyncBackend(backend)
        words = " ".join(f"word{i}" for i in range(850))  # about 3,500 tokens: seconds to read
        request = GenerateRequest(
            model=str(smollm2_path), prompt=words, raw=True, options={"num_predict": 4}
        )
        warm = GenerateRequest(model=str(smollm2_path), prompt="Hi", options={"num_predict": 1})

        async def main() -> float:
            async for _ in threaded.generate(warm):
                pass
            started = time.monotonic()
            return await _cancelled_after(0.5, threaded.generate(request)) - started

        took = anyio.run(main)
        # The engine reads the prompt 512 tokens a step and drops the sequence before its next.
        assert took < 2.0, f"the cancelled request ran {took:.2f} s"
        counters = backend.engine_counters()
        assert counters.evaluated < counters.prompt_tokens, "the whole prompt was read"
    finally:
        backend.close()


@pytest.mark.model
def test_a_client_leaving_during_a_template_render_frees_the_server(fault_server):
    pid = fault_server.process.pid
    body = {"model": MODEL, "prompt": "hi", "template": SLOW_GO, "options": {"num_predict": 1}}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fault_server.url}/api/generate", json=body, timeout=1.0)
    freed_after = idle_after(pid, time.monotonic(), limit=8)
    assert freed_after is not None, "the render went on after the client left"
    assert freed_after < 1.0, f"the server was busy {freed_after:.2f} s after the client left"
