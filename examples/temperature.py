"""Temperature matters a lot: the same question at temperature 0 and at 3.0, side by side."""

import llmkit

QUESTION = [{"role": "user", "content": "Why is the sky blue? Use one sentence in your answer."}]

with llmkit.Client() as client:
    for temperature in (0.0, 3.0):
        reply = client.chat(
            QUESTION,
            options={
                "temperature": temperature,
                "seed": 101,
                "num_predict": 60,
                "top_k": 0,
                "top_p": 1.0,
            },
        )
        print(f"--- temperature {temperature} ---")
        print(reply.message.content.strip())
        print()
