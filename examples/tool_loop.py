"""The tool loop with the in-process model: a forced first call, then the model's answer.

SmolLM2 (135M) is too small to decide to call a tool by itself, so ``tool_choice`` forces
the first step to call ``get_weather`` (a grammar built from its schema); the loop runs the
tool, sends the result back, and lets the model answer.
"""

from __future__ import annotations

import llmkit


@llmkit.tool
def get_weather(city: str) -> dict[str, object]:
    """Get the current weather in a city.

    Args:
        city: The city's name.
    """
    return {"city": city, "temperature_c": 21, "sky": "sunny"}


def log(call: llmkit.ToolCall, result: llmkit.ToolResult) -> None:
    print(f"called {call.function.name}({call.function.arguments}) -> {result.content}")


with llmkit.Client(options={"temperature": 0, "seed": 1, "num_predict": 60}) as client:
    run = llmkit.run_tools(
        client,
        [{"role": "user", "content": "What is the weather in Paris?"}],
        [get_weather],
        tool_choice="get_weather",
        after_call=log,
    )
    print(f"{run.steps} steps; roles: {[message.role for message in run.messages]}")
    print("answer:", run.text)
