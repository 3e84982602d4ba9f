from llmkit.streaming.accumulator import ChatAccumulator, GenerateAccumulator
from llmkit.types import Done, TextDelta, ThinkingDelta, ToolCall, ToolCallEvent, Usage


def test_chat_accumulator_builds_the_message():
    acc = ChatAccumulator("m")
    call = ToolCall.model_validate({"function": {"name": "f", "arguments": {"x": 1}}})
    for event in [
        ThinkingDelta(text="hm"),
        TextDelta(text="a"),
        TextDelta(text="b"),
        ToolCallEvent(call=call),
        Done(done_reason="stop", usage=Usage(eval_count=2, eval_duration=10)),
    ]:
        acc.add(event)
    response = acc.response()
    assert response.message.content == "ab"
    assert response.message.thinking == "hm"
    assert response.message.tool_calls == [call]
    assert response.done and response.eval_count == 2 and response.model == "m"


def test_partial_response_is_not_done():
    acc = GenerateAccumulator()
    acc.add(TextDelta(text="x"))
    response = acc.response()
    assert response.response == "x" and response.done is False and response.thinking is None


def test_generate_context_comes_from_done():
    acc = GenerateAccumulator()
    acc.add(Done(context=[1, 2, 3]))
    assert acc.response().context == [1, 2, 3]
