"""The local model store and the registry of models it can pull."""

from llmkit.models.registry import DEFAULT_MODEL, REGISTRY, RegistryModel, lookup
from llmkit.models.store import (
    BrokenModel,
    ModelStore,
    Progress,
    StoredModel,
    default_root,
)

__all__ = [
    "DEFAULT_MODEL",
    "REGISTRY",
    "BrokenModel",
    "ModelStore",
    "Progress",
    "RegistryModel",
    "StoredModel",
    "default_root",
    "lookup",
]
