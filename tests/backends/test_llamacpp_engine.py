"""Continuous batching in the llama.cpp plug-in (``parallel=N``), on the real SmolLM2.

The sampler-chain plan, the constructor's checks and ``ThreadedAsyncBackend``'s sizing
are tested without a model; everything else decodes real sequences together and holds
them against the one-at-a-time backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import anyio
import pytest

import llmkit
from llmkit import Done, TextDelta
from llmkit.backends import ThreadedAsyncBackend
from llmkit.errors import InvalidRequestError
from llmkit.types.events import StreamEvent
from llmkit.types.requests import ChatRequest, EmbedRequest, GenerateRequest
from llmkit.types.responses import EmbedResponse
from llmkit_llamacpp import LlamaCppBackend
from llmkit_llamacpp.sampling import SamplerSpec

NUM_CTX = 512
PROMPTS = [
    "The capital of France is",
    "Once upon a time, there was a",
    "def fibonacci(n):",
    "The three primary colors are",
    "My favourite food is",
    "In 1492, Columbus",
    "The best way to learn a language is",
    "Water boils at",
]
GREEDY: dict[str, Any] = {"temperature": 0, "num_predict": 24}


# -- without a model ----------------------------------------------------------


def spec(**sample: Any) -> SamplerSpec:
    return SamplerSpec.from_options(sample, repeat_last_n=64, n_ctx=NUM_CTX, seed=5)


def test_greedy_chain_is_penalties_then_greedy() -> None:
    stages = spec(temp=0.0, repeat_penalty=1.1).stages(n_vocab=100)
    assert stages == [("penalties", (100, 64, 1.1, 0.0, 0.0)), ("greedy", ())]


def test_sampling_chain_follows_llama_cpp_pythons_order_with_the_seed_last() -> None:
    stages = spec(temp=0.7, top_k=20, top_p=0.8, min_p=0.1, typical_p=0.9).stages(n_vocab=100)
    assert [name for name, _ in stages] == [
        "penalties",
        "top_k",
        "typical",
        "top_p",
        "min_p",
        "temp",
        "dist",
    ]
    assert dict(stages)["top_k"] == (20,)
    assert dict(stages)["temp"] == (0.7,)
    assert dict(stages)["dist"] == (5,)


def test_plain_greedy_takes_the_argmax_and_anything_else_the_native_chain() -> None:
    assert spec(temp=0.0).argmax_only
    assert spec(temp=0.0, repeat_penalty=1.0, frequency_penalty=0.0).argmax_only
    assert not spec(temp=0.0, repeat_penalty=1.1).argmax_only
    assert not spec(temp=0.0, presence_penalty=0.5).argmax_only
    assert not spec(temp=0.7).argmax_only
    no_window = SamplerSpec.from_options(
        {"temp": 0.0, "repeat_penalty": 1.3}, repeat_last_n=0, n_ctx=NUM_CTX, seed=1
    )
    assert no_window.argmax_only  # penalties over no tokens change nothing


def test_mirostat_replaces_the_filters() -> None:
    one = spec(temp=0.8, mirostat_mode=1, mirostat_tau=4.0, mirostat_eta=0.2).stages(100)
    two = spec(temp=0.8, mirostat_mode=2).stages(100)
    assert one[1] == ("mirostat", (100, 5, 4.0, 0.2, 100))
    assert two[1] == ("mirostat_v2", (5, 5.0, 0.1))
    assert len(one) == len(two) == 2


def test_penalty_window_minus_one_is_the_whole_context() -> None:
    whole = SamplerSpec.from_options({}, repeat_last_n=-1, n_ctx=NUM_CTX, seed=1)
    assert whole.penalty_last_n == NUM_CTX
    assert whole.temp == 0.8  # llama-cpp-python's default where nothing is set


@pytest.mark.parametrize("parallel", [0, -2, True, 2.5, "4"])
def test_parallel_must_be_a_positive_whole_number(parallel: Any) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        LlamaCppBackend("unused", parallel=parallel, pull=False)
    assert caught.value.fields == ["parallel"]


def test_the_engine_refuses_the_one_at_a_time_prompt_cache() -> None:
    with pytest.raises(InvalidRequestError, match="reuse_prompt_cache"):
        LlamaCppBackend("unused", parallel=2, reuse_prompt_cache=True, pull=False)
    with pytest.raises(InvalidRequestError) as caught:
        LlamaCppBackend("unused", parallel=2, engine=False, pull=False)
    assert caught.value.fields == ["parallel"]


class _Meeting:
    """A sync backend whose streams all wait at a barrier: they pass only if
    ``parties`` of them run at the same time."""

    name: ClassVar[str] = "meeting"

    def __init__(self, parties: int, max_concurrency: int | None) -> None:
        self.barrier = threading.Barrier(parties, timeout=5)
        if max_concurrency is not None:
            self.max_concurrency = max_concurrency

    def chat(self, request: ChatRequest) -> Iterator[StreamEvent]:
        self.barrier.wait()
        yield TextDelta(text="met")
        yield Done(done_reason="stop", model="meeting", created_at="2026-01-01T00:00:00Z")

    def generate(self, request: GenerateRequest) -> Iterator[StreamEvent]:
        raise NotImplementedError

    def embed(self, request: EmbedRequest) -> EmbedResponse:
        raise NotImplementedError

    def close(self) -> None:
        pass


@pytest.mark.anyio
async def test_threaded_async_backend_runs_max_concurrency_streams_at_once() -> None:
    wrapper = ThreadedAsyncBackend(_Meeting(parties=3, max_concurrency=3))
    assert wrapper.max_concurrency == 3
    texts: list[str] = []
    client = llmkit.AsyncClient(wrapper)

    async def one() -> None:
        response = await client.chat([{"role": "user", "content": "hi"}])
        texts.append(response.message.content)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(one)
        await client.aclose()
    assert texts == ["met"] * 3


class _Counting(_Meeting):
    """Counts how many of its streams run at once."""

    def __init__(self) -> None:
        super().__init__(parties=1, max_concurrency=None)
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()

    def chat(self, request: ChatRequest) -> Iterator[StreamEvent]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(0.05)
            yield from super().chat(request)
        finally:
            with self.lock:
                self.active -= 1


@pytest.mark.anyio
async def test_threaded_async_backend_without_max_concurrency_takes_turns() -> None:
    backend = _Counting()
    wrapper = ThreadedAsyncBackend(backend)
    assert wrapper.max_concurrency == 1
    client = llmkit.AsyncClient(wrapper)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(client.chat, [{"role": "user", "content": "hi"}])
    assert backend.peak == 1


# -- on the real model --------------------------------------------------------


@pytest.fixture(scope="module")
def serial(smollm2_path: Path) -> Iterator[LlamaCppBackend]:
    backend = LlamaCppBackend(str(smollm2_path), options={"num_ctx": NUM_CTX}, engine=False)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def batched(smollm2_path: Path) -> Iterator[LlamaCppBackend]:
    backend = LlamaCppBackend(str(smollm2_path), options={"num_ctx": NUM_CTX}, parallel=4)
    yield backend
    backend.close()


def engine_of(backend: LlamaCppBackend) -> Any:
    engines = [loaded.engine for loaded in backend._loaded.values() if loaded.engine]
    assert len(engines) == 1
    return engines[0]


def request(prompt: str, **options: Any) -> GenerateRequest:
    return GenerateRequest(prompt=prompt, raw=True, options={**GREEDY, **options})


def read(events: Iterator[StreamEvent]) -> tuple[str, Done]:
    text, done = "", None
    for event in events:
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Done):
            done = event
    assert done is not None
    return text, done


def together(backend: LlamaCppBackend, requests: list[GenerateRequest]) -> list[tuple[str, Done]]:
    """Open every stream first (each joins the batch on its first read), then read
    them round robin, all in this one thread."""
    streams = [backend.generate(one) for one in requests]
    texts = [""] * len(streams)
    dones: list[Done | None] = [None] * len(streams)
    while any(done is None for done in dones):
        for index, stream in enumerate(streams):
            if dones[index] is not None:
                continue
            event = next(stream)
            if isinstance(event, TextDelta):
                texts[index] += event.text
            elif isinstance(event, Done):
                dones[index] = event
    return [(text, done) for text, done in zip(texts, dones, strict=True) if done is not None]


@pytest.mark.model
def test_greedy_batched_outputs_match_one_at_a_time(
    serial: LlamaCppBackend, batched: LlamaCppBackend
) -> None:
    # Batched decoding may change greedy output by floating-point effects; measured
    # here (and in bench/batch.py): the texts agree token for token, because llama.cpp
    # computes each row of a batch, and each sequence's own KV stream, alone.
    alone = [read(serial.generate(request(prompt))) for prompt in PROMPTS]
    mixed = together(batched, [request(prompt) for prompt in PROMPTS])
    same = [a[0] == b[0] for a, b in zip(alone, mixed, strict=True)]
    print(f"greedy agreement: {sum(same)}/{len(same)} identical")
    assert sum(same) >= len(same) - 1, [(a[0], b[0]) for a, b in zip(alone, mixed, strict=True)]
    for (_, one), (_, other) in zip(alone, mixed, strict=True):
        assert one.usage.prompt_eval_count == other.usage.prompt_eval_count
        usage = other.usage
        assert usage.eval_count and usage.eval_duration and usage.eval_duration > 0
        assert usage.total_duration and usage.total_duration >= usage.eval_duration


@pytest.mark.model
def test_with_flash_attention_batched_greedy_outputs_match_one_at_a_time(smollm2_path: Path):
    # Flash attention changes float rounding (its CPU kernel accumulates in F16), so its texts
    # differ from the default kernels' in most answers of this small model; against a
    # one-at-a-time run that uses it too, batching changes nothing.
    options = {"num_ctx": NUM_CTX, "extra": {"flash_attn": True}}
    serial_fa = LlamaCppBackend(str(smollm2_path), options=options, engine=False)
    batched_fa = llmkit.backends.resolve_backend(
        f"llamacpp:{smollm2_path}?parallel=4&flash_attn=true", options={"num_ctx": NUM_CTX}
    )
    try:
        alone = [read(serial_fa.generate(request(prompt))) for prompt in PROMPTS]
        mixed = together(batched_fa, [request(prompt) for prompt in PROMPTS])
        same = sum(a[0] == b[0] for a, b in zip(alone, mixed, strict=True))
        print(f"greedy agreement with flash attention: {same}/{len(PROMPTS)} identical")
        assert same >= len(PROMPTS) - 1
        import llama_cpp

        for backend in (serial_fa, batched_fa):
            (loaded,) = backend._loaded.values()
            assert (
                loaded.llm.context_params.flash_attn_type == llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
            )
    finally:
        serial_fa.close()
        batched_fa.close()


def test_the_backend_string_query_is_checked():
    with pytest.raises(InvalidRequestError, match="unknown option 'flash'"):
        LlamaCppBackend.from_target("smollm2?flash=true")
    with pytest.raises(InvalidRequestError, match="flash_attn is given twice"):
        LlamaCppBackend.from_target(
            "smollm2?flash_attn=true", options={"extra": {"flash_attn": False}}
        )
    with pytest.raises(InvalidRequestError, match="flash_attn"):
        LlamaCppBackend.from_target("smollm2?flash_attn=maybe")


@pytest.mark.model
def test_each_sequence_keeps_its_own_limit_stop_and_seed(
    serial: LlamaCppBackend, batched: LlamaCppBackend
) -> None:
    story = "Once upon a time, there was a"
    full, _ = read(serial.generate(request(story)))
    stop = full.split()[3]  # a word the greedy answer is sure to reach
    hot = {"temperature": 1.0, "top_k": 100, "top_p": 1.0, "num_predict": 20}
    wanted = [
        read(serial.generate(request(story, **hot, seed=7)))[0],
        read(serial.generate(request(story, **hot, seed=8)))[0],
    ]
    short, stopped, seven, eight = together(
        batched,
        [
            request(story, num_predict=5),
            request(story, stop=[stop]),
            request(story, **hot, seed=7),
            request(story, **hot, seed=8),
        ],
    )
    assert short[1].usage.eval_count == 5 and short[1].done_reason == "length"
    assert full.startswith(short[0])
    assert stopped[1].done_reason == "stop"
    assert stopped[0] == full[: full.index(stop)]
    assert [seven[0], eight[0]] == wanted  # each sequence's seed, as one at a time
    assert seven[0] != eight[0]


@pytest.mark.model
def test_streaming_gives_deltas_that_add_up_to_the_answer(batched: LlamaCppBackend) -> None:
    client = llmkit.Client(batched)
    sky = [{"role": "user", "content": "Why is the sky blue? Use one sentence."}]
    with client.chat(sky, options=GREEDY, stream=True) as stream:
        pieces = list(stream.text_stream())
        streamed = stream.final_response()
    whole = client.chat(sky, options=GREEDY)
    assert len(pieces) > 5
    assert "".join(pieces) == streamed.message.content == whole.message.content
    assert streamed.eval_count == whole.eval_count


@pytest.mark.model
def test_an_empty_prompt_is_refused(batched: LlamaCppBackend) -> None:
    with pytest.raises(InvalidRequestError, match="empty") as caught:
        read(batched.generate(GenerateRequest(prompt="", raw=True, options=GREEDY)))
    assert caught.value.fields == ["prompt"]
    assert read(batched.generate(request(PROMPTS[0], num_predict=3)))[1].usage.eval_count == 3


def wait_for(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.model
def test_closing_a_stream_mid_way_frees_its_slot(smollm2_path: Path) -> None:
    backend = LlamaCppBackend(str(smollm2_path), options={"num_ctx": NUM_CTX}, parallel=2)
    try:
        first = backend.generate(request(PROMPTS[1], num_predict=150))
        second = backend.generate(request(PROMPTS[1], num_predict=150))
        assert isinstance(next(first), TextDelta) and isinstance(next(second), TextDelta)
        engine = engine_of(backend)
        assert engine.busy_slots() == 2
        third = backend.generate(request(PROMPTS[2], num_predict=6))
        started = threading.Event()
        result: list[tuple[str, Done]] = []

        def run_third() -> None:
            started.set()
            result.append(read(third))

        worker = threading.Thread(target=run_third)
        worker.start()
        started.wait()
        wait_for(lambda: engine.waiting() == 1)  # both slots are taken: it waits
        time.sleep(0.3)
        assert engine.waiting() == 1 and engine.busy_slots() == 2
        first.close()  # frees a slot for the third
        worker.join(timeout=60)
        assert result and result[0][1].usage.eval_count == 6
        assert engine.busy_slots() == 1  # the second is still generating, unread
        second.close()
        wait_for(lambda: engine.busy_slots() == 0)
    finally:
        backend.close()


@pytest.mark.model
def test_many_more_requests_than_slots_all_finish(
    serial: LlamaCppBackend, smollm2_path: Path
) -> None:
    backend = LlamaCppBackend(str(smollm2_path), options={"num_ctx": NUM_CTX}, parallel=3)
    prompts = PROMPTS + PROMPTS[:2]  # 10 requests, 3 slots
    wanted = [read(serial.generate(request(p, num_predict=8)))[0] for p in prompts]
    busy: list[int] = []
    try:
        client = llmkit.Client(backend)
        with ThreadPoolExecutor(len(prompts)) as pool:
            futures = [
                pool.submit(
                    lambda p: client.generate(p, raw=True, options={**GREEDY, "num_predict": 8}),
                    prompt,
                )
                for prompt in prompts
            ]
            while not all(future.done() for future in futures):
                if backend._loaded and any(x.engine for x in backend._loaded.values()):
                    engine = engine_of(backend)
                    busy.append(engine.busy_slots() + engine.waiting())
                time.sleep(0.005)
            answers = [future.result().response for future in futures]
    finally:
        backend.close()
    assert answers == wanted
    assert max(busy) > 3  # requests did wait for slots, and were let in as others finished


@pytest.mark.model
@pytest.mark.anyio
async def test_async_client_runs_streams_concurrently(smollm2_path: Path) -> None:
    backend = LlamaCppBackend(str(smollm2_path), options={"num_ctx": NUM_CTX}, parallel=4)
    client = llmkit.AsyncClient(backend)
    assert isinstance(client.backend, ThreadedAsyncBackend)
    assert client.backend.max_concurrency == 4
    answers: dict[int, str] = {}
    peak = 0

    async def one(index: int) -> None:
        response = await client.generate(
            PROMPTS[index], raw=True, options={**GREEDY, "num_predict": 16}
        )
        answers[index] = response.response

    async def watch() -> None:
        nonlocal peak
        while len(answers) < 4:
            engines = [x.engine for x in backend._loaded.values() if x.engine]
            if engines:
                peak = max(peak, engines[0].busy_slots())
            await anyio.sleep(0.005)

    try:
        with anyio.fail_after(240):
            async with anyio.create_task_group() as group:
                group.start_soon(watch)
                for index in range(4):
                    group.start_soon(one, index)
    finally:
        await client.aclose()
    assert sorted(answers) == [0, 1, 2, 3] and all(answers.values())
    assert peak >= 2  # several sequences were in the engine at the same time
