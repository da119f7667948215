"""A progress bar for long CLI runs (zoo comparisons, batch sweeps), drawn on stderr with rich.

The bar is transient (erased when done) and silent when stderr is not a terminal, so piped output, logs and
tests see nothing of it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Yield ``items`` unchanged, showing a progress bar on stderr while they are consumed.

    ``total``: the number of items, when ``items`` has no ``len`` (a generator); without it the bar shows
    progress without an end. Nothing is drawn when stderr is not a terminal.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)
