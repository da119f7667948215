"""A progress bar for long CLI runs (zoo comparisons, batch sweeps), drawn on stderr with rich.

The bar is transient (erased when done) and silent when stderr is not a terminal, so piped output, logs and
tests see nothing of it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def track(items: Iterable[T], description: str, total: int | None = None, *,
          size: Callable[[T], int] | None = None, unit: str | None = None, done: int = 0) -> Iterator[T]:
    """Yield ``items`` unchanged, showing a progress bar on stderr while they are consumed.

    ``total``: the number of items, when ``items`` has no ``len`` (a generator); without it the bar shows
    progress without an end. ``size``: how many units an item counts for (default 1), ``unit``: their name, to
    show a rate (``1,234 candidates/s``); ``done``: units already done (a resumed run). Nothing is drawn when
    stderr is not a terminal.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    if unit:
        columns.append(TextColumn(f"{{task.fields[rate]}} {unit}/s"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total, completed=done, rate="-")
        start, counted = time.perf_counter(), 0
        for item in items:
            yield item
            step = size(item) if size else 1
            counted += step
            rate = f"{counted / max(time.perf_counter() - start, 1e-9):,.0f}"
            progress.update(task, advance=step, rate=rate)
