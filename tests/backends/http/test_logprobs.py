"""Log probabilities (``logprobs``, ``top_logprobs``): computed by the in-process engine and
checked against the softmax of the model's own logits (llama-cpp-python evaluating the same
tokens one at a time), answered by ``llmkit serve`` on both protocols and read by the
official ``openai`` and ``ollama`` clients, and read by llmkit's OpenAI backend from
llama-cpp-python's server."""

from __future__ import annotations

import math

import numpy as np
import ollama
import openai
import pytest
from serve.serve_helpers import live_server

import llmkit
from llmkit.errors import UnsupportedFeatureError
from llmkit.serve import create_app

pytestmark = pytest.mark.model

GREEDY = {"temperature": 0, "num_predict": 6, "repeat_penalty": 1.0}
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def reference_logprobs(path: str, context: list[int], generated: int) -> list[np.ndarray]:
    """Log-softmax rows for the last ``generated`` tokens of ``context``, evaluating the
    prompt, then each token alone (as decoding does)."""
    import llama_cpp

    llm = llama_cpp.Llama(path, n_ctx=512, logits_all=True, verbose=False)
    start = len(context) - generated
    llm.eval(context[:start])
    rows = []
    for position in range(start, len(context)):
        row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        top = row.max()
        rows.append(row - (top + math.log(np.exp(row - top).sum())))
        llm.eval([context[position]])
    llm.close()
    return rows


def test_in_process_values_are_the_softmax_of_the_models_logits(llama_backend, smollm2_path):
    client = llmkit.Client(llama_backend)
    response = client.generate(
        "The capital of France is", raw=True, logprobs=True, top_logprobs=3, options=GREEDY
    )
    assert response.logprobs is not None and len(response.logprobs) == response.eval_count == 6
    assert "".join(entry.token for entry in response.logprobs) == response.response
    context = response.context
    rows = reference_logprobs(str(smollm2_path), context, len(response.logprobs))
    for offset, (entry, row) in enumerate(zip(response.logprobs, rows, strict=True)):
        token = context[len(context) - len(rows) + offset]
        assert entry.logprob == pytest.approx(row[token], abs=1e-4)
        assert bytes(entry.bytes) == entry.token.encode()
        tops = entry.top_logprobs
        assert [t.logprob for t in tops] == sorted((t.logprob for t in tops), reverse=True)
        best = np.argsort(-row)[:3]
        assert [t.logprob for t in tops] == pytest.approx(list(row[best]), abs=1e-4)
        assert tops[0].token == entry.token  # greedy, no penalty: the likeliest was chosen
    # A stream carries them on its text pieces, the same values.
    with client.generate(
        "The capital of France is", raw=True, logprobs=True, options=GREEDY, stream=True
    ) as stream:
        pieces = [e for e in stream if isinstance(e, llmkit.TextDelta)]
        final = stream.final_response()
    streamed = [entry for piece in pieces for entry in piece.logprobs or ()]
    assert [e.logprob for e in streamed] == [e.logprob for e in final.logprobs]
    assert [e.logprob for e in final.logprobs] == [e.logprob for e in response.logprobs]
    assert final.logprobs[0].top_logprobs is None  # none asked for


def test_backends_that_cannot_give_them_say_so(llama_backend, smollm2_path):
    with pytest.raises(UnsupportedFeatureError) as refused:
        llmkit.Client("mock").chat(QUESTION, logprobs=True)
    assert refused.value.field == "logprobs"
    from llmkit_llamacpp import LlamaCppBackend

    legacy = LlamaCppBackend(str(smollm2_path), engine=False)
    try:
        with pytest.raises(UnsupportedFeatureError):
            llmkit.Client(legacy).chat(QUESTION, logprobs=True, options=GREEDY)
    finally:
        legacy.close()


def test_llmkit_serve_answers_them_to_the_official_clients(llama_backend):
    app = create_app(llama_backend, models=["smollm2"], close_backends=False)
    ours = llmkit.Client(llama_backend).chat(
        QUESTION, logprobs=True, top_logprobs=2, options=GREEDY
    )
    with live_server(app) as url:
        oai = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        whole = oai.chat.completions.create(
            model="smollm2",
            messages=QUESTION,
            logprobs=True,
            top_logprobs=2,
            temperature=0,
            max_tokens=6,
            extra_body={"repeat_penalty": 1.0},
        )
        content = whole.choices[0].logprobs.content
        assert [c.token for c in content] == [e.token for e in ours.logprobs]
        assert [c.logprob for c in content] == pytest.approx([e.logprob for e in ours.logprobs])
        assert len(content[0].top_logprobs) == 2
        streamed = []
        for chunk in oai.chat.completions.create(
            model="smollm2",
            messages=QUESTION,
            logprobs=True,
            temperature=0,
            max_tokens=6,
            stream=True,
            extra_body={"repeat_penalty": 1.0},
        ):
            if chunk.choices and chunk.choices[0].logprobs is not None:
                streamed += chunk.choices[0].logprobs.content or []
        assert [c.token for c in streamed] == [c.token for c in content]

        native = ollama.Client(host=url).chat(
            model="smollm2",
            messages=QUESTION,
            logprobs=True,
            top_logprobs=2,
            options={"temperature": 0, "num_predict": 6, "repeat_penalty": 1.0},
        )
        assert [e.token for e in native.logprobs] == [e.token for e in ours.logprobs]
        assert [e.logprob for e in native.logprobs] == pytest.approx(
            [e.logprob for e in ours.logprobs]
        )
        # llmkit's own Ollama backend reads them back, streamed too.
        via = llmkit.Client(f"ollama://{url.removeprefix('http://')}")
        with via.chat(
            QUESTION, model="smollm2", logprobs=True, options=GREEDY, stream=True
        ) as stream:
            back = stream.final_response()
        assert [e.token for e in back.logprobs] == [e.token for e in ours.logprobs]


def test_the_openai_backend_reads_them_from_llama_cpp_pythons_server(
    llama_cpp_server, llama_backend
):
    remote = llmkit.Client(
        f"openai://{llama_cpp_server.removeprefix('http://')}/v1", dialect="llama-cpp-python"
    )
    theirs = remote.chat(QUESTION, model="smollm2", logprobs=True, top_logprobs=2, options=GREEDY)
    ours = llmkit.Client(llama_backend).chat(QUESTION, logprobs=True, options=GREEDY)
    assert theirs.logprobs is not None and len(theirs.logprobs) >= 1
    assert "".join(e.token for e in theirs.logprobs) == theirs.message.content
    assert theirs.logprobs[0].token == ours.logprobs[0].token
    assert theirs.logprobs[0].logprob == pytest.approx(ours.logprobs[0].logprob, abs=1e-2)
    assert len(theirs.logprobs[0].top_logprobs) == 2
