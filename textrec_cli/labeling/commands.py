"""`textrec label-export` and `textrec label-import`: the labeling round trip via Label Studio."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from textrec_cli.cli_support import err, out, user_errors
from textrec_cli.errors import TextrecError
from textrec_cli.monitoring.commands import StoreOption


def register(app: typer.Typer) -> None:
    @app.command("label-export")
    @user_errors
    def label_export(
        output: Annotated[Path, typer.Argument(help="Folder to write (replaced if it exists).")],
        store: StoreOption = None,
        source: Annotated[
            str,
            typer.Option(
                help="predictions (served images worth labeling) or contributions (handwriting "
                "given on /contribute or paper forms, prompt as pre-annotation)."
            ),
        ] = "predictions",
        limit: Annotated[
            int | None,
            typer.Option(help="Tasks to write (default: 200 predictions, every contribution)."),
        ] = None,
        after_id: Annotated[
            int | None,
            typer.Option(help="Contributions: only those after this id (the last export's)."),
        ] = None,
        window: Annotated[int, typer.Option(help="Consider the last N kept images.")] = 5000,
        reference: Annotated[
            Path | None,
            typer.Option(help="reference.json or model folder: also pick drifted images."),
        ] = None,
        low_confidence: Annotated[
            float, typer.Option(help="Share of the lowest-confidence readings.")
        ] = 0.5,
        drifted: Annotated[float, typer.Option(help="Share picked on drifted features.")] = 0.3,
        url_prefix: Annotated[
            str | None,
            typer.Option(help="Image URL prefix in tasks (default Label Studio local files)."),
        ] = None,
        seed: int = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    ) -> None:
        """Write a Label Studio import: low-confidence, drifted and random production images,
        or (--source contributions) the handwriting people gave, pre-annotated with its prompt."""
        from textrec_cli.labeling.export import (
            select_for_labeling,
            write_contributions_export,
            write_label_studio_export,
        )
        from textrec_cli.monitoring.reference import load_reference
        from textrec_cli.monitoring.store import open_store

        if source not in ("predictions", "contributions"):
            raise TextrecError(f"--source must be predictions or contributions, not {source!r}")
        if (
            (limit is not None and limit < 1)
            or not 0 <= low_confidence <= 1
            or not 0 <= drifted <= 1
        ):
            raise TextrecError("--limit must be positive; shares are between 0 and 1")
        with open_store(store) as opened:
            if source == "contributions":
                items = opened.contributions(limit, after_id=after_id)
                summary = write_contributions_export(items, opened, output, url_prefix)
            else:
                ref = load_reference(reference) if reference else None
                records = opened.recent(window, with_images=True)
                selections = select_for_labeling(
                    records, limit or 200, ref, low_confidence, drifted, seed
                )
                summary = write_label_studio_export(selections, opened, output, url_prefix)
        if as_json:
            print(json.dumps(summary, ensure_ascii=False))
            return
        err.print(
            f"[green]✓[/green] {summary['tasks']} tasks {summary['reasons']} in {output}: "
            f"import {summary['tasks_file']} into a project set up with {summary['config_file']}",
            highlight=False,
        )

    @app.command("label-import")
    @user_errors
    def label_import(
        export: Annotated[Path, typer.Argument(help="Label Studio JSON export.")],
        output: Annotated[
            Path, typer.Option(help="real_lines folder to write (images + labels.tsv).")
        ],
        images_dir: Annotated[
            Path | None,
            typer.Option(help="Where the task images are (default: EXPORT's folder/images)."),
        ] = None,
        val_fraction: Annotated[float, typer.Option(help="Share of lines put in val.")] = 0.1,
        strict: Annotated[
            bool, typer.Option(help="Write nothing if any task has a problem.")
        ] = False,
        allow_empty: Annotated[
            bool,
            typer.Option(help="An export with no tasks writes an empty set instead of failing."),
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Validate a Label Studio export and write it as a real_lines dataset for `train`."""
        from textrec_cli.labeling.ingest import import_export

        if not 0 <= val_fraction < 1:
            raise TextrecError("--val-fraction must be in [0, 1)")
        report = import_export(export, output, images_dir, val_fraction, strict, allow_empty)
        if as_json:
            print(json.dumps(report.to_dict(), ensure_ascii=False))
            return
        if report.problems:
            table = Table(title=f"{len(report.problems)} task(s) not imported")
            for column in ("task", "problem", "detail", "image"):
                table.add_column(column)
            for problem in report.problems[:50]:
                table.add_row(str(problem.task_id), problem.kind, problem.detail, problem.image)
            out.print(table)
        err.print(
            f"[green]✓[/green] {report.imported} of {report.tasks} lines written to {output} "
            f"{report.splits}; train on it with --lines-dir {output}",
            highlight=False,
        )
