"""Hatchling build hook: compile ``llmkit.tools._speedups`` (the tool-call scanners in C).

Runs for wheels and editable installs. The extension is optional: when it cannot be built
(no C compiler or Python headers) or ``LLMKIT_BUILD_PURE=1`` is set, the build goes on
and llmkit runs its pure Python scanners (see ``llmkit.tools.compiled``), with a warning
in the build output. ``LLMKIT_BUILD_STRICT=1`` makes a failed compile fail the build
instead (CI sets it, so that a broken extension cannot pass unnoticed).

The compiler is driven by setuptools' ``build_ext``, which knows each platform's
compiler and flags; an editable install puts the module next to its source in
``src/llmkit/tools``, a wheel carries it.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "llmkit.tools._speedups"
SOURCE = Path("src/llmkit/tools/_speedups.c")


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _compile(source: Path, out_dir: Path) -> Path:
    """Build the extension into ``out_dir``; returns the file built."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    extension = Extension(MODULE, [str(source)], optional=False)
    command = build_ext(Distribution({"name": "llmkit-speedups", "ext_modules": [extension]}))
    command.build_lib = str(out_dir / "lib")
    command.build_temp = str(out_dir / "temp")
    command.ensure_finalized()
    command.run()
    return Path(command.get_ext_fullpath(MODULE))


class SpeedupsBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        name = "_speedups" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
        # An editable install runs from src/: it must not keep an old build of the module.
        in_tree = root / SOURCE.parent / name if version == "editable" else None
        if _flag("LLMKIT_BUILD_PURE"):
            if in_tree is not None:
                in_tree.unlink(missing_ok=True)
            return
        with tempfile.TemporaryDirectory(prefix="llmkit-speedups-") as scratch:
            try:
                built = _compile(root / SOURCE, Path(scratch))
            except Exception as exc:  # CompileError, LinkError, a missing compiler ...
                if _flag("LLMKIT_BUILD_STRICT"):
                    raise
                print(
                    f"WARNING: llmkit's compiled scanners were not built ({exc}); "
                    "the pure Python ones will run, slower",
                    file=sys.stderr,
                )
                if in_tree is not None:
                    in_tree.unlink(missing_ok=True)
                return
            if in_tree is not None:
                shutil.copy2(built, in_tree)
            else:
                kept = Path(self.directory) / ".speedups" / name
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(built, kept)
                build_data["force_include"][str(kept)] = f"llmkit/tools/{name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
