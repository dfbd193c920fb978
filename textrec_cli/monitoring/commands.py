"""`textrec monitor`: drift table for the recent predictions, alert when drifted; or build the
reference distribution that the check compares against."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from textrec_cli import settings
from textrec_cli.cli_support import err, out, user_errors
from textrec_cli.errors import TextrecError

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="SQLite file or postgresql://USER@HOST:PORT/DB "
        "(default $TEXTREC_MONITOR_STORE or DATA_DIR/monitoring/predictions.sqlite).",
    ),
]


def _print_report(report) -> None:
    table = Table(title=f"drift: last {report.window} predictions vs {report.reference_count}")
    for column in ("feature", "test", "statistic", "p-value", "score", "drift"):
        table.add_column(column, justify="left" if column in ("feature", "test") else "right")
    for row in report.features:
        table.add_row(
            row.feature, row.test, f"{row.statistic:.3f}", f"{row.p_value:.2e}",
            f"{row.effect:.3f}", "[bold red]yes[/bold red]" if row.drifted else "no",
        )  # fmt: skip
    out.print(table)
    out.print(
        f"Bonferroni level {report.corrected_alpha:.1e} (alpha {report.alpha} over "
        f"{len(report.features)} tests), minimum score {report.min_effect}",
        highlight=False,
    )


def _build_reference(
    model: Path | None,
    lines_dir: list[Path] | None,
    synthetic: int,
    count: int,
    fonts_dir: Path | None,
    seed: int,
    output: Path | None,
    as_json: bool,
) -> None:
    import itertools

    from textrec_cli.inference.recognizer import Recognizer
    from textrec_cli.monitoring.reference import build_reference, training_line_images
    from textrec_cli.monitoring.simulate import line_stream

    model = model or settings.BUNDLED_LINE_MODEL
    if not lines_dir and synthetic <= 0:
        raise TextrecError("give --lines-dir DIR (train split is sampled) and/or --synthetic N")
    images, sources = [], []
    if lines_dir:
        images += training_line_images(list(lines_dir), count, seed)
        sources.append(f"{len(images)} train lines of {', '.join(p.name for p in lines_dir)}")
    if synthetic > 0:
        fonts = fonts_dir or settings.fonts_dir()
        if fonts is None:
            raise TextrecError("--synthetic needs fonts: pass --fonts-dir")
        images += list(itertools.islice(line_stream(fonts, "none", seed), synthetic))
        sources.append(f"{synthetic} synthetic lines")
    reference = build_reference(Recognizer(model, "auto"), images, "; ".join(sources))
    path = reference.save(output or Path(model) / "reference.json")
    summary = {"reference": str(path), "count": reference.count, "source": reference.source,
               "model_version": reference.model_version}  # fmt: skip
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        err.print(f"[green]✓[/green] reference of {reference.count} images saved to {path}")


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def monitor(
        store: StoreOption = None,
        reference: Annotated[
            Path | None,
            typer.Option(
                help="reference.json, or a model folder holding one "
                "(default: the bundled line model)."
            ),  # fmt: skip
        ] = None,
        window: Annotated[int, typer.Option(help="Compare the last N predictions.")] = 200,
        since_hours: Annotated[
            float | None, typer.Option(help="Only predictions from the last H hours.")
        ] = None,
        alpha: Annotated[float, typer.Option(help="Family-wise significance level.")] = 0.01,
        min_effect: Annotated[
            float, typer.Option(help="Smallest KS distance / Cramér's V that counts as drift.")
        ] = 0.1,
        alert_file: Annotated[
            Path | None,
            typer.Option(help="Alert JSON (default DATA_DIR/monitoring/alerts/drift-TIME.json)."),
        ] = None,
        alert_url: Annotated[
            str | None, typer.Option(help="POST the alert JSON to this webhook.")
        ] = None,
        fail_on_drift: Annotated[
            bool, typer.Option(help="Exit with status 3 when drift is found (for cron/CI).")
        ] = False,
        build_reference: Annotated[
            bool, typer.Option("--build-reference", help="Build reference.json for --model.")
        ] = False,
        model: Annotated[
            Path | None, typer.Option(help="--build-reference: model folder (default bundled).")
        ] = None,
        lines_dir: Annotated[
            list[Path] | None,
            typer.Option(help="--build-reference: real_lines folder (train rows; repeatable)."),
        ] = None,
        synthetic: Annotated[
            int, typer.Option(help="--build-reference: also N synthetic lines from fonts.")
        ] = 0,
        count: Annotated[
            int, typer.Option(help="--build-reference: training lines to sample.")
        ] = 500,
        fonts_dir: Annotated[Path | None, typer.Option(help="Fonts for --synthetic.")] = None,
        seed: int = 0,
        output: Annotated[
            Path | None,
            typer.Option(help="--build-reference: where (default MODEL/reference.json)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Drift check: recent predictions vs the training reference (KS, chi-square, corrected)."""
        if build_reference:
            _build_reference(model, lines_dir, synthetic, count, fonts_dir, seed, output, as_json)
            return
        from textrec_cli.monitoring.alerts import fire_alert
        from textrec_cli.monitoring.drift import detect_drift
        from textrec_cli.monitoring.observer import reference_version
        from textrec_cli.monitoring.reference import load_reference
        from textrec_cli.monitoring.store import open_store

        if window < 1:
            raise TextrecError("--window must be positive")
        ref = load_reference(reference or settings.BUNDLED_LINE_MODEL)
        since = time.time() - since_hours * 3600 if since_hours is not None else None
        with open_store(store) as opened:
            records = opened.recent(window, since, reference_version(ref))
        if not records:
            raise TextrecError(
                f"no predictions of model {ref.model_version} in the window: log some with "
                "`textrec predict --log` or the server first"
            )
        report = detect_drift(ref, records, alpha, min_effect, min_window=min(20, window))
        alert = None
        if report.drifted:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            alert_path = alert_file or settings.data_dir() / "monitoring" / "alerts" / (
                f"drift-{stamp}.json"
            )
            alert = fire_alert(report, alert_path, alert_url)
            err.print(
                f"[bold red]drift alert[/bold red]: {', '.join(report.drifted_features)} "
                f"(alert written to {alert_path}"
                + (f"; webhook {alert['webhook']}" if alert_url else "") + ")",
                highlight=False,
            )  # fmt: skip
        if as_json:
            payload = report.to_dict()
            payload["alert"] = {k: v for k, v in alert.items() if k != "report"} if alert else None
            print(json.dumps(payload, ensure_ascii=False))
        else:
            _print_report(report)
        if report.drifted and fail_on_drift:
            raise typer.Exit(3)
