"""The founding seed's own Ollama bodies, as they are: the 29 options of its generate request
are all typed, and every body validates and round-trips (tests/test_types.py checks llmkit's
own bodies, written in the same shape, the same way)."""

import json

import pytest
from corpus_location import SEED
from test_types import SEED_29

from llmkit.types import ChatRequest, ChatResponse, GenerateRequest


def test_the_seed_generate_request_carries_the_29_options():
    body = json.loads((SEED / "generate-request.json").read_text())
    assert sorted(body["options"]) == sorted(SEED_29)


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("chat-request.json", ChatRequest),
        ("generate-request.json", GenerateRequest),
        ("chat-response.json", ChatResponse),
    ],
)
def test_seed_bodies_validate_and_round_trip(name, model):
    body = json.loads((SEED / name).read_text())
    parsed = model.model_validate(body)
    assert json.loads(parsed.model_dump_json(exclude_unset=True)) == body
