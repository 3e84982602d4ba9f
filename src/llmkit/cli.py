"""The ``llmkit`` command: chat, generate, pull, list, rm, backends.

A thin shell over the library (needs ``pip install 'llmkit[cli]'``: click and
rich).  Errors print one line naming the problem and exit with status 1
(2 for bad arguments).

Only the console script (``llmkit.cli:main``) and ``python -m llmkit`` import this
module, never ``import llmkit``, so the app (:mod:`llmkit._cli_app`, and click with it)
is imported here at the top, when the extras are installed.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["main"]

_MISSING_EXTRAS = [name for name in ("click", "rich") if importlib.util.find_spec(name) is None]

if not _MISSING_EXTRAS:
    from llmkit._cli_app import app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``llmkit`` console script."""
    if _MISSING_EXTRAS:
        sys.stderr.write("the llmkit command needs its extras: pip install 'llmkit[cli]'\n")
        raise SystemExit(1) from None
    app.main(args=argv, prog_name="llmkit")
