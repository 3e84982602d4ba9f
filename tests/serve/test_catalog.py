"""Model catalogs, GGUF metadata, and the running-models list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serve_helpers import write_gguf

from llmkit.models.store import ModelStore
from llmkit.serve.catalog import (
    FixedCatalog,
    RunningModels,
    ServedModel,
    StoreCatalog,
    gguf_model,
    model_details,
    normalize_model_name,
    show_model,
)
from llmkit.serve.gguf_info import GGUFFormatError, quantization_name, read_gguf_metadata


def test_the_header_reader_reads_scalars_and_skips_arrays(tmp_path):
    metadata = read_gguf_metadata(write_gguf(tmp_path / "m.gguf"))
    assert metadata["general.architecture"] == "llama"
    assert metadata["general.file_type"] == 3
    assert metadata["llama.rope.freq_base"] == 100000.0
    assert metadata["tokenizer.ggml.add_bos_token"] is False
    assert metadata["llama.big"] == -(2**40)
    assert metadata["tokenizer.ggml.scores"] is None
    assert metadata["tokenizer.ggml.tokens"] is None
    assert metadata["tokenizer.chat_template"] == "{{ messages }}"


def test_the_header_reader_refuses_what_is_not_gguf(tmp_path):
    (tmp_path / "x.gguf").write_bytes(b"NOPE" + b"\0" * 20)
    with pytest.raises(GGUFFormatError, match="not a GGUF file"):
        read_gguf_metadata(tmp_path / "x.gguf")
    with pytest.raises(GGUFFormatError, match="version 1"):
        read_gguf_metadata(write_gguf(tmp_path / "old.gguf", version=1))
    whole = write_gguf(tmp_path / "cut.gguf").read_bytes()
    (tmp_path / "cut.gguf").write_bytes(whole[:60])
    with pytest.raises(GGUFFormatError, match="ends inside"):
        read_gguf_metadata(tmp_path / "cut.gguf")


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
    metadata = read_gguf_metadata(smollm2_path)
    assert metadata["general.architecture"] == "llama"
    assert metadata["general.size_label"] == "135M"
    assert quantization_name(metadata["general.file_type"]) == "Q4_1"
    assert metadata["llama.embedding_length"] == 576
    assert metadata["tokenizer.ggml.tokens"] is None
    assert "<|im_start|>" in metadata["tokenizer.chat_template"]
