"""The context-window policy (pure): Ollama's rule, and what llmkit reports on top of it.

A message's "prompt" here costs a fixed number of tokens per message plus its
words, so each test can say exactly what must fit.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmkit.errors import ContextWindowError, InvalidRequestError
from llmkit.streaming.accumulator import ChatAccumulator
from llmkit.tokens import ContextFit, ContextTruncatedWarning, fit_messages, prompt_counter
from llmkit.types import ChatResponse, Done, TextDelta, Usage
from llmkit.types.messages import Message

OVERHEAD = 3  # per message, as a chat template's role markers would cost


def words(messages: list[Message]) -> int:
    return sum(OVERHEAD + len(m.content.split()) for m in messages)


def convo(*specs: str) -> list[Message]:
    """``"s:5"`` is a system message of 5 words, ``"u:2"`` a user one, ``"a:1"`` an assistant."""
    roles = {"s": "system", "u": "user", "a": "assistant", "t": "tool"}
    out = []
    for index, spec in enumerate(specs):
        role, _, size = spec.partition(":")
        out.append(Message(role=roles[role], content=" ".join([f"w{index}"] * int(size))))
    return out


def test_everything_fits_nothing_dropped():
    messages = convo("s:2", "u:3", "a:3", "u:1")
    fit = fit_messages(messages, words, num_ctx=100)
    assert fit.messages == messages
    assert fit.kept == [0, 1, 2, 3] and fit.dropped == [] and not fit.truncated
    assert fit.prompt_tokens == words(messages) == 21
    assert fit.tried == 1


def test_oldest_non_system_messages_go_first():
    messages = convo("s:2", "u:10", "a:10", "u:4", "a:4", "u:1")
    # whole: 5+13+13+7+7+4 = 49; without 1: 36; without 1, 2: 23
    fit = fit_messages(messages, words, num_ctx=30)
    assert fit.dropped == [1, 2]
    assert fit.kept == [0, 3, 4, 5]
    assert fit.messages == [messages[i] for i in (0, 3, 4, 5)]
    assert fit.dropped_messages == [messages[1], messages[2]]
    assert fit.prompt_tokens == 23
    assert fit.tried == 3


def test_system_messages_in_the_middle_are_kept_in_place():
    messages = convo("u:10", "s:1", "a:10", "s:1", "u:2")
    # dropping 0 and 2 keeps both system messages in their order
    fit = fit_messages(messages, words, num_ctx=15)
    assert fit.kept == [1, 3, 4]
    assert [m.role for m in fit.messages] == ["system", "system", "user"]


def test_the_last_message_is_always_kept_even_a_system_one():
    messages = convo("u:50", "a:50", "s:1")
    fit = fit_messages(messages, words, num_ctx=10)
    assert fit.kept == [2] and fit.dropped == [0, 1]


def test_when_even_the_minimum_does_not_fit_it_says_how_many_tokens():
    messages = convo("s:20", "u:5", "a:5", "u:30")
    with pytest.raises(ContextWindowError) as info:
        fit_messages(messages, words, num_ctx=40)
    error = info.value
    assert isinstance(error, InvalidRequestError)
    assert error.prompt_tokens == 23 + 33
    assert error.num_ctx == 40
    assert error.fields == ["options.num_ctx"]
    assert "system messages and the last message alone is 56 tokens" in str(error)
    assert "does not fit num_ctx=40" in str(error)


def test_reserve_keeps_room_for_the_answer():
    messages = convo("u:5", "a:5", "u:5")
    assert not fit_messages(messages, words, num_ctx=24).truncated
    fit = fit_messages(messages, words, num_ctx=24, reserve=1)
    assert fit.dropped == [0] and fit.reserved == 1
    with pytest.raises(ContextWindowError, match="num_ctx=10 less 3 kept for the answer"):
        fit_messages(convo("u:5"), words, num_ctx=10, reserve=3)


def test_truncate_false_drops_nothing_and_refuses():
    messages = convo("u:5", "a:5", "u:5")
    assert fit_messages(messages, words, num_ctx=24, truncate=False).kept == [0, 1, 2]
    with pytest.raises(ContextWindowError, match=r"whole conversation \(truncate=False") as info:
        fit_messages(messages, words, num_ctx=23, truncate=False)
    assert info.value.prompt_tokens == 24


def test_images_count_as_tokens_each():
    messages = convo("u:1", "u:1")
    messages[0] = messages[0].model_copy(update={"images": ["aGk=", "aGk="]})
    assert not fit_messages(messages, words, num_ctx=8).truncated
    fit = fit_messages(messages, words, num_ctx=100, tokens_per_image=50)
    assert fit.dropped == [0] and fit.prompt_tokens == 4


def test_an_empty_conversation_is_counted_too():
    fit = fit_messages([], lambda m: 7, num_ctx=10)
    assert fit.messages == [] and fit.prompt_tokens == 7
    with pytest.raises(ContextWindowError, match="empty conversation"):
        fit_messages([], lambda m: 7, num_ctx=5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_ctx": 0}, "num_ctx must be a positive integer"),
        ({"num_ctx": True}, "num_ctx must be a positive integer"),
        ({"num_ctx": 10, "reserve": -1}, "must not be negative"),
    ],
)
def test_bad_limits_are_invalid_requests(kwargs, message):
    with pytest.raises(InvalidRequestError, match=message):
        fit_messages(convo("u:1"), words, **kwargs)


ROLES = st.sampled_from(["system", "user", "assistant", "tool"])


@given(
    sizes=st.lists(st.tuples(ROLES, st.integers(0, 30)), min_size=1, max_size=14),
    num_ctx=st.integers(1, 200),
    reserve=st.integers(0, 5),
)
def test_the_rule_holds_for_any_conversation(sizes, num_ctx, reserve):
    messages = [Message(role=r, content=" ".join(["w"] * n)) for r, n in sizes]
    last = len(messages) - 1
    system = [i for i, m in enumerate(messages) if m.role == "system"]
    try:
        fit = fit_messages(messages, words, num_ctx, reserve=reserve)
    except ContextWindowError as error:
        minimum = [messages[i] for i in sorted({*system, last})]
        assert error.prompt_tokens == words(minimum) > num_ctx - reserve
        return
    assert sorted(fit.kept + fit.dropped) == list(range(len(messages)))
    assert fit.kept == sorted(fit.kept) and last in fit.kept
    assert set(system) <= set(fit.kept)
    assert fit.prompt_tokens == words(fit.messages) <= num_ctx - reserve
    # the dropped ones are the oldest non-system messages: a prefix of them
    others = [i for i in range(len(messages)) if i not in system]
    assert fit.dropped == others[: len(fit.dropped)]
    # and no fewer would do: keeping the newest dropped one too does not fit
    if fit.dropped:
        bigger = sorted([*fit.kept, fit.dropped[-1]])
        assert words([messages[i] for i in bigger]) > num_ctx - reserve


class Counter:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def count(self, text: str, *, add_special: bool = True, parse_special: bool = False) -> int:
        assert add_special and parse_special
        self.texts.append(text)
        return len(text)


def test_prompt_counter_renders_then_counts_with_special_tokens_parsed():
    counter = Counter()
    count = prompt_counter(lambda ms: "|".join(m.content for m in ms), counter)
    assert count(convo("u:2", "a:1")) == len("w0 w0|w1")
    assert counter.texts == ["w0 w0|w1"]


def test_the_warning_says_what_was_dropped():
    fit = fit_messages(convo("s:1", "u:9", "u:1"), words, num_ctx=10)
    warning = ContextTruncatedWarning(fit)
    assert isinstance(warning, UserWarning) and warning.fit is fit
    assert str(warning) == (
        "dropped 1 message (indexes [1]) so the prompt fits num_ctx=10: 8 prompt tokens remain"
    )


def test_dropped_messages_travel_from_done_to_the_response():
    accumulator = ChatAccumulator("m")
    accumulator.add(TextDelta(text="hi"))
    accumulator.add(Done(usage=Usage(prompt_eval_count=5), dropped_messages=[1, 2]))
    response = accumulator.response()
    assert response.dropped_messages == [1, 2]
    assert response.model_dump(exclude_none=True)["dropped_messages"] == [1, 2]


def test_ollama_shaped_dumps_are_unchanged_when_nothing_was_dropped():
    accumulator = ChatAccumulator("m")
    accumulator.add(TextDelta(text="hi"))
    accumulator.add(Done(usage=Usage(prompt_eval_count=5)))
    response = accumulator.response()
    assert response.dropped_messages is None
    dumped = response.model_dump(exclude_none=True)
    assert "dropped_messages" not in dumped
    assert "dropped_messages" not in Done().model_dump(exclude_none=True)
    # an Ollama body still validates as it is, and round-trips
    body = {"model": "m", "message": {"role": "assistant", "content": "x"}, "done": True}
    assert ChatResponse.model_validate(body).model_dump(exclude_none=True) == body


def test_context_fit_is_frozen():
    fit = fit_messages(convo("u:1"), words, num_ctx=10)
    assert isinstance(fit, ContextFit)
    with pytest.raises(AttributeError):
        fit.prompt_tokens = 0  # type: ignore[misc]
