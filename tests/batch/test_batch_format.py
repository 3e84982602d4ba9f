"""Input lines to requests: both shapes, keys, hashes and bad lines with their numbers."""

from __future__ import annotations

import json

from llmkit.batch.format import BadLine, BatchItem, LineParser
from llmkit.batch.keys import request_hash
from llmkit.types import ChatRequest, EmbedRequest, GenerateRequest


def parse(*lines, model=None):
    parser = LineParser(model)
    out = []
    for number, line in enumerate(lines, start=1):
        raw = line if isinstance(line, bytes) else json.dumps(line).encode()
        out.append(parser.parse(number, raw))
    return out


CHAT = {
    "custom_id": "r1",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 10,
        "temperature": 0,
    },
}


def test_an_openai_batch_chat_line_is_converted_as_the_server_converts_it():
    (item,) = parse(CHAT)
    assert isinstance(item, BatchItem)
    assert item.custom_id == "r1" and item.key == "id:r1" and item.line == 1
    assert (item.kind, item.shape, item.model) == ("chat", "openai", "gpt-4o-mini")
    assert isinstance(item.request, ChatRequest)
    assert item.request.messages[0].role == "system"
    assert item.request.options.num_predict == 10
    assert item.request.options.temperature == 0


def test_completions_and_embeddings_lines():
    completion = {
        "custom_id": "c",
        "url": "/v1/completions",
        "body": {"model": "m", "prompt": "1+1="},
    }
    embedding = {
        "custom_id": "e",
        "url": "/v1/embeddings",
        "body": {"model": "m", "input": ["a", "b"], "encoding_format": "base64"},
    }
    first, second = parse(completion, embedding)
    assert isinstance(first.request, GenerateRequest) and first.request.raw is True
    assert isinstance(second.request, EmbedRequest) and second.encoding_format == "base64"


def test_llmkit_own_shape_is_told_apart_by_its_fields_and_model_may_be_left_out():
    chat, generate, embed = parse(
        {"custom_id": "a", "messages": [{"role": "user", "content": "x"}]},
        {"prompt": "Once upon", "options": {"num_predict": 3}},
        {"input": "text"},
    )
    assert (chat.kind, chat.shape, chat.request.model) == ("chat", "ollama", None)
    assert (generate.kind, embed.kind) == ("generate", "embed")
    assert generate.custom_id is None and generate.key.startswith("sha256:")


def test_ollama_urls_in_the_envelope():
    (item,) = parse({"url": "/api/generate", "body": {"model": "x", "prompt": "p", "stream": True}})
    assert (item.kind, item.shape, item.model) == ("generate", "ollama", "x")


def test_bad_lines_name_their_line_number_and_problem():
    lines = parse(
        CHAT,
        b'{"custom_id": "broken", ',
        {**CHAT, "custom_id": "u", "body": {**CHAT["body"], "bogus_option": 1}},
        {**CHAT, "custom_id": "m", "body": {"messages": CHAT["body"]["messages"]}},
        {"custom_id": "o", "messages": [], "options": {"not_an_option": 1}},
        [1, 2],
        {"custom_id": "x", "url": "/v1/responses", "body": {}},
        {"custom_id": "y", "model": "m"},
        {**CHAT, "extra": 1},
        CHAT,
        {**CHAT, "custom_id": "n", "body": {**CHAT["body"], "n": 17}},  # at most 16
    )
    assert isinstance(lines[0], BatchItem)
    bad = {line.line: line for line in lines if isinstance(line, BadLine)}
    assert sorted(bad) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert bad[2].code == "invalid_json" and bad[2].message.startswith("line 2: invalid JSON")
    assert bad[3].code == "unknown_field" and "bogus_option" in bad[3].message
    assert bad[4].fields == ["model"] and "line 4" in bad[4].message
    assert bad[5].fields == ["options.not_an_option"]
    assert "expected a JSON object" in bad[6].message
    assert "/v1/responses" in bad[7].message
    assert "cannot tell" in bad[8].message
    assert bad[9].fields == ["extra"]
    assert bad[10].code == "duplicate_custom_id" and "line 1" in bad[10].message
    assert bad[11].fields == ["n"]
    assert all(line.message.startswith(f"line {number}: ") for number, line in bad.items())


def test_identical_lines_without_custom_id_get_their_own_keys():
    lines = parse({"prompt": "same"}, {"prompt": "same"}, b"oops", b"oops")
    keys = [line.key for line in lines]
    assert len(set(keys)) == 4
    assert keys[1] == keys[0] + "#2" and keys[3] == keys[2] + "#2"


def test_the_hash_changes_with_the_request_and_the_model_override_but_not_key_order():
    body = {"model": "m", "prompt": "a", "temperature": 0}
    same = {"temperature": 0, "prompt": "a", "model": "m"}
    assert request_hash("/v1/completions", body, None) == request_hash(
        "/v1/completions", same, None
    )
    assert request_hash("/v1/completions", body, None) != request_hash(
        "/v1/completions", {**body, "prompt": "b"}, None
    )
    assert request_hash("/v1/completions", body, None) != request_hash("/v1/completions", body, "x")
    (item,) = parse(CHAT, model="smollm2")
    assert item.request.model == "smollm2" and item.model == "gpt-4o-mini"
