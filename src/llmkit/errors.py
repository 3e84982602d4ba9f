"""Every exception llmkit raises, in one tree.

::

    LLMKitError
    ├── InvalidRequestError          bad input: names the field (``options.temperature``)
    │   ├── UnsupportedOptionError   an option the chosen backend cannot honour
    │   └── UnsupportedFeatureError  a request field the chosen backend cannot honour
    ├── BackendError                 a backend could not be chosen, loaded or run
    │   ├── BackendNotFoundError     no backend answers to that name or URL scheme
    │   │   └── BackendNotInstalledError  a known backend whose plug-in is missing
    │   ├── ModelNotFoundError       no such model file or registry name (names the path)
    │   ├── ModelLoadError           the runtime could not load the model
    │   └── GenerationError          the runtime failed while generating
    ├── StreamError                  a stream could not be read to its end
    │   └── StreamInterruptedError   cut off mid-way; ``.partial`` holds what arrived
    └── ModelStoreError              the local model store could not pull or remove a model

Lower-level errors (pydantic's ``ValidationError``, a runtime's ``ValueError``,
``OSError``) are translated at the boundary where llmkit meets them and chained
(``raise ... from exc``), so ``__cause__`` shows the original.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

    from llmkit.types.responses import ChatResponse, GenerateResponse

__all__ = [
    "BackendError",
    "BackendNotFoundError",
    "BackendNotInstalledError",
    "GenerationError",
    "InvalidRequestError",
    "LLMKitError",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelStoreError",
    "StreamError",
    "StreamInterruptedError",
    "UnsupportedFeatureError",
    "UnsupportedOptionError",
]


class LLMKitError(Exception):
    """The base of every llmkit error."""


class InvalidRequestError(LLMKitError, ValueError):
    """A request, message, tool or option is invalid.

    ``fields`` lists the dotted paths of the offending fields, e.g.
    ``["options.temperature"]``; ``errors`` holds pydantic's error dicts.
    """

    def __init__(
        self,
        message: str,
        *,
        fields: list[str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.fields = fields or []
        self.errors = errors or []

    @classmethod
    def from_validation_error(
        cls, exc: ValidationError, *, prefix: str = ""
    ) -> InvalidRequestError:
        """Turn pydantic's error into one that names each field and what is wrong with it."""
        fields: list[str] = []
        lines: list[str] = []
        for error in exc.errors():
            path = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
            fields.append(path)
            if error["type"] == "extra_forbidden":
                lines.append(f"{path}: unknown field")
            else:
                lines.append(f"{path}: {error['msg']} (got {error.get('input')!r})")
        noun = "error" if len(lines) == 1 else "errors"
        title = f"invalid {exc.title}: {len(lines)} {noun}"
        return cls(
            title + "\n  " + "\n  ".join(lines),
            fields=fields,
            errors=[dict(e) for e in exc.errors()],
        )


class UnsupportedOptionError(InvalidRequestError):
    """The chosen backend cannot honour an option; ``option`` names it."""

    def __init__(self, option: str, backend: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"option {option!r} is not supported by the {backend} backend{detail}",
            fields=[f"options.{option}"],
        )
        self.option = option
        self.backend = backend


class UnsupportedFeatureError(InvalidRequestError):
    """The chosen backend cannot honour a request field (``think``, ``images``, ...).

    ``field`` names it as a dotted path (``messages.0.images``).
    """

    def __init__(self, field: str, backend: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"{field!r} is not supported by the {backend} backend{detail}", fields=[field]
        )
        self.field = field
        self.backend = backend


class BackendError(LLMKitError):
    """A backend could not be chosen, loaded or run."""


class BackendNotFoundError(BackendError, LookupError):
    """No backend answers to the given name or URL scheme."""


class BackendNotInstalledError(BackendNotFoundError):
    """A backend llmkit knows of, whose plug-in package is not installed."""

    def __init__(self, name: str, package: str) -> None:
        super().__init__(
            f"the {name!r} backend needs the package {package!r}, which is not installed; "
            f"install it with: pip install {package}"
        )
        self.name = name
        self.package = package


class ModelNotFoundError(BackendError, FileNotFoundError):
    """No model file at the given path, or no such name in the model registry."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ModelLoadError(BackendError):
    """The runtime could not load the model."""


class GenerationError(BackendError):
    """The runtime failed while generating."""


class StreamError(LLMKitError):
    """A stream could not be read to its end."""


class StreamInterruptedError(StreamError):
    """A stream was cut off mid-way; ``partial`` is the response accumulated so far."""

    def __init__(self, message: str, *, partial: ChatResponse | GenerateResponse | None) -> None:
        super().__init__(message)
        self.partial = partial


class ModelStoreError(LLMKitError):
    """The local model store could not pull, verify or remove a model."""
