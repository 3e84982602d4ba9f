"""Run a small JSONL batch (OpenAI Batch API lines) on the default local model, then resume it.

Run it twice and the second run finds every line done.
"""

import json
import tempfile
from pathlib import Path

import llmkit.batch
from llmkit.batch import BatchRunner

folder = Path(tempfile.mkdtemp())
requests = folder / "requests.jsonl"
questions = ["Name a colour.", "Name a fruit.", "Name an animal."]
requests.write_text(
    "".join(
        json.dumps(
            {
                "custom_id": f"q{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": "gpt-4o-mini",  # the local model answers whatever the file names
                    "messages": [{"role": "user", "content": question}],
                    "max_tokens": 8,
                    "temperature": 0,
                },
            }
        )
        + "\n"
        for n, question in enumerate(questions)
    )
    + "this line is not JSON\n"
)
results = folder / "results.jsonl"

runner = BatchRunner(model="smollm2")  # no backend: the in-process llama.cpp backend
for result in runner.results(requests, results, order="input"):
    if result.ok:
        print(f"{result.custom_id}: {result.text!r}")
    else:
        print(f"failed: {result.error['message']}")

summary = llmkit.batch.run(requests, results, model="smollm2")  # a rerun: all already done
print(summary)
