"""The ``llmkit`` command: chat, generate, pull, list, rm, backends.

A thin shell over the library (needs ``pip install 'llmkit[cli]'``: click and
rich).  Errors print one line naming the problem and exit with status 1
(2 for bad arguments).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["main"]


def parse_option_value(text: str) -> Any:
    """``-o key=value``: the value as JSON when it parses (numbers, booleans, lists), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``llmkit`` console script."""
    if importlib.util.find_spec("click") is None or importlib.util.find_spec("rich") is None:
        sys.stderr.write("the llmkit command needs its extras: pip install 'llmkit[cli]'\n")
        raise SystemExit(1) from None
    from llmkit._cli_app import app

    app.main(args=argv, prog_name="llmkit")


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr, as a store ``Progress`` callback."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
