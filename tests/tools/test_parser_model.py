"""The parser on the real SmolLM2 model's streamed output, token piece by token piece.

What a 135M model writes is not asserted; what is: the pieces it streams parse exactly as
the whole text does, and nothing of the output is lost.
"""

import pytest
from parser_support import check_invariants, counting_ids, feed_all, normalized

import llmkit
from llmkit.tools import ToolCallParser

SYSTEM = (
    "You are a function calling AI model. For each function call, return a json object "
    "with function name and arguments within <tool_call></tool_call> XML tags:\n"
    '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>\n'
    "Available functions: get_weather(city: string), get_time(zone: string)."
)
PREFILL = "<tool_call>\n"


@pytest.mark.model
@pytest.mark.parametrize(
    "question",
    ["What is the weather in Paris?", "What time is it in Tokyo and what is the weather there?"],
)
def test_streamed_model_output_parses_as_the_whole_does(llama_backend, question):
    prompt = (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
        f"<|im_start|>assistant\n{PREFILL}"
    )
    client = llmkit.Client(llama_backend)
    with client.generate(
        prompt,
        raw=True,
        stream=True,
        options={"temperature": 0, "seed": 7, "num_predict": 96, "stop": ["<|im_end|>"]},
    ) as stream:
        pieces = [PREFILL, *stream.text_stream()]
    output = "".join(pieces)
    assert len(pieces) > 5, output

    def parser():
        return ToolCallParser.for_format(
            "hermes", ["get_weather", "get_time"], id_factory=counting_ids
        )

    streamed = feed_all(parser(), pieces)
    check_invariants(streamed, output)
    assert normalized(streamed) == normalized(feed_all(parser(), [output]))
    assert normalized(feed_all(parser(), list(output))) == normalized(streamed)
