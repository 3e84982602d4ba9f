"""Whether llmkit's compiled scanners run (pure; reads one environment variable).

The tool-call parser's per-character work is done by two incremental scanners,
:class:`~llmkit.tools.scan.PureJsonScanner` and
:class:`~llmkit.tools.scan_python.PurePythonListScanner`. ``llmkit.tools._speedups`` is
their twin in C, built when llmkit is installed (see ``hatch_build.py``); the Python
classes stay the reference and the fallback. The compiled ones are used unless they were
not built (no C compiler or Python headers at install time, or ``LLMKIT_BUILD_PURE=1``)
or ``LLMKIT_PURE_PYTHON=1`` is set when llmkit is imported.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["IMPLEMENTATION", "speedups"]


def _load() -> ModuleType | None:
    if os.environ.get("LLMKIT_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from llmkit.tools import _speedups
    except ImportError:
        return None
    return _speedups


speedups: ModuleType | None = _load()
"""The compiled module, or None when the pure Python scanners run."""

IMPLEMENTATION = "compiled" if speedups is not None else "python"
"""Which scanners run: ``"compiled"`` or ``"python"``."""
