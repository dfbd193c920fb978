"""`textrec read`: registered on the main CLI by `register(app)`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from textrec_cli.cli_support import out, user_errors
from textrec_cli.errors import InputError
from textrec_cli.progress import stderr_console


class RateColumn(ProgressColumn):
    """Pages per second, over rich's recent-speed window."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- pages/s" if speed is None else f"{speed:.2f} pages/s", style="cyan")


@contextlib.contextmanager
def pages_progress(
    enabled: bool,
) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """(advance(n), set_total(n)) for a bar with pages/s and ETA on stderr."""
    if not enabled:
        yield (lambda n=1: None), (lambda n: None)
        return
    columns = (
        TextColumn("[bold]reading"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr_console) as progress:
        task = progress.add_task("reading", total=None)
        yield (
            lambda n=1: progress.advance(task, n),
            lambda n: progress.update(task, total=n),
        )


def print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"textrec read → {summary['output']}")
    table.add_column("")
    table.add_column("", justify="right")
    rows = (
        "pages",
        "read",
        "skipped",
        "failed",
        "lines",
        "pages_per_second",
        "seconds",
        "low_confidence_pages",
        "workers",
        "engine",
    )
    for key in rows:
        table.add_row(key.replace("_", " "), str(summary[key]))
    out.print(table)
    for failure in summary["failures"][:10]:
        out.print(f"[red]failed[/red] {failure['error']}", highlight=False, soft_wrap=True)
    out.print(f"manifest: {summary['manifest']}", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("read")
    @user_errors
    def read(
        sources: Annotated[
            list[Path],
            typer.Argument(help="Folders (recursive), globs, zip/tar archives or path lists."),
        ],
        output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")],
        page_format: Annotated[
            str, typer.Option("--format", help="Comma list of alto, page (PAGE-XML), jsonl.")
        ] = "alto",
        model: Annotated[
            list[Path] | None,
            typer.Option(help="Export (or Keras) model folders, one per task (default bundled)."),
        ] = None,
        mode: Annotated[str, typer.Option(help="page, line, char or auto (by shape).")] = "page",
        engine: Annotated[str, typer.Option(help="local (processes) or ray.")] = "local",
        workers: Annotated[
            int | None,
            typer.Option(help="Worker processes / Ray actors (default 1; Ray: cluster CPUs)."),
        ] = None,
        address: Annotated[
            str | None,
            typer.Option(
                help="--engine ray: auto, HOST:PORT or ray://HOST:10001 (default: a "
                "local cluster for this run)."
            ),
        ] = None,
        low_confidence: Annotated[
            float, typer.Option(help="Pages with a mean line confidence below this are flagged.")
        ] = 0.5,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
        ] = False,
        progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    ) -> None:
        """Read whole archives into ALTO / PAGE-XML / JSON lines, resumably (rerun = skip done).

        Exit status 2 when any page failed (each is in manifest.jsonl with its reason).
        """
        from textrec_cli.reading.runner import (
            ReadOptions,
            parse_formats,
            read_archive,
            resolve_models,
        )

        if mode not in ("page", "line", "char", "auto"):
            raise InputError(f"--mode must be page, line, char or auto, not {mode!r}")
        if engine not in ("local", "ray"):
            raise InputError(f"--engine must be local or ray, not {engine!r}")
        if workers is not None and workers < 1:
            raise InputError("--workers must be at least 1")
        options = ReadOptions(
            output=output,
            formats=parse_formats(page_format),
            engine=engine,
            workers=workers,
            address=address,
            low_confidence=low_confidence,
        )
        spec = resolve_models(model, mode)
        with pages_progress(progress) as (advance, set_total):
            summary = read_archive(sources, spec, options, advance, set_total)
        if as_json:
            print(json.dumps(summary, ensure_ascii=False))
        else:
            print_summary(summary)
        if summary["failed"]:
            raise typer.Exit(InputError.exit_code)
