"""What the ``llmkit`` command's app needs besides click: ``-o`` values and a progress bar.

Kept apart from :mod:`llmkit.cli` (the entry point, which imports the app) so that the
app (:mod:`llmkit._cli_app`) imports these from here and the two never import each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["parse_option_value", "progress_bar"]


def parse_option_value(text: str) -> Any:
    """``-o key=value``: the value as JSON when it parses (numbers, booleans, lists), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


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
