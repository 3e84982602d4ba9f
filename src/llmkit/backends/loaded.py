"""Models an in-process backend keeps loaded between requests (threads, no other I/O).

Every in-process plug-in (llama.cpp, ctransformers) holds a few loaded models, keyed by
file and load options, evicts the least recently used one when it needs room, reports a
model's load time in the first response that used it only, and unloads a model after a
request with ``keep_alive`` 0. :class:`LoadedModels` and :class:`LoadedModel` are that
bookkeeping, written once; a plug-in subclasses :class:`LoadedModel` with what it learns
about its model and says how to check, load and free one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

from llmkit.backends.base import ExclusiveModelLock

__all__ = ["LoadedModel", "LoadedModels", "unload_after_request"]

C = TypeVar("C")
M = TypeVar("M", bound="LoadedModel")


class LoadedModel:
    """One loaded model: its file, how long loading took, and the lock that gives one
    stream at a time the use of it."""

    def __init__(self, path: Path, load_ns: int) -> None:
        self.path = path
        self.load_ns = load_ns
        self.lock = ExclusiveModelLock(f"the model {path.name}")
        self._load_reported = False

    def take_load_ns(self) -> int:
        """The load time the first time it is asked for, then 0 (as Ollama reports
        ``load_duration`` only in the response that loaded the model)."""
        if self._load_reported:
            return 0
        self._load_reported = True
        return self.load_ns


class LoadedModels(Generic[M]):
    """A backend's loaded models, least recently used first, at most ``limit`` of them.

    ``free(model)`` unloads one; it is called with this object's lock held, and should
    wait (through ``model.lock``) for a stream that still uses the model.
    """

    def __init__(self, free: Callable[[M], None], *, limit: int = 2) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._free = free
        self._limit = limit
        self._models: OrderedDict[Hashable, M] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, check: Callable[[], C], load: Callable[[C], M]) -> M:
        """The model loaded under ``key``; if there is none, ``check()`` (which raises for
        a file that cannot be loaded, before anything is evicted), then room is made and
        ``load(what_check_returned)`` loads it. Loading happens under the lock, so two
        threads asking for the same model load it once."""
        with self._lock:
            found = self._models.get(key)
            if found is not None:
                self._models.move_to_end(key)
                return found
            checked = check()
            while len(self._models) >= self._limit:
                _, old = self._models.popitem(last=False)
                self._free(old)
            model = load(checked)
            self._models[key] = model
            return model

    def unload(self, model: M) -> None:
        """Forget ``model`` and free it."""
        with self._lock:
            for key, value in list(self._models.items()):
                if value is model:
                    del self._models[key]
            self._free(model)

    def clear(self) -> None:
        """Free every model."""
        with self._lock:
            for model in self._models.values():
                self._free(model)
            self._models.clear()

    def values(self) -> list[M]:
        """The loaded models, least recently used first."""
        with self._lock:
            return list(self._models.values())

    def __len__(self) -> int:
        return len(self._models)


def unload_after_request(keep_alive: str | float | None) -> bool:
    """Whether ``keep_alive`` asks to unload the model once the request is done (``0`` in
    any unit); any other value keeps it until the backend is closed."""
    return keep_alive is not None and str(keep_alive).strip() in {"0", "0.0", "0s", "0m", "0h"}
