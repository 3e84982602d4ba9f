"""The in-process llama.cpp backend on the real SmolLM2-135M-Instruct model."""

import json
import re
import threading
import time
from pathlib import Path

import anyio
import pytest

import llmkit
from llmkit import Done, TextDelta
from llmkit.errors import InvalidRequestError, ModelNotFoundError, UnsupportedOptionError

pytestmark = pytest.mark.model

SKY = [{"role": "user", "content": "Why is the sky blue? Use one sentence in your answer."}]
GREEDY = {"temperature": 0, "seed": 101, "num_predict": 40}


@pytest.fixture(scope="module")
def client(llama_backend):
    return llmkit.Client(llama_backend)


def test_chat_answers_with_usage(client):
    response = client.chat(SKY, options=GREEDY)
    assert response.message.role == "assistant"
    assert "sky" in response.message.content.lower() or "blue" in response.message.content.lower()
    assert response.done
    assert response.prompt_eval_count and response.prompt_eval_count > 10
    assert response.eval_count and 0 < response.eval_count <= 40
    assert response.eval_duration and response.eval_duration > 0
    assert response.total_duration and response.total_duration >= response.eval_duration


def test_streaming_and_non_streaming_give_the_same_text(client):
    with client.chat(SKY, options=GREEDY, stream=True) as stream:
        pieces = list(stream.text_stream())
        streamed = stream.final_response()
    whole = client.chat(SKY, options=GREEDY)
    assert len(pieces) > 5
    assert "".join(pieces) == streamed.message.content == whole.message.content


def test_temperature_zero_is_deterministic(client):
    answers = {client.chat(SKY, options=GREEDY).message.content for _ in range(3)}
    assert len(answers) == 1


def test_same_seed_at_temperature_point_eight_repeats(client):
    options = {"temperature": 0.8, "seed": 7, "num_predict": 30}
    first = client.chat(SKY, options=options).message.content
    again = client.chat(SKY, options=options).message.content
    assert first == again
    others = {client.chat(SKY, options={**options, "seed": s}).message.content for s in (1, 2, 3)}
    assert len(others | {first}) > 1  # the seed does matter


def test_num_predict_limits_generated_tokens(client):
    response = client.generate(
        "Count: 1, 2, 3,", raw=True, options={"temperature": 0, "num_predict": 7}
    )
    assert response.eval_count == 7
    assert response.done_reason == "length"
    assert response.context is not None
    assert len(response.context) == response.prompt_eval_count + 7


def test_stop_string_ends_generation_and_is_not_in_the_output(client):
    free = client.generate(
        "Count: 1, 2, 3,", raw=True, options={"temperature": 0, "num_predict": 20}
    )
    assert " 5" in free.response
    cut = client.generate(
        "Count: 1, 2, 3,", raw=True, options={"temperature": 0, "num_predict": 20, "stop": [" 5"]}
    )
    assert cut.done_reason == "stop"
    assert " 5" not in cut.response
    assert free.response.startswith(cut.response)
    assert cut.response == free.response[: free.response.index(" 5")]


def test_cancelling_a_stream_midway_returns_promptly(client):
    stream = client.generate(
        "Once upon a time",
        raw=True,
        options={"num_predict": 2000, "temperature": 0.8, "seed": 1},
        stream=True,
    )
    count = 0
    for event in stream:
        if isinstance(event, TextDelta):
            count += 1
        if count == 3:
            started = time.monotonic()
            stream.close()
            closed_in = time.monotonic() - started
            break
    assert closed_in < 0.5
    # the model is free again straight away
    assert client.generate("Hi", raw=True, options={"num_predict": 2}).eval_count == 2


def test_break_releases_the_model_for_another_thread(client):
    for _ in client.generate("Hello", raw=True, options={"num_predict": 500}, stream=True):
        break
    result = []
    worker = threading.Thread(
        target=lambda: result.append(client.generate("Hi", raw=True, options={"num_predict": 2}))
    )
    worker.start()
    worker.join(timeout=30)
    assert result and result[0].eval_count == 2


def test_unknown_option_and_out_of_range_value_name_the_field(client):
    with pytest.raises(InvalidRequestError) as info:
        client.chat(SKY, options={"temprature": 0})
    assert info.value.fields == ["options.temprature"]
    with pytest.raises(InvalidRequestError) as info:
        client.chat(SKY, options={"top_p": 2})
    assert info.value.fields == ["options.top_p"]


def test_options_it_cannot_honour_are_rejected(client, seed_json):
    with pytest.raises(UnsupportedOptionError) as info:
        client.chat(SKY, options={"tfs_z": 0.5})
    assert info.value.option == "tfs_z"
    # the seed's 29 options include ones llama.cpp dropped: the first is named
    body = seed_json("generate-request.json")
    with pytest.raises(UnsupportedOptionError) as info:
        client.generate(body["prompt"], options=body["options"])
    assert info.value.option == "num_keep"
    with pytest.raises(UnsupportedOptionError, match=r"extra\.bogus"):
        client.chat(SKY, options={"extra": {"bogus": 1}})


def test_honoured_values_of_partly_supported_options(client):
    response = client.chat(
        SKY, options={**GREEDY, "tfs_z": 1.0, "penalize_newline": False, "num_predict": 3}
    )
    assert response.eval_count == 3


def test_missing_model_file_names_the_path(tmp_path):
    missing = tmp_path / "absent.gguf"
    with pytest.raises(ModelNotFoundError, match=re.escape(str(missing))):
        llmkit.Client(f"llamacpp:{missing}")
    with pytest.raises(ModelNotFoundError, match=re.escape(str(missing))):
        llmkit.Client(str(missing))


def test_format_json_gives_json(client):
    response = client.chat(
        [{"role": "user", "content": "Give me a JSON object with a key named color."}],
        format="json",
        options={"temperature": 0, "num_predict": 60},
    )
    if response.done_reason == "stop":
        assert isinstance(json.loads(response.message.content), dict)
    else:
        assert response.message.content.lstrip().startswith("{")


def test_generate_returns_context_that_continues(client):
    first = client.generate(
        "The capital of France is", raw=True, options={"temperature": 0, "num_predict": 3}
    )
    assert first.context and len(first.context) == first.prompt_eval_count + first.eval_count
    more = client.generate(
        "", raw=True, context=first.context, options={"temperature": 0, "num_predict": 3}
    )
    assert more.prompt_eval_count == len(first.context)


def test_embeddings(client):
    response = client.embed(["the sky is blue", "the sky is blue", "pasta recipe"])
    a, b, c = response.embeddings
    assert len(a) == 576 and a == b and a != c
    assert abs(sum(x * x for x in a) - 1.0) < 1e-3


def test_chat_template_override(llama_backend, smollm2_path):
    from llmkit_llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(
        str(smollm2_path), chat_template="{{ messages[-1]['content'] }} =", options={"num_ctx": 512}
    )
    try:
        response = llmkit.Client(backend).chat(
            [{"role": "user", "content": "2 + 2"}], options={"num_predict": 3, "temperature": 0}
        )
        assert response.prompt_eval_count is not None and response.prompt_eval_count < 10
    finally:
        backend.close()


def test_base_model_path_and_registry_name_agree(smollm2_path):
    by_name = llmkit.Client("llamacpp:smollm2").backend
    assert by_name.model_path == smollm2_path


@pytest.mark.anyio
async def test_async_stream_on_every_event_loop(llama_backend, anyio_backend):
    client = llmkit.AsyncClient(llama_backend)
    async with await client.chat(SKY, options=GREEDY, stream=True) as stream:
        events = [event async for event in stream]
    assert isinstance(events[-1], Done)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == llmkit.Client(llama_backend).chat(SKY, options=GREEDY).message.content


@pytest.mark.anyio
async def test_async_cancel_scope_stops_in_process_generation(llama_backend, anyio_backend):
    client = llmkit.AsyncClient(llama_backend)
    count = 0
    started = time.monotonic()
    with anyio.move_on_after(0.5) as scope:
        async with await client.generate(
            "Once upon a time", raw=True, options={"num_predict": 5000, "seed": 3}, stream=True
        ) as stream:
            async for _ in stream:
                count += 1
    assert scope.cancelled_caught
    assert time.monotonic() - started < 1.5
    assert count > 0
    # the model is released: the next request runs at once
    response = await client.generate("Hi", raw=True, options={"num_predict": 2})
    assert response.eval_count == 2


def test_request_fields_it_cannot_honour_are_named(client):
    from llmkit.errors import UnsupportedFeatureError

    # think is honoured now: tests/tools/test_wiring_model.py
    with pytest.raises(UnsupportedFeatureError) as info:
        client.chat([{"role": "user", "content": "x", "images": ["aGk="]}])
    assert info.value.fields == ["messages.0.images"]
    with pytest.raises(UnsupportedFeatureError, match="suffix"):
        client.generate("def f(", suffix="return 1")


def test_embed_rejects_generation_options(client):
    with pytest.raises(UnsupportedOptionError, match="temperature"):
        client.embed("x", options={"temperature": 0})


def test_num_predict_zero_generates_nothing(client):
    response = client.generate("Hello", raw=True, options={"num_predict": 0})
    assert response.response == "" and response.eval_count == 0


CHATML = Path(__file__).resolve().parents[1] / "data" / "templates" / "chatml.gotmpl"


def _token_count(backend, text):
    loaded = next(iter(backend._loaded.values()))
    return len(loaded.llm.tokenize(text.encode(), add_bos=False, special=True))


def test_go_template_builds_the_prompt(smollm2_path):
    from llmkit.template import Template
    from llmkit_llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(str(smollm2_path), go_template=CHATML, options={"num_ctx": 512})
    try:
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]
        response = llmkit.Client(backend).chat(
            messages, options={"num_predict": 5, "temperature": 0}
        )
        expected = Template.from_file(CHATML).render(messages)
        assert expected.endswith("<|im_start|>assistant\n")
        assert response.prompt_eval_count == _token_count(backend, expected)
        assert response.eval_count and response.eval_count > 0
    finally:
        backend.close()


def test_go_template_from_a_modelfile(tmp_path, smollm2_path):
    from llmkit_llamacpp import LlamaCppBackend

    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(
        f'FROM {smollm2_path}\nTEMPLATE """<|im_start|>user\n{{{{ .Prompt }}}}<|im_end|>\n'
        '<|im_start|>assistant\n"""\nPARAMETER stop "<|im_end|>"\n'
    )
    backend = LlamaCppBackend(str(smollm2_path), go_template=modelfile, options={"num_ctx": 512})
    try:
        assert backend.go_template is not None
        assert backend.go_template.render([{"role": "user", "content": "x"}]) == (
            "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"
        )
        response = llmkit.Client(backend).generate("Name a colour.", options={"num_predict": 4})
        assert response.eval_count == 4 or response.done_reason == "stop"
    finally:
        backend.close()


def test_generate_request_template_and_fill_in_the_middle(client, llama_backend):
    fim = (
        "{{ if .Suffix }}<PRE>{{ .Prompt }}<SUF>{{ .Suffix }}<MID>{{ else }}{{ .Prompt }}{{ end }}"
    )
    response = client.generate(
        "def add(a, b):", suffix="    return c", template=fim, options={"num_predict": 3}
    )
    assert response.prompt_eval_count == _token_count(
        llama_backend, "<PRE>def add(a, b):<SUF>    return c<MID>"
    )
    plain = client.generate("Hello", template="[{{ .Prompt }}]", options={"num_predict": 2})
    assert plain.prompt_eval_count == _token_count(llama_backend, "[Hello]")


def test_a_bad_request_template_names_line_and_column(client):
    from llmkit.template import TemplateSyntaxError

    with pytest.raises(TemplateSyntaxError) as info:
        client.generate("x", template="ok\n{{ if }}")
    assert (info.value.line, info.value.column) == (2, 7)
