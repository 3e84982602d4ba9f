"""The ctransformers backend, on the real ctransformers 0.2.27 runtime.

No model ctransformers can load is to be had here, so the tests write their
own (``ctransformers_models``): tiny seeded llama GGUF files and a GPT-2 GGML
file whose greedy answers are known by construction.  The real SmolLM2 file
shows the pre-flight check's error; rewritten for ctransformers, it shows the
real weights running.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest
from ctransformers_models import (
    BF16,
    COUNT_TEXT,
    F16,
    LETTERS_TEXT,
    Q2_K,
    Q3_K,
    Q4_0,
    Q4_1,
    Q4_K,
    Q5_0,
    Q5_1,
    Q5_K,
    Q6_K,
    Q8_0,
    LlamaFile,
    rewrite_for_ctransformers,
    write_gpt2_ggml,
    write_llama_gguf,
)

import llmkit
from llmkit import Done, TextDelta
from llmkit.errors import (
    InvalidRequestError,
    ModelLoadError,
    ModelNotFoundError,
    UnsupportedFeatureError,
    UnsupportedOptionError,
)
from llmkit.types.options import OLLAMA_OPTION_NAMES
from llmkit.types.requests import GenerateRequest
from llmkit_ctransformers import RULES, CTransformersBackend, options_table, preflight
from llmkit_ctransformers.compat import check_ggml, check_gguf, parse_header, token_bytes

GREEDY = {"temperature": 0, "num_thread": 1}
HELLO = [{"role": "user", "content": "hello"}]


def _problems(path: Path) -> list[str]:
    """What the pre-flight check says of a file (its reasons; empty: it loads)."""
    data = path.read_bytes()
    return check_gguf(parse_header(data), len(data))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("ctransformers")
    return {
        "llama": write_llama_gguf(folder / "llama.gguf"),
        "q4_0_gqa_v3": write_llama_gguf(
            folder / "q4.gguf", LlamaFile(version=3, tensor_type=Q4_0, n_head_kv=2)
        ),
        "gpt2": write_gpt2_ggml(folder / "gpt2.bin"),
    }


@pytest.fixture(scope="module")
def backend(files: dict[str, Path]):
    backend = CTransformersBackend(str(files["llama"]), options={"num_ctx": 256})
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def client(backend: CTransformersBackend) -> llmkit.Client:
    return llmkit.Client(backend)


def test_chat_follows_the_models_script_with_counts_and_durations(client):
    response = client.chat(HELLO, options=GREEDY)
    assert response.message.content == COUNT_TEXT
    assert response.done_reason == "stop"  # the model ended its text
    assert response.eval_count == 11
    assert response.prompt_eval_count and response.prompt_eval_count > 5
    assert response.eval_duration and response.eval_duration > 0
    assert response.total_duration and response.total_duration >= response.eval_duration


def test_streaming_and_non_streaming_give_the_same_text(client):
    with client.chat(HELLO, options=GREEDY, stream=True) as stream:
        pieces = list(stream.text_stream())
        streamed = stream.final_response()
    assert pieces[:3] == [" one", " two", " three"]
    assert (
        "".join(pieces)
        == streamed.message.content
        == client.chat(HELLO, options=GREEDY).message.content
    )


def test_backend_string_and_entry_point(files):
    assert "ctransformers" in llmkit.backends.available_backends()
    with llmkit.Client(f"ctransformers:{files['llama']}") as client:
        response = client.generate("caf", raw=True, options=GREEDY)
    assert response.response == "é!"


def test_a_character_split_across_tokens_arrives_whole(client):
    with client.generate("caf", raw=True, options=GREEDY, stream=True) as stream:
        events = list(stream)
    texts = [event.text for event in events if isinstance(event, TextDelta)]
    assert "".join(texts) == "é!"
    assert all("\ufffd" not in text for text in texts)  # <0xC3> then <0xA9>: never half
    assert isinstance(events[-1], Done) and events[-1].usage.eval_count == 3


def test_num_predict_limits_generated_tokens(client):
    response = client.generate("a", raw=True, options={**GREEDY, "num_predict": 7})
    assert response.response == " b c d e f g h"
    assert response.eval_count == 7
    assert response.done_reason == "length"
    assert response.context is not None
    assert len(response.context) == response.prompt_eval_count + 7


def test_num_predict_zero_generates_nothing(client):
    response = client.generate("a", raw=True, options={**GREEDY, "num_predict": 0})
    assert response.response == ""
    assert response.eval_count == 0


def test_generation_stops_at_a_full_context(client):
    response = client.generate("a", raw=True, options={**GREEDY, "num_predict": -1})
    assert response.done_reason == "length"
    assert response.prompt_eval_count + response.eval_count == 256  # num_ctx
    assert response.response.startswith(LETTERS_TEXT)


def test_stop_strings_end_generation_and_are_not_in_the_output(client):
    cut = client.generate("a", raw=True, options={**GREEDY, "stop": [" f"]})
    assert cut.response == " b c d e"
    assert cut.done_reason == "stop"
    across = client.generate("a", raw=True, options={**GREEDY, "stop": ["c d"]})
    assert across.response == " b "  # the stop spans two tokens
    never = client.generate("a", raw=True, options={**GREEDY, "num_predict": 4, "stop": ["zz"]})
    assert never.response == " b c d e"


def test_same_seed_repeats_and_the_seed_matters(client):
    options = {"temperature": 3, "top_k": 0, "top_p": 1.0, "num_predict": 12, "num_thread": 1}
    first = client.generate("a", raw=True, options={**options, "seed": 7}).response
    again = client.generate("a", raw=True, options={**options, "seed": 7}).response
    assert first == again
    others = {
        client.generate("a", raw=True, options={**options, "seed": s}).response for s in (1, 2, 3)
    }
    assert len(others | {first}) > 1


def test_temperature_zero_is_deterministic(client):
    answers = {
        client.generate("a", raw=True, options={**GREEDY, "num_predict": 9}).response
        for _ in range(3)
    }
    assert answers == {" b c d e f g h i j"}


def test_closing_a_stream_midway_stops_and_frees_the_model(client, backend):
    options = {**GREEDY, "num_predict": -1}
    started = time.perf_counter()
    with client.generate("a", raw=True, options=options, stream=True) as stream:
        seen = [text for _, text in zip(range(5), stream.text_stream(), strict=False)]
    assert "".join(seen) == " b c d e f"
    done: list[str] = []
    worker = threading.Thread(
        target=lambda: done.append(client.generate("caf", raw=True, options=GREEDY).response)
    )
    worker.start()
    worker.join(timeout=30)
    assert done == ["é!"]
    assert time.perf_counter() - started < 30


def test_generate_context_continues(client):
    first = client.generate("a", raw=True, options={**GREEDY, "num_predict": 3})
    more = client.generate(
        "", raw=True, context=first.context, options={**GREEDY, "num_predict": 3}
    )
    assert first.response + more.response == " b c d e f g"


@pytest.mark.anyio
async def test_async_stream_on_every_event_loop(backend, anyio_backend):
    client = llmkit.AsyncClient(backend)
    async with await client.chat(HELLO, options=GREEDY, stream=True) as stream:
        events = [event async for event in stream]
    assert isinstance(events[-1], Done)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == COUNT_TEXT


@pytest.mark.anyio
async def test_async_cancel_scope_stops_generation(backend, anyio_backend):
    client = llmkit.AsyncClient(backend)
    count = 0
    started = time.monotonic()
    with anyio.move_on_after(0.3) as scope:
        async with await client.generate(
            "a", raw=True, options={**GREEDY, "num_predict": -1}, stream=True
        ) as stream:
            async for _ in stream:
                count += 1
                await anyio.sleep(0.01)  # slower than the model: cancelled mid-way
    assert scope.cancelled_caught
    assert time.monotonic() - started < 2
    assert 0 < count < 250
    response = await client.generate("caf", raw=True, options=GREEDY)
    assert response.response == "é!"  # the model is released


def test_quantized_gqa_gguf_v3_file(files):
    with llmkit.Client(
        CTransformersBackend(str(files["q4_0_gqa_v3"]), options={"num_ctx": 128})
    ) as client:
        assert client.chat(HELLO, options=GREEDY).message.content == COUNT_TEXT


def test_gpt2_ggml_file_with_model_type(files):
    backend = CTransformersBackend(str(files["gpt2"]), model_type="gpt2")
    with llmkit.Client(backend) as client:
        response = client.generate("hello:", raw=True, options=GREEDY)
        assert response.response == COUNT_TEXT
        assert response.done_reason == "stop"
        with pytest.raises(UnsupportedOptionError, match="fixed at 256") as error:
            client.generate("x", raw=True, options={"num_ctx": 1024})
        assert error.value.option == "num_ctx"
        with pytest.raises(UnsupportedFeatureError):
            client.embed("hello")
        with pytest.raises(InvalidRequestError, match="no chat template"):
            client.chat(HELLO)


def test_a_ggml_file_without_model_type_says_to_pass_one(files):
    with pytest.raises(ModelLoadError, match="pass model_type=") as error:
        llmkit.Client(CTransformersBackend(str(files["gpt2"]))).generate("x", raw=True)
    assert "llamacpp:" in str(error.value)


def test_embeddings_are_normalised_and_differ_by_text(client):
    response = client.embed(["hello", "world"])
    first, second = response.embeddings
    assert len(first) == 64
    assert abs(sum(x * x for x in first) - 1) < 1e-4
    assert first != second
    assert response.prompt_eval_count and response.prompt_eval_count >= 4


def test_options_it_cannot_honour_are_named(client):
    for option, value in [
        ("mirostat", 2),
        ("min_p", 0.1),
        ("typical_p", 0.5),
        ("presence_penalty", 0.5),
        ("num_keep", 4),
        ("f16_kv", True),
        ("num_batch", 1024),
        ("rope_frequency_base", 20000.0),
        ("main_gpu", 1),
    ]:
        with pytest.raises(UnsupportedOptionError) as error:
            client.generate("a", raw=True, options={option: value})
        assert error.value.option == option
        assert error.value.fields == [f"options.{option}"]
    with pytest.raises(UnsupportedOptionError) as error:
        client.generate("a", raw=True, options={"extra": {"lib": "avx"}})
    assert error.value.option == "extra.lib"


def test_the_off_values_of_missing_samplers_are_accepted(client):
    neutral = {"min_p": 0.0, "typical_p": 1.0, "tfs_z": 1.0, "mirostat": 0, "presence_penalty": 0.0}
    response = client.generate("a", raw=True, options={**GREEDY, **neutral, "num_predict": 2})
    assert response.response == " b c"


def test_request_fields_it_cannot_honour_are_named(client):
    with pytest.raises(UnsupportedFeatureError) as error:
        client.chat(HELLO, format="json")
    assert error.value.field == "format"
    tool = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}
    with pytest.raises(UnsupportedFeatureError) as error:  # no grammar to force a call with
        client.chat(HELLO, tools=[tool], tool_choice="required")
    assert error.value.field == "tool_choice"
    with pytest.raises(InvalidRequestError, match="does not fit"):
        client.generate("a " * 300, raw=True)


CRASH = """
import ctypes, sys
from ctransformers import LLM
llm = LLM(sys.argv[1])
text = sys.argv[2].encode()
llm.ctransformers_llm_tokenize(text, True, (ctypes.c_int * (len(text) + 2))())
print("tokenized")
"""


def test_a_character_the_vocabulary_cannot_spell_is_refused_not_a_crash(tmp_path):
    path = write_llama_gguf(tmp_path / "few-bytes.gguf", LlamaFile(byte_tokens=False))
    assert _problems(path) == []  # it loads
    run = subprocess.run(
        [sys.executable, "-c", CRASH, str(path), "中"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0 and "tokenized" not in run.stdout  # ctransformers aborts
    with llmkit.Client(CTransformersBackend(str(path), options={"num_ctx": 64})) as client:
        with pytest.raises(InvalidRequestError, match="U\\+4E2D"):
            client.generate("中", raw=True)
        assert client.generate("caf", raw=True, options=GREEDY).response == "é!"


def test_missing_model_file_names_the_path(tmp_path):
    with pytest.raises(ModelNotFoundError) as error:
        CTransformersBackend(str(tmp_path / "nope.gguf"))
    assert "nope.gguf" in str(error.value)


def test_every_ollama_option_has_a_rule_and_the_docs_show_the_table():
    assert tuple(rule.option for rule in RULES) == OLLAMA_OPTION_NAMES
    docs = (Path(__file__).parents[2] / "docs" / "options.md").read_text()
    start, end = "<!-- ctransformers-options:start -->\n", "<!-- ctransformers-options:end -->"
    assert docs.split(start)[1].split(end)[0] == options_table()


# -- which files load: the pre-flight check against the real runtime ------------

PROBE = """
import ctypes, sys
lib = ctypes.CDLL(sys.argv[2])  # ctransformers' own library, without its slow imports
class Config(ctypes.Structure):
    _fields_ = [("context_length", ctypes.c_int), ("gpu_layers", ctypes.c_int),
                ("mmap", ctypes.c_bool), ("mlock", ctypes.c_bool)]
lib.ctransformers_llm_create.restype = ctypes.c_void_p
lib.ctransformers_llm_create.argtypes = [ctypes.c_char_p, ctypes.c_char_p, Config]
llm = lib.ctransformers_llm_create(sys.argv[1].encode(), b"gguf", Config(64, 0, True, False))
if not llm:
    print("failed")
else:
    tokens = (ctypes.c_int * 2)(1, 2)
    ok = lib.ctransformers_llm_batch_eval(ctypes.c_void_p(llm), tokens, 2, 0, 8, 1)
    print("loaded" if ok else "eval failed")
"""


@pytest.fixture(scope="module")
def native_library() -> str:
    from ctransformers.lib import find_library

    return find_library()


K = {"n_embd": 256, "n_ff": 512}
MATRIX = {
    "gguf v1": (LlamaFile(version=1), True),
    "gguf v3": (LlamaFile(version=3), True),
    "gqa 4/1": (LlamaFile(n_head_kv=1), True),
    "gqa 6/3": (LlamaFile(n_embd=96, n_head=6, n_head_kv=3, n_ff=192), True),
    "f16": (LlamaFile(tensor_type=F16, embd_type=F16), True),
    "q4_1": (LlamaFile(tensor_type=Q4_1, embd_type=Q4_1), True),
    "q5_0": (LlamaFile(tensor_type=Q5_0), True),
    "q5_1": (LlamaFile(tensor_type=Q5_1), True),
    "q8_0": (LlamaFile(tensor_type=Q8_0, embd_type=Q8_0), True),
    "q2_k": (LlamaFile(tensor_type=Q2_K, **K), True),
    "q3_k": (LlamaFile(tensor_type=Q3_K, **K), True),
    "q4_k": (LlamaFile(tensor_type=Q4_K, **K), True),
    "q5_k": (LlamaFile(tensor_type=Q5_K, **K), True),
    "q6_k": (LlamaFile(tensor_type=Q6_K, **K), True),
    "falcon, raw-byte bpe": (LlamaFile(architecture="falcon", vocab="gpt2-raw"), True),
    "falcon, gqa": (LlamaFile(architecture="falcon", vocab="gpt2-raw", n_head_kv=1), True),
    "llama, raw-byte bpe": (LlamaFile(vocab="gpt2-raw"), True),
    "bf16": (LlamaFile(tensor_type=BF16), False),
    "type 16 (iq2_xxs)": (LlamaFile(tensor_type=16), False),
    "type 20 (iq4_nl)": (LlamaFile(tensor_type=20), False),
    "byte-level bpe": (LlamaFile(vocab="gpt2"), False),
    "no scores": (LlamaFile(scores=False), False),
    "no token types": (LlamaFile(token_types=False), False),
    "tied output": (LlamaFile(output_tensor=False), False),
    "partial rope": (LlamaFile(rope_dims=8), False),
    "extra tensor": (LlamaFile(extra_tensors=("rope_freqs.weight",)), False),
    "qwen2": (LlamaFile(architecture="qwen2"), False),
    "gptneox": (LlamaFile(architecture="gptneox"), False),
    "gemma3": (LlamaFile(architecture="gemma3"), False),
}


@pytest.mark.parametrize("name", list(MATRIX))
def test_the_check_agrees_with_ctransformers(tmp_path, native_library, name):
    spec, loads = MATRIX[name]
    path = write_llama_gguf(tmp_path / "m.gguf", spec)
    problems = _problems(path)
    assert (not problems) is loads, problems
    run = subprocess.run(
        [sys.executable, "-c", PROBE, str(path), native_library],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # A file the check refuses fails to load, or kills the process loading or evaluating.
    outcome = run.stdout.strip() if run.returncode == 0 else f"died ({run.returncode})"
    assert (outcome == "loaded") is loads, (outcome, run.stderr[-500:])
    if not loads:
        with pytest.raises(ModelLoadError, match="llamacpp:"):
            preflight(path)


def test_a_truncated_file_is_caught(tmp_path):
    path = write_llama_gguf(tmp_path / "whole.gguf")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(path.read_bytes()[:-5000])
    with pytest.raises(ModelLoadError, match="cut short"):
        preflight(cut)
    head = tmp_path / "head.gguf"
    head.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ModelLoadError, match="not a readable GGUF file"):
        preflight(head)


# -- the real SmolLM2 file ----------------------------------------------------


@pytest.mark.model
def test_smollm2_gets_reasons_and_a_suggestion_not_a_bare_failure(smollm2_path):
    from ctransformers import LLM

    with pytest.raises(RuntimeError, match="Failed to create LLM"):
        LLM(str(smollm2_path))  # what a user of ctransformers alone sees
    backend = CTransformersBackend(str(smollm2_path))
    with pytest.raises(ModelLoadError) as error:
        llmkit.Client(backend).chat(HELLO)
    message = str(error.value)
    assert "tokenizer.ggml.scores" in message
    assert "byte-level" in message
    assert "output.weight" in message
    assert f"llamacpp:{smollm2_path}" in message


@pytest.mark.model
def test_smollm2_rewritten_for_ctransformers_answers_like_llama_cpp(
    tmp_path, smollm2_path, llama_backend
):
    path = rewrite_for_ctransformers(smollm2_path, tmp_path / "smollm2-ct.gguf")
    options = {**GREEDY, "num_predict": 12, "num_ctx": 512}
    with llmkit.Client(CTransformersBackend(str(path))) as client:
        ours = client.generate("The capital of France is", raw=True, options=options)
        chat = client.chat(
            [{"role": "user", "content": "What is the capital of France?"}],
            options={**options, "num_predict": 20},
        )
    reference = llmkit.Client(llama_backend).generate(
        "The capital of France is", raw=True, options=options
    )
    assert ours.response.startswith(" Paris")
    assert ours.response == reference.response
    assert "Paris" in chat.message.content
    assert json.dumps(ours.model_dump(mode="json"))  # a plain response, nothing native in it


# -- the pure parts ------------------------------------------------------------


def test_gguf_versions_one_to_three_read_alike(tmp_path):
    infos = [
        parse_header(write_llama_gguf(tmp_path / f"v{v}.gguf", LlamaFile(version=v)).read_bytes())
        for v in (1, 2, 3)
    ]
    assert [info.version for info in infos] == [1, 2, 3]
    assert infos[0].kv == infos[1].kv == infos[2].kv
    assert infos[0].array_lengths == infos[1].array_lengths == infos[2].array_lengths
    assert infos[0].tensors == infos[1].tensors == infos[2].tensors
    assert infos[0].tensors is not None and len(infos[0].tensors) == 3 + 2 * 9
    # only the token list and types are read; the other arrays keep their type and length
    assert infos[0].skipped_arrays == {"tokenizer.ggml.scores"}
    assert len(token_bytes(infos[0])) == infos[0].array_lengths["tokenizer.ggml.tokens"]


def test_raw_byte_tokens_are_kept_byte_for_byte(tmp_path):
    path = write_llama_gguf(tmp_path / "raw.gguf", LlamaFile(vocab="gpt2-raw"))
    tokens = token_bytes(parse_header(path.read_bytes()))
    assert tokens[:256] == tuple(bytes([b]) for b in range(256))  # not UTF-8, not replaced
    assert b" caf" in tokens


@pytest.mark.model
def test_special_tokens_in_a_prompt_are_read_as_theirs(tmp_path, smollm2_path, llama_backend):
    # ctransformers' tokenizer alone spells "<|im_end|>" out in pieces; llama.cpp reads it
    # as one control token, and so does the backend now.
    path = rewrite_for_ctransformers(smollm2_path, tmp_path / "smollm2-ct.gguf")
    backend = CTransformersBackend(str(path))
    text = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    try:
        list(backend.generate(GenerateRequest(prompt="x", raw=True, options={"num_predict": 1})))
        (loaded,) = backend._loaded.values()
        ours = loaded.tokenize(text)
    finally:
        backend.close()
    import llama_cpp

    reference = llama_cpp.Llama(str(smollm2_path), vocab_only=True, verbose=False)
    assert ours == reference.tokenize(text.encode(), add_bos=False, special=True)
    assert ours.count(2) == 1  # <|im_end|>, one token


def test_a_broken_header_is_refused_with_where_it_broke(tmp_path):
    whole = write_llama_gguf(tmp_path / "whole.gguf").read_bytes()
    info = parse_header(whole)
    assert info.tensors is not None and info.data_offset is not None
    sizes = [8 + len(t.name) + 4 + 8 * len(t.shape) + 4 + 8 for t in info.tensors]
    table_end = info.end_offset + sum(sizes)  # a version 2 file: 64-bit counts
    last = info.tensors[-1]
    cut = tmp_path / "table.gguf"  # cut inside the last tensor's data offset
    cut.write_bytes(whole[: table_end - 4])
    with pytest.raises(ModelLoadError, match="not a readable GGUF file") as error:
        preflight(cut)
    assert f"its data offset needs 8 bytes, 4 left at byte offset {table_end - 8}" in str(
        error.value
    )
    assert f"while reading tensor {len(sizes) - 1} ({last.name!r})" in str(error.value)


def test_a_big_endian_gguf_is_refused_by_name():
    def text(value: str) -> bytes:
        return struct.pack(">Q", len(value)) + value.encode()

    header = b"GGUF" + struct.pack(">IQQ", 3, 0, 1)
    header += text("general.architecture") + struct.pack(">I", 8) + text("llama")
    info = parse_header(header)
    assert info.byte_order == "big" and info.architecture == "llama"
    assert check_gguf(info, len(header)) == [
        "it is a big-endian GGUF file; ctransformers reads only little-endian ones"
    ]


def test_ggml_files_are_checked_by_magic_and_model_type():
    ggml, ggjt = b"lmgg\0\0\0\0", b"tjgg\3\0\0\0"
    assert check_ggml(ggml, "gpt2") == []
    assert check_ggml(ggml, "gpt_neox") == []  # ctransformers drops the punctuation too
    assert check_ggml(ggjt, "llama") == []
    assert "pass model_type=" in check_ggml(ggml, None)[0]
    assert "only ggml files" in check_ggml(ggjt, "gpt2")[0]
    assert "no model type 'bloom'" in check_ggml(ggml, "bloom")[0]
    assert "neither a GGUF nor a GGML" in check_ggml(b"PK\3\4\0\0\0\0", None)[0]


def test_go_and_jinja_templates_build_the_prompt(files):
    go = "{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}assistant:"
    with llmkit.Client(CTransformersBackend(str(files["llama"]), go_template=go)) as client:
        assert client.chat(HELLO, options=GREEDY).message.content == COUNT_TEXT
        fim = client.generate("caf", template="{{ .Prompt }}", options=GREEDY)
        assert fim.response == "é!"
    jinja = "{% for m in messages %}{{ m['content'] }}{% endfor %}"  # ends in "hello", not ":"
    with llmkit.Client(CTransformersBackend(str(files["llama"]), chat_template=jinja)) as client:
        caf = client.chat([{"role": "user", "content": "caf"}], options=GREEDY)
    assert caf.message.content == "é!"


# -- what the shared in-process layer gives it (llmkit.backends.inprocess) -----------------


def test_thinking_is_split_out_by_the_templates_tags(files):
    # The script answers "a" with " b c d e f ..."; a Go template whose thinking sits
    # between "b" and "e" makes " c d" the thinking.
    go = "{{ range .Messages }}{{ if .Thinking }}b{{ .Thinking }}e{{ end }}{{ .Content }}{{ end }}"
    backend = CTransformersBackend(str(files["llama"]), go_template=go)
    with llmkit.Client(backend) as client:
        answer = client.chat(
            [{"role": "user", "content": "a"}], think=True, options={**GREEDY, "num_predict": 8}
        )
        plain = client.chat(
            [{"role": "user", "content": "a"}], options={**GREEDY, "num_predict": 8}
        )
    assert answer.message.thinking.split() == ["c", "d"]
    assert answer.message.content.split() == ["f", "g", "h", "i"]
    assert plain.message.thinking is None and plain.message.content.startswith(" b c d e")


def test_a_long_history_is_fitted_to_the_context(files):
    go = "{{ range .Messages }}{{ .Content }} {{ end }}:"
    backend = CTransformersBackend(str(files["llama"]), go_template=go, options={"num_ctx": 64})
    history = [{"role": "system", "content": "hello"}]
    for turn in range(30):
        history += [
            {"role": "user", "content": f"hello {turn % 3}"},
            {"role": "assistant", "content": "hello"},
        ]
    history.append({"role": "user", "content": "hello"})
    with llmkit.Client(backend) as client:
        with pytest.warns(llmkit.ContextTruncatedWarning):
            fitted = client.chat(history, options={**GREEDY, "num_predict": 3})
        assert fitted.dropped_messages and len(fitted.dropped_messages) > 30
        assert fitted.prompt_eval_count is not None and fitted.prompt_eval_count < 64
        assert fitted.message.content.startswith(" one two")
        with pytest.raises(llmkit.ContextWindowError):
            client.chat(history, truncate=False, options={**GREEDY, "num_predict": 3})


def test_a_requests_template_is_bounded_and_compiled_once(client):
    with pytest.raises(InvalidRequestError) as error:
        client.generate("a", template="{{ .Prompt }}" + "x" * (256 * 1024))
    assert error.value.fields == ["template"]
    first = client.generate("a", template="{{ .Prompt }}", options={**GREEDY, "num_predict": 2})
    again = client.generate("a", template="{{ .Prompt }}", options={**GREEDY, "num_predict": 2})
    assert first.response == again.response == " b c"


@pytest.mark.model
def test_tool_calls_are_parsed_from_smollm2_rewritten_for_ctransformers(
    tmp_path, smollm2_path, llama_backend
):
    # SmolLM2's template shows no tools: one example turn teaches the Hermes format, and
    # greedy decoding writes a call (as in tests/tools/test_wiring_model.py, on llama.cpp).
    few_shot = [
        {
            "role": "system",
            "content": "You can call tools. To call one, answer only with "
            '<tool_call>{"name": NAME, "arguments": {...}}</tool_call>.',
        },
        {"role": "user", "content": "What is the weather in Rome?"},
        {
            "role": "assistant",
            "content": '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}'
            "</tool_call>",
        },
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    path = rewrite_for_ctransformers(smollm2_path, tmp_path / "smollm2-ct.gguf")
    # repeat_penalty 1.0: ctransformers applies its penalty differently from llama.cpp
    options = {"temperature": 0, "num_predict": 40, "num_ctx": 512, "repeat_penalty": 1.0}
    with llmkit.Client(CTransformersBackend(str(path), tool_format="hermes")) as client:
        ours = client.chat(few_shot, tools=[tool], options=options)
    reference = llmkit.Client(llama_backend).chat(few_shot, tools=[tool], options=options)
    assert ours.message.tool_calls, ours.message.content
    call = ours.message.tool_calls[0].function
    assert call.name == "get_weather" and call.arguments == {"city": "Paris"}
    assert [c.function for c in ours.message.tool_calls] == [
        c.function for c in reference.message.tool_calls or []
    ]
    assert ours.message.content == ""  # the turn ended at <|im_end|>, as on llama.cpp


def test_num_gpu_becomes_gpu_layers_and_loads_on_this_cpu_build(files):
    from llmkit.types import Options
    from llmkit_ctransformers.options import ALL_LAYERS, split_options

    assert split_options(Options(num_gpu=3)).load["gpu_layers"] == 3
    assert split_options(Options(num_gpu=-1)).load["gpu_layers"] == ALL_LAYERS
    # num_gpu > 0 picks ctransformers' CUDA library: without it (no GPU was lent here) the
    # error says what to install; num_gpu=0 stays on the CPU library and answers.
    gpu = CTransformersBackend(str(files["llama"]), options={"num_ctx": 256, "num_gpu": 2})
    try:
        with pytest.raises(ModelLoadError, match=r"llmkit-ctransformers\[cuda\]"):
            llmkit.Client(gpu).generate("a", raw=True, options={**GREEDY, "num_predict": 3})
    finally:
        gpu.close()
    cpu = CTransformersBackend(str(files["llama"]), options={"num_ctx": 256, "num_gpu": 0})
    try:
        response = llmkit.Client(cpu).generate("a", raw=True, options={**GREEDY, "num_predict": 3})
    finally:
        cpu.close()
    assert response.response == " b c d"


def test_calls_are_traced_as_on_every_backend(files):
    from test_tracing import Telemetry

    import llmkit.tracing

    recorded = Telemetry()
    llmkit.tracing.instrument(
        tracer_provider=recorded.tracer_provider, meter_provider=recorded.meter_provider
    )
    try:
        with llmkit.Client(CTransformersBackend(str(files["llama"]))) as client:
            response = client.chat(HELLO, options={**GREEDY, "num_predict": 3})
    finally:
        llmkit.tracing.uninstrument()
    (span,) = recorded.finished("chat")
    attributes = dict(span.attributes)
    assert attributes["gen_ai.provider.name"] == "ctransformers"
    assert attributes["gen_ai.usage.output_tokens"] == response.eval_count == 3
    assert attributes["gen_ai.usage.input_tokens"] == response.prompt_eval_count
