from importlib.metadata import EntryPoint

import pytest

import llmkit
from llmkit import backends
from llmkit.backends import parse_backend_spec
from llmkit.errors import BackendError, BackendNotFoundError, BackendNotInstalledError


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("llamacpp", ("llamacpp", "")),
        ("llamacpp:smollm2", ("llamacpp", "smollm2")),
        ("llamacpp:/m/a.gguf", ("llamacpp", "/m/a.gguf")),
        ("/m/a.gguf", ("llamacpp", "/m/a.gguf")),
        ("models/a.GGUF", ("llamacpp", "models/a.GGUF")),
        ("mock:echo", ("mock", "echo")),
        ("ollama://localhost:11434", ("ollama", "localhost:11434")),
        ("openai://127.0.0.1:8000/v1", ("openai", "127.0.0.1:8000/v1")),
    ],
)
def test_parse_backend_spec(spec, expected):
    assert parse_backend_spec(spec) == expected


def test_builtin_and_plugin_register_through_the_same_group():
    group = {ep.name: ep.value for ep in backends._entry_points().values()}
    assert group["mock"] == "llmkit.backends.mock:MockBackend"
    assert group["llamacpp"] == "llmkit_llamacpp:LlamaCppBackend"


def test_missing_known_plugin_names_the_package(monkeypatch):
    monkeypatch.setattr(backends, "_entry_points", dict)
    with pytest.raises(BackendNotInstalledError, match="pip install llmkit-llamacpp"):
        llmkit.Client("llamacpp:model.gguf")


def test_unknown_backend_lists_the_installed_ones():
    with pytest.raises(BackendNotFoundError, match=r"installed backends: .*mock"):
        llmkit.Client("nosuch://x")


def test_broken_plugin_import_is_a_backend_error(monkeypatch):
    broken = EntryPoint("broken", "llmkit_no_such_module:Backend", backends.ENTRY_POINT_GROUP)
    monkeypatch.setattr(backends, "_entry_points", lambda: {"broken": broken})
    with pytest.raises(BackendError, match="failed to import"):
        llmkit.Client("broken")


def test_plugins_are_imported_lazily():
    import subprocess
    import sys

    code = (
        "import sys, llmkit; llmkit.Client('mock'); "
        "print('llama_cpp' in sys.modules, 'llmkit_llamacpp' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_async_backend_is_refused_by_the_sync_client():
    async_backend = backends.ThreadedAsyncBackend(llmkit.MockBackend())
    with pytest.raises(BackendError, match="AsyncClient"):
        llmkit.Client(async_backend)
