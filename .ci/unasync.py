"""Generate the synchronous twins from their asynchronous sources.

Async code is the source of truth (as in httpcore's ``unasync``); each sync
twin is produced by the substitutions below and committed.  Run
``python .ci/unasync.py`` after editing a source; ``--check`` (used by the
tests) fails when a committed twin differs from what would be generated.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["PAIRS", "SUBSTITUTIONS", "generate", "main"]

HERE = Path(__file__).resolve().parents[1] / "src" / "llmkit"

#: (async source, generated sync twin), relative to the package folder.
PAIRS: tuple[tuple[str, str], ...] = (("_async_client.py", "_sync_client.py"),)

#: Applied in order; identifiers match whole words only.
SUBSTITUTIONS: tuple[tuple[str, str], ...] = (
    (
        r"``AsyncClient``: the source of truth for both clients\.",
        "``Client``: generated from ``_async_client.py``; do not edit.",
    ),
    (
        r"``_sync_client.py`` \(``Client``\) is generated from this file by\n"
        r"``python .ci/unasync.py``; a test fails when the two drift.  Edit this\n"
        r"file, then regenerate.",
        "Edit ``_async_client.py``, then run ``python .ci/unasync.py``.",
    ),
    (r"An asynchronous client, for asyncio and trio alike\.", "A synchronous client."),
    (
        r"\n *A synchronous \(in-process\) backend runs in worker threads, one native call"
        r"\n *at a time, so the event loop is never blocked\.",
        "",
    ),
    (r"an async stream", "a stream"),
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\bAsyncClient\b", "Client"),
    (r"\bAsyncStream\b", "Stream"),
    (r"\bAsyncBackendSpec\b", "BackendSpec"),
    (r"\bAsyncBackend\b", "Backend"),
    (r"\bresolve_async_backend\b", "resolve_backend"),
    (r"\baclose\b", "close"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\bAsyncIterator\b", "Iterator"),
)


def generate(source: str) -> str:
    """The sync twin of an async source text."""
    for pattern, replacement in SUBSTITUTIONS:
        source = re.sub(pattern, replacement, source)
    return source


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) every twin; returns the exit status."""
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for source_name, twin_name in PAIRS:
        expected = generate((HERE / source_name).read_text())
        twin = HERE / twin_name
        if twin.exists() and twin.read_text() == expected:
            continue
        if check:
            stale.append(twin_name)
        else:
            twin.write_text(expected)
            print(f"wrote {twin}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python .ci/unasync.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
