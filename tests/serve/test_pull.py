"""``/api/pull`` into a real model store, from a package that carries the model file."""

from __future__ import annotations

import hashlib
import json

import ollama
import pytest
from serve_helpers import asgi_client, write_gguf

import llmkit.models.store as store_module
import llmkit.serve.catalog as catalog_module
import llmkit.serve.ollama_routes as routes_module
from llmkit.backends.mock import MockBackend
from llmkit.models.registry import RegistryModel
from llmkit.models.store import ModelStore
from llmkit.serve import StoreCatalog, create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def tiny_registry(tmp_path, monkeypatch):
    """A registry with one small model whose package is installed (on sys.path)."""
    package = tmp_path / "site" / "tiny_model_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    path = write_gguf(package / "tiny.gguf")
    with path.open("ab") as file:
        file.write(b"\0" * (3 * 1024 * 1024))  # three store chunks: three progress lines
    data = path.read_bytes()
    entry = RegistryModel(
        name="tiny",
        description="a tiny test model",
        license="MIT",
        filename="tiny.gguf",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        package="tiny-model-pkg",
        module="tiny_model_pkg",
        wheel_url="https://invalid.example/never-downloaded.whl",
        wheel_sha256="0" * 64,
        wheel_size=1,
        member="tiny_model_pkg/tiny.gguf",
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    def lookup(name: str):
        return entry if name.strip().lower() in ("tiny", "tiny:latest") else None

    for module in (store_module, catalog_module, routes_module):
        monkeypatch.setattr(module, "lookup", lookup)
    return entry


@pytest.fixture
def store_app(tmp_path, tiny_registry):
    store = ModelStore(tmp_path / "store")
    return create_app(MockBackend(), models=StoreCatalog(store)), store


async def test_a_streamed_pull_reports_progress_then_serves_the_model(store_app, tiny_registry):
    app, store = store_app
    async with asgi_client(app) as client:
        assert (await client.get("/api/tags")).json() == {"models": []}
        missing = await client.post("/api/chat", json={"model": "tiny", "messages": []})
        assert missing.status_code == 404
        assert missing.json() == {"error": "model 'tiny' not found, try pulling it first"}
        response = await client.post("/api/pull", json={"model": "tiny"})
        lines = [json.loads(line) for line in response.text.splitlines()]
    assert response.headers["content-type"] == "application/x-ndjson"
    assert lines[0] == {"status": "pulling manifest"}
    progress = [line for line in lines if "completed" in line]
    assert len(progress) >= 3
    assert all(line["digest"] == f"sha256:{tiny_registry.sha256}" for line in progress)
    assert progress[-1]["completed"] == progress[-1]["total"] == tiny_registry.size
    completed = [line["completed"] for line in progress]
    assert completed == sorted(completed)
    assert [line["status"] for line in lines[-3:]] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    assert store.get("tiny") is not None
    async with asgi_client(app) as client:
        tags = (await client.get("/api/tags")).json()["models"]
        assert [(m["name"], m["digest"]) for m in tags] == [("tiny", tiny_registry.sha256)]
        assert tags[0]["details"]["family"] == "llama"
        reply = await client.post(
            "/api/chat",
            json={
                "model": "tiny",
                "stream": False,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
        assert reply.json()["message"]["content"] == "hi"


async def test_a_whole_pull_and_the_official_client(store_app):
    import httpx

    app, store = store_app
    client = ollama.AsyncClient(host="http://t", transport=httpx.ASGITransport(app=app))
    assert (await client.pull("tiny:latest")).status == "success"
    assert store.get("tiny") is not None
    statuses = [part.status async for part in await client.pull("tiny", stream=True)]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"


async def test_pulling_an_unknown_model_is_a_404(store_app):
    app, _ = store_app
    async with asgi_client(app) as client:
        response = await client.post("/api/pull", json={"model": "llama3"})
    assert response.status_code == 404 and "not found" in response.json()["error"]


async def test_a_pull_that_fails_its_check_ends_in_an_error_line(store_app, monkeypatch):
    app, store = store_app
    broken = routes_module.lookup("tiny")
    monkeypatch.setattr(
        store_module,
        "lookup",
        lambda name: broken.__class__(**{**broken.__dict__, "sha256": "f" * 64}),
    )
    async with asgi_client(app) as client:
        response = await client.post("/api/pull", json={"model": "tiny"})
        whole = await client.post("/api/pull", json={"model": "tiny", "stream": False})
    last = json.loads(response.text.splitlines()[-1])
    assert "expected ffff" in last["error"]
    assert whole.status_code == 500 and "expected ffff" in whole.json()["error"]
    assert store.get("tiny") is None
    assert not list((store.root / "tiny").glob("*.part"))
