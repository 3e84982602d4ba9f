"""What models a server offers, and under which names (reads the model store).

A :class:`ModelCatalog` answers ``/api/tags``, ``/v1/models`` and ``/api/show``,
and turns the model name a client sends into a :class:`ServedModel`: the name
to echo back and the name to hand the backend (``upstream``).

- :class:`StoreCatalog` (the in-process llama.cpp backend): the models in the
  local :class:`~llmkit.models.store.ModelStore`, by store name or registry alias;
  ``/api/pull`` adds to it.
- :class:`FixedCatalog` (any other backend, such as HTTP upstreams): the names
  the server was configured with.

Names are compared as Ollama compares them: case-insensitively, and without a
``:latest`` tag.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from llmkit.errors import GGUFError, ModelNotFoundError
from llmkit.gguf import read_gguf_metadata
from llmkit.models.registry import lookup
from llmkit.models.store import ModelStore, StoredModel

__all__ = [
    "FixedCatalog",
    "ModelCatalog",
    "RunningModels",
    "ServedModel",
    "StoreCatalog",
    "gguf_facts",
    "gguf_model",
    "gguf_vocab_size",
    "model_details",
    "normalize_model_name",
    "quantization_name",
    "show_model",
]

logger = logging.getLogger("llmkit.serve")

_EPOCH = "1970-01-01T00:00:00Z"

#: ``general.file_type`` values (llama.cpp's ``llama_ftype``) and their names.
_FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    32: "BF16",
}


def quantization_name(file_type: object) -> str:
    """``Q4_1`` for ``general.file_type`` 3; ``""`` when unknown."""
    return _FILE_TYPES.get(file_type, "") if isinstance(file_type, int) else ""


def gguf_facts(path: Path) -> dict[str, Any]:
    """A GGUF file's metadata keys for ``/api/show``: arrays as ``None``, as Ollama shows them.

    Arrays are stepped over, not read (the vocabulary is most of the metadata), so
    this costs milliseconds; a file that cannot be read gives ``{}`` and a warning.
    """
    try:
        metadata = read_gguf_metadata(path, read_arrays=False, string_errors="replace")
    except (GGUFError, ModelNotFoundError) as exc:
        logger.warning("could not read a model's metadata: %s", exc)  # exc names the file
        return {}
    return {key: metadata.kv.get(key) for key in metadata.types}


def gguf_vocab_size(path: Path) -> int | None:
    """How many tokens a GGUF model's vocabulary has (``None`` when the file does not say)."""
    try:
        metadata = read_gguf_metadata(path, read_arrays=False, string_errors="replace")
    except (GGUFError, ModelNotFoundError):
        return None
    count = metadata.array_lengths.get("tokenizer.ggml.tokens")
    if isinstance(count, int) and count > 0:
        return count
    declared = metadata.kv.get(f"{metadata.architecture}.vocab_size")
    return declared if isinstance(declared, int) and declared > 0 else None


def normalize_model_name(name: str) -> str:
    """``"SmolLM2:latest"`` → ``"smollm2"``: how two model names are compared."""
    text = name.strip().lower()
    return text.removesuffix(":latest")


@dataclass(frozen=True)
class ServedModel:
    """A model the server offers: its name, what the backend is asked for, and facts."""

    name: str
    upstream: str | None
    """The ``model`` given to the backend; ``None`` lets the backend use its own."""
    size: int = 0
    digest: str = ""
    modified_at: str = _EPOCH
    path: Path | None = None
    """The GGUF file, when the model is one (its metadata feeds ``/api/show``)."""
    description: str = ""
    capabilities: tuple[str, ...] = ("completion",)
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)
    vocab_size: int | None = None
    """The model's vocabulary, when known: token ids in ``context`` must be below it."""


class ModelCatalog(Protocol):
    """The models a server offers."""

    @property
    def store(self) -> ModelStore | None:
        """The store ``/api/pull`` pulls into, or ``None`` when models are fixed."""
        ...

    def models(self) -> list[ServedModel]:
        """Every model offered, by name."""
        ...

    def find(self, name: str) -> ServedModel | None:
        """The model a client means by ``name``, if it is offered."""
        ...


class FixedCatalog:
    """A fixed list of models (the names a server was started with)."""

    def __init__(self, models: list[ServedModel]) -> None:
        self._models = list(models)

    @classmethod
    def of_names(cls, names: list[str]) -> FixedCatalog:
        """Each name offered as itself, passed on to the backend unchanged."""
        return cls([ServedModel(name=name, upstream=name) for name in names])

    @property
    def store(self) -> ModelStore | None:
        return None

    def models(self) -> list[ServedModel]:
        return list(self._models)

    def find(self, name: str) -> ServedModel | None:
        wanted = normalize_model_name(name)
        for model in self._models:
            if normalize_model_name(model.name) == wanted:
                return model
        return None


class StoreCatalog:
    """The models in a local model store (registry aliases find them too)."""

    def __init__(self, store: ModelStore | None = None) -> None:
        self._store = store or ModelStore()
        self._metadata: dict[tuple[str, float], tuple[dict[str, Any], int | None]] = {}

    @property
    def store(self) -> ModelStore:
        return self._store

    def models(self) -> list[ServedModel]:
        return [self._served(model) for model in self._store.list()]

    def find(self, name: str) -> ServedModel | None:
        wanted = normalize_model_name(name)
        if not wanted:
            return None
        entry = lookup(wanted)
        stored = self._store.get(entry.name if entry else wanted)
        return self._served(stored) if stored is not None else None

    def _served(self, stored: StoredModel) -> ServedModel:
        entry = lookup(stored.name)
        metadata, vocab_size = self._gguf(stored.path)
        return ServedModel(
            name=stored.name,
            upstream=stored.name,
            size=stored.size,
            digest=stored.sha256,
            modified_at=_rfc3339(stored.pulled_at),
            path=stored.path,
            description=entry.description if entry else stored.source,
            capabilities=("completion", "embedding"),
            metadata=metadata,
            vocab_size=vocab_size,
        )

    def _gguf(self, path: Path) -> tuple[dict[str, Any], int | None]:
        try:
            key = (str(path), path.stat().st_mtime)
        except OSError:
            return {}, None
        if key not in self._metadata:
            self._metadata[key] = (gguf_facts(path), gguf_vocab_size(path))
        return self._metadata[key]


def gguf_model(name: str, path: Path) -> ServedModel:
    """A model served straight from a GGUF file (not from the store)."""
    metadata = gguf_facts(path)
    stat = path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()
    return ServedModel(
        name=name,
        upstream=None,
        size=stat.st_size,
        modified_at=_rfc3339(modified),
        path=path,
        description=str(path),
        capabilities=("completion", "embedding"),
        metadata=metadata,
        vocab_size=gguf_vocab_size(path),
    )


def _rfc3339(stamp: str) -> str:
    return stamp.replace("+00:00", "Z")


def model_details(model: ServedModel) -> dict[str, Any]:
    """Ollama's ``details`` object for a model (empty strings where nothing is known)."""
    meta = model.metadata
    family = str(meta.get("general.architecture") or "")
    return {
        "parent_model": "",
        "format": "gguf" if model.path is not None else "",
        "family": family,
        "families": [family] if family else None,
        "parameter_size": str(meta.get("general.size_label") or ""),
        "quantization_level": quantization_name(meta.get("general.file_type")),
    }


def show_model(model: ServedModel) -> dict[str, Any]:
    """Ollama's ``/api/show`` answer for a model."""
    meta = dict(model.metadata)
    template = meta.pop("tokenizer.chat_template", None)
    body: dict[str, Any] = {
        "modelfile": f"# served by llmkit\nFROM {model.path or model.name}\n",
        "parameters": "",
        "template": template if isinstance(template, str) else "",
        "details": model_details(model),
        "model_info": meta,
        "capabilities": list(model.capabilities),
        "modified_at": model.modified_at,
    }
    license_name = meta.get("general.license")
    if isinstance(license_name, str):
        body["license"] = license_name
    return body


class RunningModels:
    """The models this server has used lately, for ``/api/ps`` (pure: the clock is passed in).

    A model counts as running from its last request until that request's
    ``keep_alive`` (default five minutes, negative: forever) runs out; a request
    with ``keep_alive`` 0 removes it at once, as Ollama unloads it.  An expiry past
    :attr:`LATEST` (year 9999, the last a timestamp can show) counts as forever.
    """

    DEFAULT_KEEP_ALIVE = 300.0
    LATEST = 253_402_300_799.0

    def __init__(self) -> None:
        self._until: dict[str, tuple[ServedModel, float | None]] = {}

    def touch(self, model: ServedModel, keep_alive: float | None, now: float) -> None:
        """Note a request for ``model``; ``keep_alive`` in seconds, ``None`` for forever."""
        if keep_alive is not None and keep_alive <= 0:
            self._until.pop(model.name, None)
            return
        until = None if keep_alive is None else now + keep_alive
        if until is not None and not until < self.LATEST:  # also NaN
            until = None
        self._until[model.name] = (model, until)

    def running(self, now: float) -> list[tuple[ServedModel, float | None]]:
        """``(model, expires_at)`` for each model still running, by name."""
        for name, (_, until) in list(self._until.items()):
            if until is not None and until <= now:
                del self._until[name]
        return [self._until[name] for name in sorted(self._until)]
