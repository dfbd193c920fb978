"""Data commands that are not about one dataset: `textrec pack` (lines that travel)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from textrec_cli import settings
from textrec_cli.cli_support import DataDir, err, user_errors
from textrec_cli.errors import TextrecError
from textrec_cli.stems import line


def register(app: typer.Typer) -> None:
    app.command("pack")(pack)


@user_errors
def pack(
    output: Annotated[Path, typer.Argument(help="Pack file to write (HDF5, e.g. lines.h5).")],
    lines_dir: Annotated[
        list[Path], typer.Option(help="Folder with line images + labels.tsv (repeatable).")
    ],
    height: Annotated[int, typer.Option(help="The model's input height.")] = line.HEIGHT,
    quality: Annotated[
        int | None, typer.Option(help="JPEG quality of the stored stems (default 75).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Pack real lines, stemmed at HEIGHT and JPEG-encoded, into one file that `train` reads.

    `train`/`evaluate --lines-dir PACK` read it like a folder; it is small enough to carry to a
    lent GPU machine (README: Training on a lent GPU).
    """
    from textrec_cli.data.line_pack import DEFAULT_QUALITY, write_pack

    if height < 8:
        raise TextrecError("--height must be at least 8")
    summary = write_pack(
        output,
        lines_dir,
        data_dir or settings.data_dir(),
        height,
        DEFAULT_QUALITY if quality is None else quality,
    )
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(
            f"[green]✓[/green] packed {sum(summary['lines'].values())} lines "
            f"{summary['lines']} into {output}: {summary['bytes'] / 2**20:.1f} MiB, "
            f"mean |pixel error| {summary['mean_abs_pixel_error']}/255",
            highlight=False,
        )
