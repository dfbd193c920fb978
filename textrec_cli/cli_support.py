"""What every command module shares: consoles, common options, error handling, result tables."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from textrec_cli.errors import TextrecError

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich Console made on first use: importing rich (~50 ms) is not paid by a command that
    never prints through it, such as `predict --json` (benchmarks/cli_startup.py)."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return getattr(self._console, name)


out = cast("Console", _LazyConsole())
err = cast("Console", _LazyConsole(stderr=True))

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data root (default $TEXTREC_DATA_DIR or ./data)."),
]


LanguageModel = Annotated[
    bool | None,
    typer.Option(
        "--lm/--no-lm",
        help="CTC line models: beam search with the character 6-gram LM: the model folder's own "
        "lm/ (from `adapt --lm-text`) if it has one, else the bundled one (default: "
        "settings.USE_LM).",
        show_default=False,
    ),
]


def _fail(message: str, code: int) -> None:
    err.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(func):
    """Turn TextrecError into one red line on stderr and its exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except TextrecError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)

    return wrapper


def print_mapping_table(title: str, values: dict) -> None:
    """A metric -> value table on stdout (floats to 4 places) for people; --json is for machines."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in values.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)
