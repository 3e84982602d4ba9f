"""The ``llmkit serve`` command, and how backend strings become a server."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from serve_helpers import asgi_client, serve_process, write_gguf

from llmkit.errors import BackendError, ModelNotFoundError
from llmkit.models.store import ModelStore
from llmkit.serve import Router, build_app
from llmkit.serve.catalog import FixedCatalog, StoreCatalog
from llmkit.serve.server import is_loopback


def test_help_lists_the_options():
    result = subprocess.run(
        [sys.executable, "-m", "llmkit", "serve", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for option in ("--backend", "--model", "--host", "--port", "--api-key", "127.0.0.1", "11434"):
        assert option in result.stdout


def test_a_router_of_two_mocks_served_by_the_real_command():
    with serve_process(
        "--backend", "mock", "--backend", "mock", "--model", "m", "--api-key", "k"
    ) as url:
        headers = {"Authorization": "Bearer k"}
        assert httpx.get(f"{url}/api/tags").status_code == 401
        tags = httpx.get(f"{url}/api/tags", headers=headers).json()
        assert [m["name"] for m in tags["models"]] == ["m"]
        for _ in range(2):
            reply = httpx.post(
                f"{url}/v1/chat/completions",
                headers=headers,
                json={"model": "m", "messages": [{"role": "user", "content": "hi there"}]},
            ).json()
            assert reply["choices"][0]["message"]["content"] == "hi there"
        with httpx.stream(
            "POST", f"{url}/api/generate", headers=headers, json={"model": "m", "prompt": "a b"}
        ) as response:
            chunks = [json.loads(line) for line in response.iter_lines()]
        assert "".join(c["response"] for c in chunks) == "a b"


def test_the_api_key_can_come_from_the_environment():
    with serve_process("--backend", "mock", env={"LLMKIT_API_KEY": "from-env"}) as url:
        assert httpx.get(f"{url}/v1/models").status_code == 401
        listed = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer from-env"})
        assert [m["id"] for m in listed.json()["data"]] == ["mock"]


def test_a_backend_that_does_not_exist_is_a_clear_error():
    result = subprocess.run(
        [sys.executable, "-m", "llmkit", "serve", "--backend", "nosuch://x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no backend named 'nosuch'" in result.stderr


def test_generic_backends_offer_the_given_names_or_their_own():
    app = build_app(["mock"], models=["alpha", "beta"])
    catalog = app.state.llmkit.catalog
    assert isinstance(catalog, FixedCatalog)
    assert [m.name for m in catalog.models()] == ["alpha", "beta"]
    assert catalog.find("beta").upstream == "beta"
    default = build_app(["mock"]).state.llmkit.catalog
    assert [(m.name, m.upstream) for m in default.models()] == [("mock", None)]
    assert isinstance(build_app(["mock", "mock:echo"]).state.llmkit.backend, Router)


def test_in_process_backends_cannot_share_a_router_with_others():
    with pytest.raises(BackendError, match="cannot share a router"):
        build_app(["llamacpp", "mock"])


def test_in_process_backends_serve_the_store(tmp_path):
    store = ModelStore(tmp_path)
    folder = tmp_path / "mine"
    folder.mkdir()
    path = write_gguf(folder / "mine.gguf")
    manifest = {
        "name": "mine",
        "file": "mine.gguf",
        "size": path.stat().st_size,
        "sha256": "0" * 64,
        "source": "test",
        "pulled_at": "2026-01-01T00:00:00+00:00",
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    app = build_app(["llamacpp"], models=["mine"], store=store)
    state = app.state.llmkit
    assert isinstance(state.catalog, StoreCatalog)
    assert [m.name for m in state.catalog.models()] == ["mine"]
    assert state.backend.backend.model_name == "mine"
    with pytest.raises(ModelNotFoundError):
        build_app(["llamacpp"], models=["not-in-the-registry"], store=store)


@pytest.mark.anyio
async def test_in_process_backends_serve_a_gguf_file(tmp_path):
    path = write_gguf(tmp_path / "file-model.gguf")
    app = build_app([f"llamacpp:{path}"], store=ModelStore(tmp_path / "store"))
    async with asgi_client(app) as client:
        tags = (await client.get("/api/tags")).json()["models"]
        assert [(m["name"], m["details"]["family"]) for m in tags] == [("file-model", "llama")]
        shown = (await client.post("/api/show", json={"model": "file-model"})).json()
        assert shown["template"] == "{{ messages }}"
    with pytest.raises(BackendError, match="same file"):
        build_app([f"llamacpp:{path}", "llamacpp"], store=ModelStore(tmp_path / "store"))


def test_loopback_hosts():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
