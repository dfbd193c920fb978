"""Rich progress bars on stderr, so stdout stays clean for JSON output."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

stderr_console = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(
    description: str, total: int | None, enabled: bool = True
) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`; a no-op when disabled (tests, non-interactive logs)."""
    if not enabled:
        yield lambda n=1: None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr_console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)


@contextlib.contextmanager
def step_progress(
    description: str, total: int, completed: int = 0, enabled: bool = True
) -> Iterator[Callable[[int, str], None]]:
    """Yield `update(completed, info)`: a bar that resumes mid-way and shows a live note
    (loss, lines/s) between the count and the clock; a no-op when disabled."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr_console, disable=not enabled) as progress:
        task = progress.add_task(description, total=total, completed=completed, info="")
        yield lambda done, info="": progress.update(task, completed=done, info=info)
