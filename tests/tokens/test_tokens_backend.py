"""The in-process backend fits long chats to ``num_ctx`` and reports what it dropped.

Real SmolLM2 with ``num_ctx=256``.  The client-side tokenizer (built from the
same GGUF) checks the backend's choice independently: what was kept fits with
a token to spare, and one more message would not have.
"""

from __future__ import annotations

import warnings

import pytest

import llmkit
from llmkit.chat_template import JinjaChatTemplate
from llmkit.errors import ContextWindowError, UnsupportedFeatureError
from llmkit.tokens import ContextTruncatedWarning, Tokenizer, prompt_counter, read_gguf_metadata
from llmkit.types import ChatRequest, Done, Message

pytestmark = pytest.mark.model

NUM_CTX = 256
GREEDY = {"temperature": 0, "seed": 7, "num_predict": 8}


def long_conversation(turns: int = 12) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": "You are a terse assistant."}]
    for i in range(turns):
        messages.append(
            {"role": "user", "content": f"Question {i}: say something about the number {i}."}
        )
        messages.append(
            {"role": "assistant", "content": f"{i} comes after {i - 1} and before {i + 1}."}
        )
    messages.append({"role": "user", "content": "What is 2 + 2?"})
    return messages


@pytest.fixture(scope="module")
def backend(smollm2_path):
    from llmkit_llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(str(smollm2_path), options={"num_ctx": NUM_CTX})
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def client(backend):
    return llmkit.Client(backend)


@pytest.fixture(scope="module")
def count(smollm2_path):
    """Client-side prompt counting: the GGUF's template and tokenizer, no llama.cpp."""
    metadata = read_gguf_metadata(smollm2_path)
    template = JinjaChatTemplate(metadata.get_str("tokenizer.chat_template") or "")
    return prompt_counter(template.render, Tokenizer.from_gguf(smollm2_path))


def test_a_long_chat_drops_the_oldest_turns_and_says_so(client, count):
    messages = long_conversation()
    with pytest.warns(ContextTruncatedWarning) as caught:
        response = client.chat(messages, options=GREEDY)
    dropped = response.dropped_messages
    assert dropped, "the conversation is longer than 256 tokens"
    assert caught[0].message.fit.dropped == dropped
    assert 0 not in dropped and len(messages) - 1 not in dropped
    assert dropped == list(range(1, len(dropped) + 1)), "the oldest turns go first"
    assert response.message.content
    # what was kept fits with room for one token, counted on the client side too
    kept = [Message.model_validate(m) for i, m in enumerate(messages) if i not in dropped]
    assert response.prompt_eval_count == count(kept) <= NUM_CTX - 1
    # and keeping one more message would not have fitted
    one_more = [Message.model_validate(messages[0]), Message.model_validate(messages[dropped[-1]])]
    assert count(one_more + kept[1:]) > NUM_CTX - 1


def test_streamed_and_whole_answers_report_the_same(client):
    messages = long_conversation()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ContextTruncatedWarning)
        whole = client.chat(messages, options=GREEDY)
        with client.chat(messages, options=GREEDY, stream=True) as stream:
            events = list(stream)
            final = stream.final_response()
    done = events[-1]
    assert isinstance(done, Done)
    assert done.dropped_messages == whole.dropped_messages == final.dropped_messages
    assert final.message.content == whole.message.content


def test_a_chat_that_fits_reports_nothing(client):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ContextTruncatedWarning)
        response = client.chat([{"role": "user", "content": "Hi!"}], options=GREEDY)
    assert response.dropped_messages is None
    assert "dropped_messages" not in response.model_dump(exclude_none=True)


def test_truncate_false_raises_instead_of_dropping(backend, client):
    request = ChatRequest.model_validate(
        {"messages": long_conversation(), "truncate": False, "options": GREEDY}
    )
    with pytest.raises(ContextWindowError, match="truncate=False") as info:
        list(backend.chat(request))
    assert info.value.prompt_tokens > NUM_CTX and info.value.num_ctx == NUM_CTX
    assert info.value.fields == ["options.num_ctx"]
    with pytest.raises(ContextWindowError, match="truncate=False"):
        client.chat(long_conversation(), options=GREEDY, truncate=False)
    request = ChatRequest.model_validate(
        {"messages": long_conversation(1), "truncate": True, "options": GREEDY}
    )
    assert isinstance(list(backend.chat(request))[-1], Done)


def test_when_system_and_last_message_alone_are_too_long(client):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
        {"role": "user", "content": "word " * 300},
    ]
    with pytest.raises(ContextWindowError) as info:
        client.chat(messages, options=GREEDY)
    error = info.value
    assert error.num_ctx == NUM_CTX and error.prompt_tokens > NUM_CTX
    assert f"is {error.prompt_tokens} tokens, which does not fit num_ctx={NUM_CTX}" in str(error)
    assert "system messages and the last message alone" in str(error)


def test_generate_still_refuses_to_cut_its_prompt(backend, client):
    with pytest.raises(UnsupportedFeatureError, match="truncate"):
        list(backend.generate(llmkit.GenerateRequest(prompt="hi", truncate=True)))
    with pytest.raises(ContextWindowError, match="does not fit num_ctx=256"):
        client.generate("word " * 300, raw=True, options={"num_predict": 1})


@pytest.mark.anyio
async def test_async_clients_get_the_report_too(backend, anyio_backend):
    async with llmkit.AsyncClient(backend) as client:
        with pytest.warns(ContextTruncatedWarning):
            response = await client.chat(long_conversation(), options={"num_predict": 1})
    assert response.dropped_messages and response.dropped_messages[0] == 1
