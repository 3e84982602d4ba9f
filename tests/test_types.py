import json

import pytest
from pydantic import ValidationError

import llmkit
from llmkit.types import (
    OLLAMA_OPTION_NAMES,
    ChatRequest,
    ChatResponse,
    GenerateRequest,
    Message,
    Options,
)

SEED_29 = [
    "num_keep",
    "seed",
    "num_predict",
    "top_k",
    "top_p",
    "min_p",
    "tfs_z",
    "typical_p",
    "repeat_last_n",
    "temperature",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
    "penalize_newline",
    "stop",
    "numa",
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "low_vram",
    "f16_kv",
    "vocab_only",
    "use_mmap",
    "use_mlock",
    "num_thread",
]


def test_every_seed_option_is_typed(seed_json):
    body = seed_json("generate-request.json")
    assert sorted(body["options"]) == sorted(SEED_29)
    assert set(SEED_29) <= set(OLLAMA_OPTION_NAMES)
    # ... and the rest Ollama accepts
    assert {"num_gqa", "logits_all", "embedding_only", "rope_frequency_base"} <= set(
        OLLAMA_OPTION_NAMES
    )


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("chat-request.json", ChatRequest),
        ("generate-request.json", GenerateRequest),
        ("chat-response.json", ChatResponse),
    ],
)
def test_seed_bodies_validate_and_round_trip(seed_json, name, model):
    body = seed_json(name)
    parsed = model.model_validate(body)
    again = json.loads(parsed.model_dump_json(exclude_unset=True))
    assert again == body


def test_seed_options_keep_their_values(seed_json):
    request = GenerateRequest.model_validate(seed_json("generate-request.json"))
    assert request.options is not None
    assert request.options.stop == ["\n\n", "assistant:"]
    assert request.options.mirostat == 1
    assert request.options.penalize_newline is True


def test_unknown_option_names_the_field():
    with pytest.raises(ValidationError) as info:
        Options.model_validate({"temprature": 0.5})
    assert info.value.errors()[0]["loc"] == ("temprature",)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", -0.1),
        ("top_p", 1.5),
        ("min_p", -1),
        ("mirostat", 3),
        ("num_ctx", 0),
        ("num_predict", -3),
        ("top_k", -1),
        ("num_gpu", -2),
        ("presence_penalty", 2.5),
        ("use_mmap", "yes"),
        ("stop", 5),
    ],
)
def test_out_of_range_values_are_rejected(field, value):
    with pytest.raises(ValidationError) as info:
        Options.model_validate({field: value})
    assert info.value.errors()[0]["loc"][0] == field


def test_request_errors_name_the_dotted_field():
    with pytest.raises(llmkit.InvalidRequestError) as info:
        llmkit.Client("mock").chat(
            [{"role": "user", "content": "hi"}], options={"temperature": -1, "nope": 1}
        )
    assert info.value.fields == ["options.temperature", "options.nope"]
    assert "options.temperature" in str(info.value)
    assert "options.nope: unknown field" in str(info.value)


def test_message_errors_name_the_index():
    with pytest.raises(llmkit.InvalidRequestError) as info:
        llmkit.Client("mock").chat([{"role": "user", "content": "a"}, {"role": "robot"}])
    assert info.value.fields == ["messages.1.role"]


def test_extra_is_the_escape_hatch():
    options = Options(temperature=0, extra={"n_ubatch": 64})
    assert options.extra == {"n_ubatch": 64}
    assert "extra" not in options.given()


def test_single_stop_string_becomes_a_list():
    assert Options(stop="\n").stop == ["\n"]


def test_merged_options_override_field_by_field():
    base = Options(temperature=0.5, seed=1, extra={"a": 1})
    merged = base.merged(Options(seed=2, extra={"b": 2}))
    assert (merged.temperature, merged.seed, merged.extra) == (0.5, 2, {"a": 1, "b": 2})


def test_message_images_bytes_become_base64():
    message = Message(role="user", content="see", images=[b"\x89PNG"])
    assert message.images == ["iVBORw=="]


def test_tool_call_in_ollama_shape():
    message = Message.model_validate(
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        }
    )
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.arguments == {"city": "Paris"}


def test_usage_tokens_per_second():
    usage = llmkit.Usage(eval_count=50, eval_duration=500_000_000)
    assert usage.tokens_per_second == 100.0
    assert llmkit.Usage().tokens_per_second is None
