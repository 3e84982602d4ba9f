"""Model catalogs, GGUF metadata, and the running-models list."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from serve_helpers import write_gguf

from llmkit.models.store import ModelStore
from llmkit.serve.catalog import (
    FixedCatalog,
    RunningModels,
    ServedModel,
    StoreCatalog,
    gguf_facts,
    gguf_model,
    gguf_vocab_size,
    model_details,
    normalize_model_name,
    quantization_name,
    show_model,
)


def test_gguf_facts_are_the_scalars_with_arrays_as_null(tmp_path):
    metadata = gguf_facts(write_gguf(tmp_path / "m.gguf"))
    assert metadata["general.architecture"] == "llama"
    assert metadata["general.file_type"] == 3
    assert metadata["llama.rope.freq_base"] == 100000.0
    assert metadata["tokenizer.ggml.add_bos_token"] is False
    assert metadata["llama.big"] == -(2**40)
    assert metadata["tokenizer.ggml.scores"] is None
    assert metadata["tokenizer.ggml.tokens"] is None
    assert metadata["tokenizer.chat_template"] == "{{ messages }}"
    assert list(metadata)[:2] == ["general.architecture", "general.size_label"]  # file order
    assert json.dumps(metadata)


def test_a_file_that_cannot_be_read_has_no_facts_and_a_warning(tmp_path, caplog):
    (tmp_path / "x.gguf").write_bytes(b"NOPE" + b"\0" * 20)
    whole = write_gguf(tmp_path / "cut.gguf").read_bytes()
    (tmp_path / "cut.gguf").write_bytes(whole[:-40])  # inside the chat template
    (tmp_path / "v9.gguf").write_bytes(b"GGUF" + bytes([9]) + b"\0" * 40)
    with caplog.at_level("WARNING", logger="llmkit.serve"):
        assert gguf_facts(tmp_path / "x.gguf") == {}
        assert gguf_facts(tmp_path / "cut.gguf") == {}
        assert gguf_facts(tmp_path / "v9.gguf") == {}
        assert gguf_facts(tmp_path / "missing.gguf") == {}
    messages = [record.getMessage() for record in caplog.records]
    assert "not a GGUF file: the first 4 bytes are b'NOPE'" in messages[0]
    assert "cut.gguf: truncated GGUF file: a string value needs 14 bytes, 6 left" in messages[1]
    assert "while reading 'tokenizer.chat_template'" in messages[1]
    assert "unsupported GGUF version 9" in messages[2]
    assert "GGUF file not found" in messages[3]


def test_gguf_facts_of_a_version_1_file_and_of_bad_utf8(tmp_path):
    def text(value: bytes) -> bytes:
        return struct.pack("<I", len(value)) + value

    body = text(b"general.name") + struct.pack("<I", 8) + text(b"caf\xe9")
    body += text(b"tokenizer.ggml.scores") + struct.pack("<III", 9, 6, 2) + b"\0" * 8
    (tmp_path / "v1.gguf").write_bytes(b"GGUF" + struct.pack("<III", 1, 0, 2) + body)
    metadata = gguf_facts(tmp_path / "v1.gguf")
    assert metadata == {"general.name": "caf\ufffd", "tokenizer.ggml.scores": None}
    assert json.dumps(metadata, ensure_ascii=False).encode()  # shows as JSON as it is


def test_quantization_names():
    assert quantization_name(3) == "Q4_1"
    assert quantization_name(15) == "Q4_K_M"
    assert quantization_name(999) == "" and quantization_name(None) == ""


def stored_model(root: Path, name: str = "smollm2") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    path = write_gguf(folder / "model.gguf")
    manifest = {
        "name": name,
        "file": "model.gguf",
        "size": path.stat().st_size,
        "sha256": "ab" * 32,
        "source": "a test",
        "pulled_at": "2026-01-02T03:04:05+00:00",
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_names_compare_as_ollama_compares_them():
    assert normalize_model_name(" SmolLM2:latest ") == "smollm2"
    assert normalize_model_name("smollm2:135m") == "smollm2:135m"


def test_the_store_catalog_lists_and_finds_stored_models(tmp_path):
    path = stored_model(tmp_path)
    catalog = StoreCatalog(ModelStore(tmp_path))
    (model,) = catalog.models()
    assert (model.name, model.upstream, model.path) == ("smollm2", "smollm2", path)
    assert model.digest == "ab" * 32 and model.modified_at == "2026-01-02T03:04:05Z"
    for name in ("smollm2", "SmolLM2:latest", "smollm2:135m", "smollm2-135m-instruct"):
        assert catalog.find(name) == model, name
    assert catalog.find("llama3") is None and catalog.find("") is None
    assert catalog.find("../etc") is None
    assert catalog.store.root == tmp_path


def test_details_and_show_come_from_the_gguf_header(tmp_path):
    stored_model(tmp_path)
    model = StoreCatalog(ModelStore(tmp_path)).models()[0]
    assert model_details(model) == {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "135M",
        "quantization_level": "Q4_1",
    }
    shown = show_model(model)
    assert shown["template"] == "{{ messages }}"
    assert "tokenizer.chat_template" not in shown["model_info"]
    assert shown["model_info"]["llama.context_length"] == 8192
    assert shown["license"] == "apache-2.0"
    assert shown["capabilities"] == ["completion", "embedding"]


def test_a_model_straight_from_a_file(tmp_path):
    model = gguf_model("mine", write_gguf(tmp_path / "mine.gguf"))
    assert model.upstream is None and model.metadata["general.architecture"] == "llama"
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"junk")
    assert gguf_model("b", broken).metadata == {}


def test_the_fixed_catalog():
    catalog = FixedCatalog.of_names(["llama3.2", "Qwen3:8b"])
    assert [m.name for m in catalog.models()] == ["llama3.2", "Qwen3:8b"]
    assert catalog.find("llama3.2:latest").upstream == "llama3.2"
    assert catalog.find("qwen3:8b").upstream == "Qwen3:8b"
    assert catalog.find("other") is None and catalog.store is None
    assert show_model(catalog.models()[0])["model_info"] == {}


def test_running_models_expire_and_unload():
    running = RunningModels()
    a = ServedModel(name="a", upstream="a")
    b = ServedModel(name="b", upstream="b")
    running.touch(a, 300.0, now=1000.0)
    running.touch(b, None, now=1000.0)
    assert running.running(now=1200.0) == [(a, 1300.0), (b, None)]
    assert running.running(now=1300.0) == [(b, None)]
    running.touch(b, 0.0, now=1400.0)
    assert running.running(now=1400.0) == []


@pytest.mark.model
def test_smollm2s_real_header(smollm2_path):
    metadata = gguf_facts(smollm2_path)
    assert metadata["general.architecture"] == "llama"
    assert metadata["general.size_label"] == "135M"
    assert quantization_name(metadata["general.file_type"]) == "Q4_1"
    assert metadata["llama.embedding_length"] == 576
    assert metadata["tokenizer.ggml.tokens"] is None
    assert "<|im_start|>" in metadata["tokenizer.chat_template"]


def test_the_vocabulary_size_comes_from_the_token_array(tmp_path):
    path = write_gguf(tmp_path / "m.gguf")
    assert gguf_vocab_size(path) == 2  # write_gguf's two tokens
    assert gguf_vocab_size(tmp_path / "missing.gguf") is None
    assert gguf_model("m", path).vocab_size == 2


def test_an_expiry_past_any_timestamp_counts_as_forever():
    running = RunningModels()
    model = ServedModel(name="m", upstream=None)
    running.touch(model, 1e20, now=100.0)
    assert running.running(now=200.0) == [(model, None)]
