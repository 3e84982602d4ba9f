"""Finding backends: by instance, by name, or by a URL-like string.

Backends are plug-ins registered under the entry-point group
``llmkit.backends``; llmkit's own (``mock``, and ``llamacpp`` from the
``llmkit-llamacpp`` package) register through that same group, exactly as a
third-party backend would.  Entry points are read lazily, the first time a
backend is looked up, and only the one asked for is imported.

Backend strings (``scheme`` is an entry-point name):

=================================  ==============================================
``None``                           the default: ``llamacpp`` with the ``smollm2`` model
``"llamacpp"``                     the llama.cpp plug-in, default model
``"llamacpp:smollm2"``             a model from the local model store, by name
``"llamacpp:/path/to/model.gguf"`` a model file (``~`` is expanded)
``"/path/to/model.gguf"``          the same: a ``.gguf`` path picks ``llamacpp``
``"mock"`` / ``"mock:echo"``       the scripted backend shipped for tests and docs
``"ollama://host:port"``           an Ollama server (``"ollama"``: ``$OLLAMA_HOST`` or local)
``"openai://host:port/v1"``        an OpenAI-compatible server (``https://`` URLs work too)
=================================  ==============================================

Everything after the first ``:`` (and after ``//`` for URL forms) is the
backend's *target*, handed to the plug-in's ``from_target(target, **kwargs)``.
"""

from __future__ import annotations

import functools
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, cast

from llmkit.backends.base import (
    AsyncBackend,
    Backend,
    ExclusiveModelLock,
    ThreadedAsyncBackend,
    caller_cancelled,
)
from llmkit.errors import BackendError, BackendNotFoundError, BackendNotInstalledError

__all__ = [
    "DEFAULT_BACKEND",
    "ENTRY_POINT_GROUP",
    "KNOWN_PLUGINS",
    "AsyncBackend",
    "AsyncBackendSpec",
    "Backend",
    "BackendPlugin",
    "BackendSpec",
    "ExclusiveModelLock",
    "ThreadedAsyncBackend",
    "available_backends",
    "caller_cancelled",
    "load_plugin",
    "parse_backend_spec",
    "resolve_async_backend",
    "resolve_backend",
]

ENTRY_POINT_GROUP = "llmkit.backends"

#: What ``Client(backend=...)`` takes: an instance, a backend string, or ``None``.
BackendSpec = Backend | str | None
#: What ``AsyncClient(backend=...)`` takes: a sync backend is driven through threads.
AsyncBackendSpec = Backend | AsyncBackend | str | list[Backend | AsyncBackend | str] | None
DEFAULT_BACKEND = "llamacpp"

#: Backends llmkit knows by name, and the distribution that provides each.
KNOWN_PLUGINS: dict[str, str] = {
    "llamacpp": "llmkit-llamacpp",
    "ctransformers": "llmkit-ctransformers",
}


class BackendPlugin(Protocol):
    """What an entry point in ``llmkit.backends`` must load: a backend factory.

    A plug-in may also offer ``from_target_async(target, **kwargs)``, returning
    an :class:`AsyncBackend`; ``AsyncClient`` then uses it instead of driving
    the synchronous backend through threads (the HTTP backends do this).
    """

    def from_target(self, target: str, /, **kwargs: Any) -> Backend | AsyncBackend: ...


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_backends() -> list[str]:
    """The names of the installed backend plug-ins, sorted."""
    return sorted(_entry_points())


def parse_backend_spec(spec: str) -> tuple[str, str]:
    """Split a backend string into ``(scheme, target)``.

    >>> parse_backend_spec("llamacpp:models/a.gguf")
    ('llamacpp', 'models/a.gguf')
    >>> parse_backend_spec("ollama://localhost:11434")
    ('ollama', 'localhost:11434')
    >>> parse_backend_spec("/models/a.gguf")
    ('llamacpp', '/models/a.gguf')
    """
    text = spec.strip()
    if not text:
        raise BackendNotFoundError("empty backend string")
    if text.lower().endswith(".gguf") and not _has_scheme(text):
        return DEFAULT_BACKEND, text
    scheme, sep, target = text.partition(":")
    if not sep:
        return scheme, ""
    return scheme, target.removeprefix("//")


def _has_scheme(text: str) -> bool:
    scheme, sep, _ = text.partition(":")
    # "C:\\x.gguf" has a one-letter drive, not a scheme.
    return bool(sep) and len(scheme) > 1 and scheme.replace("-", "").replace("_", "").isalnum()


def load_plugin(name: str) -> BackendPlugin:
    """Import the plug-in registered as ``name``; say which package to install if it is missing."""
    entry = _entry_points().get(name)
    if entry is None:
        if name in KNOWN_PLUGINS:
            raise BackendNotInstalledError(name, KNOWN_PLUGINS[name])
        installed = ", ".join(available_backends()) or "none"
        raise BackendNotFoundError(
            f"no backend named {name!r} (installed backends: {installed}); "
            f"a plug-in registers one in the {ENTRY_POINT_GROUP!r} entry-point group"
        )
    try:
        plugin = entry.load()
    except ImportError as exc:
        package = KNOWN_PLUGINS.get(name, entry.value.split(":")[0])
        raise BackendError(
            f"the {name!r} backend plug-in is installed but failed to import: {exc}; "
            f"reinstalling {package} may help"
        ) from exc
    return cast(BackendPlugin, plugin)


def _create(
    spec: str | None, kwargs: dict[str, Any], *, asynchronous: bool = False
) -> Backend | AsyncBackend:
    scheme, target = parse_backend_spec(spec or DEFAULT_BACKEND)
    plugin = load_plugin(scheme)
    make_async = getattr(plugin, "from_target_async", None) if asynchronous else None
    if make_async is not None:
        return cast(AsyncBackend, make_async(target, **kwargs))
    return plugin.from_target(target, **kwargs)


def resolve_backend(spec: BackendSpec, **kwargs: Any) -> Backend:
    """A synchronous backend from an instance or a backend string."""
    backend = _create(spec, kwargs) if spec is None or isinstance(spec, str) else spec
    if isinstance(backend, Backend) and not isinstance(backend, ThreadedAsyncBackend):
        return backend
    raise BackendError(
        f"{type(backend).__name__} is an asynchronous backend; use llmkit.AsyncClient with it"
    )


def resolve_async_backend(spec: AsyncBackendSpec, **kwargs: Any) -> AsyncBackend:
    """An asynchronous backend; a synchronous one is driven through worker threads.

    A list of backends (strings or instances) is a :class:`~llmkit.backends.router.Router`
    over them: requests spread by load, and one that fails before its first event moves to
    the next upstream (failover).
    """
    if isinstance(spec, list):
        from llmkit.backends.router import Router

        return Router([resolve_async_backend(item, **kwargs) for item in spec])
    backend: object = (
        _create(spec, kwargs, asynchronous=True) if spec is None or isinstance(spec, str) else spec
    )
    if isinstance(backend, AsyncBackend):
        return backend
    if isinstance(backend, Backend):
        return ThreadedAsyncBackend(backend)
    raise BackendError(f"{type(backend).__name__} does not implement the backend protocol")
