"""Generate the synchronous twins from their asynchronous sources.

Async code is the source of truth, laid out as in httpcore: every ``_async/``
folder under ``src/llmkit`` holds sources, and its sibling ``_sync/`` folder is
generated whole from it (one twin per file, stale files removed) and
committed.  One generic rule renames ``Async*`` names; the few exceptions are
listed below.  Run ``python .ci/unasync.py`` after editing a source;
``--check`` (used by the tests) fails when a committed twin differs from what
would be generated.  Either mode fails when a rule matched nothing in any
source, so that a stale rule is caught.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["HEADER", "RULES", "generate", "main", "pairs"]

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "llmkit"

#: The first line of every generated file (``{source}``: its source, from the repository root).
HEADER = "# Generated from {source} by .ci/unasync.py; do not edit.\n"

#: (pattern, replacement), applied in order to every source; re.MULTILINE.
RULES: tuple[tuple[str, str], ...] = (
    # the keywords and protocols
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\b__aiter__\b", "__iter__"),
    (r"\b__anext__\b", "__next__"),
    (r"\banext\(", "next("),
    (r"\baclose\b", "close"),
    # the one generic rule for names: AsyncClient -> Client, StopAsyncIteration ->
    # StopIteration, _AsyncOneEach -> _OneEach, httpx.AsyncClient -> httpx.Client, ...
    (r"Async([A-Z]\w*)", r"\1"),
    # the sources' own modules
    (r"\._async\b", "._sync"),
    # anyio and httpx
    (r"^import anyio\n", ""),
    (r"\banyio\.sleep\b", "time.sleep"),
    (r"\baiter_raw\b", "iter_raw"),
    # llmkit's own a-prefixed names (the explicit exceptions)
    (r"\bresolve_async_backend\b", "resolve_backend"),
    (r"\bamark_unknown_calls\b", "mark_unknown_calls"),
    (r"\barun_tools\b", "run_tools"),
    (r"\baobserved\b", "observed"),
    (r"\barun_calls\b", "run_calls"),
)


def generate(text: str, counts: list[int] | None = None) -> str:
    """The sync twin of an async source text (``counts``: matches per rule, added to)."""
    for index, (pattern, replacement) in enumerate(RULES):
        text, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        if counts is not None:
            counts[index] += found
    return text


def pairs() -> list[tuple[Path, Path]]:
    """Every (async source, sync twin) under the package, sorted."""
    return [
        (source, source.parent.parent / "_sync" / source.name)
        for folder in sorted(PACKAGE.rglob("_async"))
        if folder.is_dir()
        for source in sorted(folder.glob("*.py"))
    ]


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) every twin; returns the exit status."""
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    counts = [0] * len(RULES)
    stale: list[str] = []
    expected: dict[Path, str] = {}
    for source, twin in pairs():
        name = source.relative_to(ROOT).as_posix()
        expected[twin] = HEADER.format(source=name) + generate(source.read_text(), counts)
    folders = {twin.parent for twin in expected}
    leftovers = [
        path for folder in folders for path in sorted(folder.glob("*.py")) if path not in expected
    ]
    for twin, text in expected.items():
        if twin.exists() and twin.read_text() == text:
            continue
        if check:
            stale.append(twin.relative_to(ROOT).as_posix())
        else:
            twin.parent.mkdir(exist_ok=True)
            twin.write_text(text)
            print(f"wrote {twin.relative_to(ROOT)}")
    for path in leftovers:
        if check:
            stale.append(f"{path.relative_to(ROOT).as_posix()} (no source)")
        else:
            path.unlink()
            print(f"removed {path.relative_to(ROOT)}")
    unused = [pattern for (pattern, _), count in zip(RULES, counts, strict=True) if not count]
    status = 0
    if unused:
        print(f"rules that matched nothing: {', '.join(unused)}", file=sys.stderr)
        status = 1
    if stale:
        print(f"out of date: {', '.join(stale)}; run python .ci/unasync.py", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
