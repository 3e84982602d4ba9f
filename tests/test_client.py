import pytest

import llmkit
from llmkit import Done, MockBackend, TextDelta
from llmkit.errors import GenerationError, StreamInterruptedError, UnsupportedOptionError

USER = [{"role": "user", "content": "the quick brown fox jumps"}]


def test_chat_returns_the_whole_response():
    response = llmkit.Client("mock").chat(USER)
    assert response.message.role == "assistant"
    assert response.message.content == "the quick brown fox jumps"
    assert response.done is True and response.done_reason == "stop"
    assert response.eval_count == 5


def test_stream_and_whole_agree():
    client = llmkit.Client("mock")
    with client.chat(USER, stream=True) as stream:
        events = list(stream)
        final = stream.final_response()
    assert isinstance(events[-1], Done)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == final.message.content
    whole = client.chat(USER)
    assert whole.message == final.message


def test_messages_as_models_or_dicts():
    client = llmkit.Client("mock")
    as_model = client.chat([llmkit.Message(role="user", content="hi there")])
    as_dict = client.chat([{"role": "user", "content": "hi there"}])
    assert as_model.message == as_dict.message


def test_a_string_for_messages_is_a_clear_error():
    with pytest.raises(llmkit.InvalidRequestError, match="generate"):
        llmkit.Client("mock").chat("hello")


def test_tools_as_dicts_reach_the_backend():
    backend = MockBackend()
    tool = {
        "type": "function",
        "function": {
            "name": "f",
            "description": "d",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    llmkit.Client(backend).chat(USER, tools=[tool])
    request = backend.requests[-1]
    assert request.tools is not None and request.tools[0].function.name == "f"


def test_client_options_are_defaults_per_call_options_override():
    backend = MockBackend()
    client = llmkit.Client(backend, model="m", options={"temperature": 0.1, "seed": 1})
    client.chat(USER, options={"seed": 2})
    request = backend.requests[-1]
    assert request.model == "m"
    assert request.options is not None
    assert (request.options.temperature, request.options.seed) == (0.1, 2)


def test_num_predict_and_stop():
    client = llmkit.Client("mock")
    assert client.chat(USER, options={"num_predict": 2}).message.content == "the quick "
    assert client.chat(USER, options={"num_predict": 2}).done_reason == "length"
    assert client.chat(USER, options={"stop": ["brown"]}).message.content == "the quick "


def test_unsupported_option_is_rejected_not_dropped():
    with pytest.raises(UnsupportedOptionError) as info:
        llmkit.Client("mock").chat(USER, options={"mirostat": 1})
    assert info.value.option == "mirostat"


def test_generate_and_embed():
    client = llmkit.Client("mock")
    assert client.generate("one two").response == "one two"
    with client.generate("one two three", stream=True) as stream:
        assert list(stream.text_stream()) == ["one ", "two ", "three"]
    vectors = client.embed(["a", "b"]).embeddings
    assert len(vectors) == 2 and len(vectors[0]) == 8 and vectors[0] != vectors[1]


def test_closing_a_stream_closes_the_backend_iterator():
    closed = []

    def events():
        try:
            yield TextDelta(text="a")
            yield TextDelta(text="b")
            yield Done()
        finally:
            closed.append(True)

    backend = MockBackend()
    backend.chat = lambda request: events()
    client = llmkit.Client(backend)
    with client.chat(USER, stream=True) as stream:
        next(iter(stream))
    assert closed == [True]

    closed.clear()
    stream = client.chat(USER, stream=True)
    for _ in stream:
        break
    assert closed == [True]


def test_a_stream_cut_off_raises_with_the_partial_response():
    def events():
        yield TextDelta(text="half an ")
        yield TextDelta(text="answer")
        raise RuntimeError("connection lost")

    backend = MockBackend()
    backend.chat = lambda request: events()
    with pytest.raises(StreamInterruptedError) as info:
        llmkit.Client(backend).chat(USER)
    assert info.value.partial is not None
    assert info.value.partial.message.content == "half an answer"
    assert info.value.partial.done is False
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_stream_without_done_is_interrupted():
    backend = MockBackend(script=[[TextDelta(text="no end")]])
    with pytest.raises(StreamInterruptedError, match="without a final event") as info:
        llmkit.Client(backend).chat(USER)
    assert info.value.partial.message.content == "no end"


def test_a_failure_before_any_event_is_a_backend_error():
    def events():
        raise RuntimeError("boom")
        yield  # pragma: no cover - makes this a generator

    backend = MockBackend()
    backend.chat = lambda request: events()
    with pytest.raises(GenerationError, match="boom"):
        llmkit.Client(backend).chat(USER)


def test_client_is_a_context_manager_that_closes_the_backend():
    backend = MockBackend()
    with llmkit.Client(backend) as client:
        client.chat(USER)
    assert backend.closed
