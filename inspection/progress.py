"""Progress bars with rate and ETA on a terminal; silent when output is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second, which is what an operator compares against the line rate."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:7.1f}/s" if task.speed else "      -/s")


@contextmanager
def progress(label: str, total: int, quiet: bool = False) -> Iterator[Callable[[], None]]:
    """Yields a function that advances the bar by one item."""
    if quiet or not sys.stderr.isatty():
        yield lambda: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
