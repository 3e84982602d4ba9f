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

#: Rewrites of one source's own docstrings, by source file.
_CLIENT_DOCS: tuple[tuple[str, str], ...] = (
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
)


def _generated_notice(source: str, twin: str, sync_name: str) -> tuple[tuple[str, str], ...]:
    """The rewrite of the standard header of an async source naming its twin."""
    return (
        (
            rf"``(Async\w+)``: ([^\n]*)\n\n``{re.escape(twin)}`` \(``{sync_name}``\) is generated "
            r"from this file by\n``python .ci/unasync.py``; a test fails when the two drift\.  "
            r"Edit this\nfile, then regenerate\.",
            f"``{sync_name}``: generated from ``{source}``; do not edit.\n\n"
            f"Edit ``{source}``, then run ``python .ci/unasync.py``.",
        ),
    )


#: (async source, generated sync twin, that source's own rewrites), relative to the package.
PAIRS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("_async_client.py", "_sync_client.py", _CLIENT_DOCS),
    (
        "backends/http/_async_session.py",
        "backends/http/_sync_session.py",
        _generated_notice("_async_session.py", "_sync_session.py", "HTTPSession"),
    ),
    (
        "backends/http/_async_ollama.py",
        "backends/http/_sync_ollama.py",
        _generated_notice("_async_ollama.py", "_sync_ollama.py", "OllamaBackend"),
    ),
    (
        "backends/http/_async_openai.py",
        "backends/http/_sync_openai.py",
        _generated_notice("_async_openai.py", "_sync_openai.py", "OpenAIBackend"),
    ),
    (
        "agent/_async_loop.py",
        "agent/_sync_loop.py",
        (
            (
                r"``arun_tools``: the tool loop for async code; the source of its sync twin\.\n\n"
                r"``_sync_loop.py`` \(``run_tools``\) is generated from this file by\n"
                r"``python .ci/unasync.py``; a test fails when the two drift\.  Edit this\n"
                r"file, then regenerate\.",
                "``run_tools``: generated from ``_async_loop.py``; do not edit.\n\n"
                "Edit ``_async_loop.py``, then run ``python .ci/unasync.py``.",
            ),
            (r"\(concurrently;", "(one after another;"),
            (r"\n    The hooks may be plain or ``async`` functions\.", ""),
            (r"\bAsyncBeforeCall\b", "BeforeCall"),
            (r"\bAsyncAfterCall\b", "AfterCall"),
            (r"\barun_tools\b", "run_tools"),
            (r"\barun_calls\b", "run_calls"),
        ),
    ),
)

#: Applied to every source after its own rewrites, in order; identifiers match whole words.
SUBSTITUTIONS: tuple[tuple[str, str], ...] = (
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait anext\(", "next("),
    (r"\baiter\(", "iter("),
    (r"\bAsyncIterable\b", "Iterable"),
    (r"\bawait ", ""),
    (r"\bAsyncClient\b", "Client"),
    (r"\bAsyncStream\b", "Stream"),
    (r"\bAsyncBackendSpec\b", "BackendSpec"),
    (r"\bAsyncBackend\b", "Backend"),
    (r"\bAsyncHTTPSession\b", "HTTPSession"),
    (r"\bAsyncOllamaBackend\b", "OllamaBackend"),
    (r"\bAsyncOpenAIBackend\b", "OpenAIBackend"),
    (r"\bAsyncRetrying\b", "Retrying"),
    (r"\bhttpx\.AsyncClient\b", "httpx.Client"),
    (r"\banyio\.sleep\b", "time.sleep"),
    (r"^import anyio\n", ""),
    (r"\bhttp\._async_session import\b", "http._sync_session import"),
    (r"\bresolve_async_backend\b", "resolve_backend"),
    (r"\bamark_unknown_calls\b", "mark_unknown_calls"),
    (r"\baiter_raw\b", "iter_raw"),
    (r"\baread\b", "read"),
    (r"\baclose\b", "close"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bStopAsyncIteration\b", "StopIteration"),
)


def generate(source: str, own: tuple[tuple[str, str], ...] = ()) -> str:
    """The sync twin of an async source text (``own``: that source's rewrites, first)."""
    for pattern, replacement in (*own, *SUBSTITUTIONS):
        source = re.sub(pattern, replacement, source, flags=re.MULTILINE)
    return source


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) every twin; returns the exit status."""
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for source_name, twin_name, own in PAIRS:
        if not (HERE / source_name).exists():
            stale.append(f"{source_name} (missing source)")
            continue
        expected = generate((HERE / source_name).read_text(), own)
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
