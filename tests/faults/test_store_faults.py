"""The model store against tampered and malformed manifests, through the real ``llmkit`` command.

Whatever ``manifest.json`` says, ``llmkit rm`` deletes only the store's own folder for that
name, and nothing the store does reads, resolves to or deletes a path outside the store.  A
manifest that is malformed is reported naming the file and the problem; ``llmkit list``
still lists the good models beside it, and nothing ends in a traceback.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmkit.errors import ModelNotFoundError, ModelStoreError
from llmkit.models import BrokenModel, ModelStore, RegistryModel, StoredModel
from llmkit.models import store as store_module

GOOD = {"size": 2, "sha256": "ab" * 32, "source": "test", "pulled_at": "2026-01-01T00:00:00"}


def llmkit(store: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m llmkit ARGS`` on the store at ``store``; never waits past ``timeout``."""
    env = {**os.environ, "LLMKIT_MODELS": str(store), "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "llmkit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def model(store: Path, name: str, manifest: object | None = None, *, file: str = "m.gguf") -> Path:
    """A model folder; ``manifest`` as given (text is written as is), else a good one."""
    folder = store / name
    folder.mkdir(parents=True)
    (folder / "m.gguf").write_bytes(b"GG")
    if manifest is None:
        manifest = {"name": name, "file": file, **GOOD}
    text = manifest if isinstance(manifest, str | bytes) else json.dumps(manifest)
    target = folder / "manifest.json"
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text)
    return folder


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A folder outside the store that must survive everything."""
    folder = tmp_path / "victim"
    (folder / "deep").mkdir(parents=True)
    (folder / "important").write_text("keep me")
    (folder / "deep" / "also").write_text("keep me too")
    return folder


def intact(victim: Path) -> bool:
    return (victim / "important").read_text() == "keep me" and (
        victim / "deep" / "also"
    ).read_text() == "keep me too"


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


# -- rm never deletes outside the store ---------------------------------------------------------


@pytest.mark.parametrize(
    "file",
    [
        "{victim}",
        "{victim}/important",
        "../../victim",
        "../../victim/important",
        "../../victim/deep/../important",
        "/",
        "..",
        ".",
        "",
    ],
)
def test_rm_with_a_tampered_file_deletes_only_the_models_folder(tmp_path, victim, file):
    store = tmp_path / "store"
    folder = model(store, "evil", {"name": "evil", "file": file.format(victim=victim), **GOOD})
    model(store, "good")
    result = llmkit(store, "rm", "evil")
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "removed evil" in result.stdout
    assert f"warning: {folder / 'manifest.json'}" in result.stderr  # names the manifest
    assert not folder.exists()
    assert intact(victim)
    assert (store / "good" / "m.gguf").exists()


def test_rm_with_a_tampered_name_deletes_only_the_models_folder(tmp_path, victim):
    store = tmp_path / "store"
    folder = model(store, "evil", {"name": "../victim", "file": "m.gguf", **GOOD})
    result = llmkit(store, "rm", "evil")
    assert result.returncode == 0 and not folder.exists() and intact(victim)
    assert "'name' is '../victim' but the model's folder is 'evil'" in result.stderr


@pytest.mark.parametrize("name", ["../victim", "..", ".", "/", "a/b", "evil/../../victim"])
def test_rm_of_a_name_that_is_a_path_is_refused(tmp_path, victim, name):
    store = tmp_path / "store"
    model(store, "good")
    result = llmkit(store, "rm", name)
    no_traceback(result)
    assert result.returncode == 1 and "is not in the store" in result.stderr
    assert intact(victim) and (store / "good").exists()


def test_a_model_file_linked_out_of_the_store_is_never_followed(tmp_path, victim):
    store = tmp_path / "store"
    folder = model(store, "linked", {"name": "linked", "file": "model.gguf", **GOOD})
    (folder / "model.gguf").symlink_to(victim / "important")
    found = ModelStore(store).inspect("linked")
    assert isinstance(found, BrokenModel) and "outside the model's folder" in found.problem
    assert ModelStore(store).get("linked") is None
    result = llmkit(store, "rm", "linked")
    assert result.returncode == 0 and not folder.exists() and intact(victim)


def test_a_model_folder_that_is_a_link_out_of_the_store_is_listed_broken_and_not_removed(
    tmp_path, victim
):
    store = tmp_path / "store"
    model(store, "good")
    (victim / "m.gguf").write_bytes(b"GG")
    (victim / "manifest.json").write_text(json.dumps({"name": "elsewhere", "file": "m.gguf"}))
    (store / "elsewhere").symlink_to(victim)
    listed = llmkit(store, "list")
    no_traceback(listed)
    assert listed.returncode == 0
    assert "good" in listed.stdout and "BROKEN" in listed.stdout
    assert f"{store / 'elsewhere'} is a symbolic link" in listed.stderr
    removed = llmkit(store, "rm", "elsewhere")
    no_traceback(removed)
    assert removed.returncode == 1 and "not removed" in removed.stderr
    assert (store / "elsewhere").is_symlink() and intact(victim)
    with pytest.raises(ModelStoreError, match="symbolic link"):
        ModelStore(store).resolve("elsewhere")


def test_a_manifest_linked_out_of_the_store_is_never_read(tmp_path, victim):
    # the link's target is a FIFO: reading it would hang, so a prompt answer proves it is not read
    os.mkfifo(victim / "fifo")
    store = tmp_path / "store"
    folder = store / "peek"
    folder.mkdir(parents=True)
    (folder / "manifest.json").symlink_to(victim / "fifo")
    result = llmkit(store, "list", timeout=30)
    no_traceback(result)
    assert result.returncode == 0
    assert f"{folder / 'manifest.json'} is a symbolic link to {victim / 'fifo'}" in result.stderr
    assert llmkit(store, "rm", "peek", timeout=30).returncode == 0
    assert (victim / "fifo").exists() and intact(victim)


def test_a_manifest_that_is_a_fifo_does_not_hang(tmp_path):
    store = tmp_path / "store"
    (store / "pipe").mkdir(parents=True)
    os.mkfifo(store / "pipe" / "manifest.json")
    result = llmkit(store, "list", timeout=30)
    assert result.returncode == 0
    assert "manifest.json is a named pipe (FIFO), not a regular file" in result.stderr
    assert llmkit(store, "rm", "pipe", timeout=30).returncode == 0
    assert not (store / "pipe").exists()


# -- malformed manifests: a clear error, the good models still listed ---------------------------

MALFORMED = [
    pytest.param("{not json", "is not valid JSON", id="not-json"),
    pytest.param(b"\xff\xfe{}", "is not valid JSON", id="not-utf8"),
    pytest.param("", "is not valid JSON", id="empty"),
    pytest.param("[1, 2]", "must hold a JSON object, not list", id="a-list"),
    pytest.param('"text"', "must hold a JSON object, not str", id="a-string"),
    pytest.param("null", "must hold a JSON object, not NoneType", id="null"),
    pytest.param({}, "has no 'name'", id="no-keys"),
    pytest.param({"name": "broken"}, "has no 'file'", id="only-name"),
    pytest.param({"name": "broken", "file": "m.gguf"}, "has no 'size'", id="no-size"),
    pytest.param({"name": "broken", "file": 5, **GOOD}, "'file' must be a string", id="file-int"),
    pytest.param(
        {"name": "broken", "file": ["m.gguf"], **GOOD}, "'file' must be a string", id="file-list"
    ),
    pytest.param(
        {"name": "broken", "file": {"a": 1}, **GOOD}, "'file' must be a string", id="file-dict"
    ),
    pytest.param(
        {"name": "broken", "file": "m.gguf", **GOOD, "size": "big"},
        "'size' must be an integer, not str",
        id="size-str",
    ),
    pytest.param(
        {"name": "broken", "file": "m.gguf", **GOOD, "size": True},
        "'size' must be an integer, not bool",
        id="size-bool",
    ),
    pytest.param(
        {"name": "broken", "file": "m.gguf", **GOOD, "size": -1},
        "'size' must not be negative",
        id="size-negative",
    ),
    pytest.param(
        {"name": None, "file": "m.gguf", **GOOD}, "'name' must be a string", id="name-null"
    ),
    pytest.param({"name": "other", "file": "m.gguf", **GOOD}, "'name' is 'other'", id="name-other"),
    pytest.param(
        {"name": "broken", "file": "missing.gguf", **GOOD},
        "the model file",
        id="file-missing",
    ),
    pytest.param("[" * 30_000 + "]" * 30_000, "is not valid JSON", id="nested-30000"),
    pytest.param("[" * 100_000 + "]" * 100_000, "is larger than 64 KiB", id="huge"),
    pytest.param({"name": "broken", "file": "m.gguf\x00x", **GOOD}, "is not a file name", id="nul"),
]


@pytest.mark.parametrize(("manifest", "problem"), MALFORMED)
def test_a_malformed_manifest_is_named_and_the_good_models_are_still_listed(
    tmp_path, manifest, problem
):
    store = tmp_path / "store"
    model(store, "alpha")
    folder = model(store, "broken", manifest)
    model(store, "zulu")
    listed = llmkit(store, "list")
    no_traceback(listed)
    assert listed.returncode == 0
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    assert "yes" in rows["alpha"] and "yes" in rows["zulu"]
    assert "BROKEN" in rows["broken"]
    (message,) = [line for line in listed.stderr.splitlines() if line.startswith("broken:")]
    assert str(folder / "manifest.json") in message and problem in message

    api = ModelStore(store)
    assert [m.name for m in api.list()] == ["alpha", "zulu"]
    (broken,) = api.broken()
    assert broken.manifest == folder / "manifest.json" and problem in broken.problem
    assert api.get("broken") is None
    with pytest.raises(ModelStoreError, match=r"manifest\.json"):
        api.resolve("broken")

    removed = llmkit(store, "rm", "broken")
    no_traceback(removed)
    assert removed.returncode == 0 and "removed broken" in removed.stdout
    assert problem in removed.stderr and not folder.exists()
    assert (store / "alpha").exists() and (store / "zulu").exists()


def test_rm_of_a_good_model_and_of_a_missing_one(tmp_path):
    store = tmp_path / "store"
    folder = model(store, "fine")
    result = llmkit(store, "rm", "fine")
    assert result.returncode == 0 and result.stderr == "" and not folder.exists()
    again = llmkit(store, "rm", "fine")
    no_traceback(again)
    assert again.returncode == 1 and "error: model 'fine' is not in the store" in again.stderr
    with pytest.raises(ModelNotFoundError):
        ModelStore(store).remove("fine")


def test_a_store_root_that_is_a_file_lists_nothing(tmp_path):
    root = tmp_path / "store"
    root.write_text("not a folder")
    result = llmkit(root, "list")
    no_traceback(result)
    assert result.returncode == 0 and "smollm2" in result.stdout


def test_a_store_that_cannot_be_read_is_a_clear_error_even_for_root(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from llmkit._cli_app import app

    root = tmp_path / "store"
    root.mkdir()
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path) == root:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(root))
        return real(path)

    monkeypatch.setattr(store_module.os, "scandir", scandir)
    monkeypatch.setenv("LLMKIT_MODELS", str(root))
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    assert f"error: cannot read the model store {root}: Permission denied" in result.stderr


# -- pull never writes through a link out of the store ------------------------------------------

PAYLOAD = b"GGUF" + bytes(range(256)) * 16


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> RegistryModel:
    """A registry model pulled from an 'installed package' in tmp_path (no network)."""
    package = tmp_path / "site" / "tiny_store_faults_model"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tiny.gguf").write_bytes(PAYLOAD)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    entry = RegistryModel(
        name="tiny",
        description="test model",
        license="MIT",
        filename="tiny.gguf",
        size=len(PAYLOAD),
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        package="tiny-store-faults-model",
        module="tiny_store_faults_model",
        wheel_url="http://127.0.0.1:9/none.whl",
        wheel_sha256="0" * 64,
        wheel_size=1,
        member="tiny_store_faults_model/tiny.gguf",
    )
    monkeypatch.setattr(store_module, "lookup", lambda name: entry if name == entry.name else None)
    monkeypatch.setattr(store_module, "REGISTRY", (entry,))
    return entry


def test_pull_refuses_a_model_folder_linked_out_of_the_store(tmp_path, victim, tiny):
    store = tmp_path / "store"
    store.mkdir()
    (store / "tiny").symlink_to(victim)
    with pytest.raises(ModelStoreError, match="not a real folder in the store"):
        ModelStore(store).pull("tiny")
    assert sorted(p.name for p in victim.iterdir()) == ["deep", "important"] and intact(victim)


def test_pull_replaces_links_in_the_model_folder_and_never_writes_through_them(
    tmp_path, victim, tiny
):
    store = tmp_path / "store"
    folder = store / "tiny"
    folder.mkdir(parents=True)
    (folder / "manifest.json").symlink_to(victim / "important")
    (folder / "tiny.gguf").symlink_to(victim / "deep" / "also")
    assert isinstance(ModelStore(store).inspect("tiny"), BrokenModel)
    stored = ModelStore(store).pull("tiny")  # a broken model is pulled again
    assert isinstance(stored, StoredModel) and stored.path.read_bytes() == PAYLOAD
    assert not (folder / "manifest.json").is_symlink() and not (folder / "tiny.gguf").is_symlink()
    assert intact(victim)
    assert ModelStore(store).resolve("tiny") == folder / "tiny.gguf"


def test_a_broken_registry_model_is_pulled_again_by_resolve(tmp_path, tiny):
    store = tmp_path / "store"
    good = ModelStore(store).pull("tiny")
    (store / "tiny" / "manifest.json").write_text("[]")
    assert ModelStore(store).get("tiny") is None
    assert ModelStore(store).resolve("tiny") == good.path
    again = ModelStore(store).get("tiny")
    assert again is not None and again.sha256 == good.sha256
