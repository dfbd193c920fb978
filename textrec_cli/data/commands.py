"""Data commands: `download` and the synthesizers (`synth-lines`, `synth-chars`) make datasets;
`pack` makes real lines travel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from textrec_cli import settings
from textrec_cli.cli_support import DataDir, err, user_errors
from textrec_cli.data import registry
from textrec_cli.errors import TextrecError
from textrec_cli.stems import line


def register(app: typer.Typer) -> None:
    app.command()(download)
    app.command("synth-lines")(synth_lines)
    app.command("synth-chars")(synth_chars)
    app.command("pack")(pack)


@user_errors
def download(
    dataset: Annotated[str, typer.Argument(help=registry.download_help())],
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Use this archive (or IAM folder) instead of the network."),
    ] = None,
    subset: Annotated[str, typer.Option(help="EMNIST subset: byclass, balanced, …")] = "byclass",
    name: Annotated[
        str, typer.Option(help="corpus: state_union, inaugural (public domain) or brown.")
    ] = "state_union",
    data_dir: DataDir = None,
) -> None:
    """Download a dataset (checksum-verified, resumable) and process it."""
    data_dir = data_dir or settings.data_dir()
    entry = registry.for_download(dataset)
    options = {"subset": subset, "name": name}
    fetch = getattr(entry.load(), entry.fetch)
    path = fetch(data_dir=data_dir, source=source, **{k: options[k] for k in entry.options})
    err.print(f"[green]✓[/green] {dataset} ready: {path}")


@user_errors
def synth_lines(
    count: Annotated[int, typer.Option(help="Lines in all (80/10/10 train/val/test).")] = 10000,
    max_length: Annotated[int, typer.Option(help="Characters per line at most.")] = 32,
    seed: int = 0,
    char_dataset: Annotated[
        str, typer.Option(help="Glyph source: emnist or synthetic_chars.")
    ] = "synthetic_chars",
    data_dir: DataDir = None,
) -> None:
    """Build EMNIST Lines: corpus sentences drawn glyph by glyph from a character dataset."""
    from textrec_cli.data import emnist_lines

    if count < 1 or max_length < 1:
        raise TextrecError("--count and --max-length must be positive")
    path = emnist_lines.prepare(
        data_dir or settings.data_dir(),
        char_dataset=char_dataset,
        count=count,
        max_length=max_length,
        seed=seed,
    )
    err.print(f"[green]✓[/green] emnist_lines ready: {path}")


@user_errors
def synth_chars(
    fonts_dir: Annotated[
        Path | None, typer.Option(help="Handwriting fonts (.ttf/.otf/.woff, Hershey .jhf).")
    ] = None,
    per_class: Annotated[int, typer.Option(help="Training glyphs per character.")] = 800,
    per_class_eval: Annotated[int, typer.Option(help="Val and test glyphs per character.")] = 150,
    seed: int = 0,
    workers: Annotated[int, typer.Option(help="Rendering processes.")] = 2,
    data_dir: DataDir = None,
) -> None:
    """Render the synthetic_chars dataset (EMNIST-style glyphs from fonts, split by font)."""
    from textrec_cli.data import synthetic_chars as module

    path = module.prepare(
        data_dir or settings.data_dir(), fonts_dir, per_class, per_class_eval, seed, workers
    )
    err.print(f"[green]✓[/green] synthetic_chars ready: {path}")


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
