"""Ask the default local model (SmolLM2, pulled on first use) one question."""

import llmkit

with llmkit.Client() as client:  # in-process llama.cpp, the `smollm2` model
    response = client.chat(
        [{"role": "user", "content": "Why is the sky blue? Use one sentence in your answer."}],
        options={"temperature": 0, "seed": 101, "num_ctx": 1024, "num_predict": 80},
    )
    print(response.message.content)
    print(f"({response.eval_count} tokens, {response.usage.tokens_per_second:.0f} tokens/s)")
