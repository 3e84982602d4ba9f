"""Model management responses of the Ollama API (``/api/tags``, ``/api/show``, ...).

Servers add fields over time, so these models keep unknown keys (``extra``)
instead of rejecting them; the fields named here are the ones Ollama documents.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ListResponse",
    "ModelDetails",
    "ModelEntry",
    "ProcessResponse",
    "ProgressResponse",
    "RunningModel",
    "ShowResponse",
    "VersionResponse",
]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class ModelDetails(_Answer):
    """A model's format, family and size class."""

    parent_model: str | None = None
    format: str | None = None
    family: str | None = None
    families: list[str] | None = None
    parameter_size: str | None = None
    quantization_level: str | None = None


class ModelEntry(_Answer):
    """One model a server has (an entry of ``/api/tags``)."""

    name: str
    model: str | None = None
    modified_at: str | None = None
    size: int | None = None
    digest: str | None = None
    details: ModelDetails | None = None


class ListResponse(_Answer):
    """``/api/tags``: the models a server has."""

    models: list[ModelEntry] = Field(default_factory=list)


class RunningModel(ModelEntry):
    """One model loaded in memory (an entry of ``/api/ps``)."""

    expires_at: str | None = None
    size_vram: int | None = None
    context_length: int | None = None


class ProcessResponse(_Answer):
    """``/api/ps``: the models loaded now."""

    models: list[RunningModel] = Field(default_factory=list)


class ShowResponse(_Answer):
    """``/api/show``: a model's Modelfile, template, parameters and facts."""

    license: str | None = None
    modelfile: str | None = None
    parameters: str | None = None
    template: str | None = None
    system: str | None = None
    details: ModelDetails | None = None
    messages: list[dict[str, Any]] | None = None
    model_info: dict[str, Any] | None = None
    capabilities: list[str] | None = None
    modified_at: str | None = None


class ProgressResponse(_Answer):
    """A progress line of ``/api/pull``, ``/api/push`` or ``/api/create``."""

    status: str = ""
    digest: str | None = None
    total: int | None = None
    completed: int | None = None


class VersionResponse(_Answer):
    """``/api/version``."""

    version: str
