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
    table = Table(
        title=f"drift: last {report.window} predictions ({report.documents} documents) vs "
        f"{report.reference_count} reference lines (closest group: {report.closest_group})"
    )
    for column in ("feature", "test", "statistic", "p-value", "score", "drift", "change"):
        table.add_column(
            column, justify="left" if column in ("feature", "test", "change") else "right"
        )
    for row in report.features:
        table.add_row(
            row.feature, row.test, f"{row.statistic:.3f}", f"{row.p_value:.2e}",
            f"{row.effect:.3f}", "[bold red]yes[/bold red]" if row.drifted else "no", row.change,
        )  # fmt: skip
    out.print(table)
    out.print(
        f"documents resampled from the reference ({report.replicates} replicates), family-wise "
        f"alpha {report.alpha}, minimum score {report.min_effect}",
        highlight=False,
    )
    out.print(report.summary, highlight=False)


def parse_time(value: str | None) -> float | None:
    """Unix seconds, or an ISO 8601 date/time (UTC when no zone is given)."""
    if value is None:
        return None
    from datetime import UTC, datetime

    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise TextrecError(
            f"{value!r} is not a time: give unix seconds or ISO 8601 (2026-11-01T08:00)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _store_records(store: str | None, since: float | None, until: float | None, version=None):
    from textrec_cli.monitoring.store import open_store

    with open_store(store) as opened:
        records = opened.recent(None, since, version)
    return [r for r in records if until is None or r.timestamp <= until]


def _build_reference(
    model: Path | None,
    lines_dir: list[Path] | None,
    synthetic: int,
    count: int,
    fonts_dir: Path | None,
    seed: int,
    output: Path | None,
    as_json: bool,
    from_store: bool = False,
    store: str | None = None,
    since: str | None = None,
    until: str | None = None,
    calibrate: bool = True,
) -> None:
    """reference.json (and calibration.json when the folders hold labelled val lines)."""
    import itertools

    from textrec_cli.inference.recognizer import Recognizer
    from textrec_cli.monitoring.reference import (
        Reference,
        build_reference,
        model_training_folders,
        reference_from_lines,
    )
    from textrec_cli.monitoring.simulate import line_stream

    model = model or settings.BUNDLED_LINE_MODEL
    if not lines_dir and synthetic <= 0 and not from_store:
        raise TextrecError(
            "give --lines-dir DIR (its train split is sampled), --from-store --since T "
            "[--until T] (a known-good period), or --synthetic N"
        )
    if from_store and (lines_dir or synthetic > 0):
        raise TextrecError("--from-store builds from the store alone: drop --lines-dir/--synthetic")
    recognizer = Recognizer(model, "auto") if not from_store else None
    if from_store:
        start, end = parse_time(since), parse_time(until)
        if start is None:
            raise TextrecError("--from-store needs --since (the start of a known-good period)")
        records = _store_records(store, start, end)
        if len(records) < 100:
            raise TextrecError(
                f"only {len(records)} stored prediction(s) between {since} and {until or 'now'}; "
                "a reference needs at least 100"
            )
        versions = sorted({r.model_version for r in records})
        reference = Reference.from_records(
            records, ",".join(versions), f"{len(records)} stored predictions {since}..{until}",
            describes={"store_period": [since, until], "synthetic_lines": 0}, seed=seed,
        )  # fmt: skip
    elif lines_dir and synthetic <= 0:
        reference = reference_from_lines(
            recognizer, list(lines_dir), count, seed,
            trained_folders=model_training_folders(model),
        )  # fmt: skip
    else:
        images, sources = [], []
        if lines_dir:
            from textrec_cli.image_io import load_image
            from textrec_cli.monitoring.line_sample import labeled_lines, sample_documents

            lines = [x for folder in lines_dir for x in labeled_lines(folder, ("train",))]
            images += [load_image(x.path) for x in sample_documents(lines, count, 25, seed)]
            sources.append(f"{len(images)} train lines of {', '.join(p.name for p in lines_dir)}")
        fonts = fonts_dir or settings.fonts_dir()
        if fonts is None:
            raise TextrecError("--synthetic needs fonts: pass --fonts-dir")
        images += list(itertools.islice(line_stream(fonts, "none", seed), synthetic))
        sources.append(f"{synthetic} synthetic lines")
        reference = build_reference(recognizer, images, "; ".join(sources))
        reference.describes["synthetic_lines"] = synthetic
    path = reference.save(output or Path(model) / "reference.json")
    summary = {"reference": str(path), "count": reference.count, "source": reference.source,
               "model_version": reference.model_version,
               "report_only": reference.report_only}  # fmt: skip
    if calibrate and lines_dir and recognizer is not None:
        from textrec_cli.monitoring.accuracy import CALIBRATION_FILE, calibration_from_lines
        from textrec_cli.monitoring.line_sample import labeled_lines

        if any(labeled_lines(folder, ("val",)) for folder in lines_dir):
            calibration = calibration_from_lines(recognizer, list(lines_dir))
            summary["calibration"] = str(calibration.save(path.parent / CALIBRATION_FILE))
            summary["validation_cer"] = calibration.baseline_cer
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        err.print(f"[green]✓[/green] reference of {reference.count} lines saved to {path}")
        if reference.report_only:
            err.print(
                f"  the model trained on these lines: {', '.join(reference.report_only)} "
                "reported, not tested (the CER estimate watches confidence)",
                highlight=False,
            )
        if "calibration" in summary:
            err.print(
                f"[green]✓[/green] CER calibration (validation CER "
                f"{summary['validation_cer']:.3f}) saved to {summary['calibration']}"
            )


def _cer_history(calibration, records, window: int, margin: float, block: int) -> list[dict]:
    """The estimated CER of consecutive windows (oldest first), for the plot."""
    from textrec_cli.monitoring.accuracy import estimate_cer

    points = []
    for end in range(len(records), 0, -window):
        part = records[max(0, end - window) : end]
        if len(part) < min(20, window):
            break
        point = estimate_cer(calibration, part, margin, block)
        point["window_end"] = max(r.timestamp for r in part)
        points.append(point)
    return points[::-1]


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
            float, typer.Option(help="Smallest KS distance that counts as drift.")
        ] = 0.1,
        block: Annotated[
            int,
            typer.Option(help="Lines per assumed document when records name none (server)."),
        ] = 20,
        calibration: Annotated[
            Path | None,
            typer.Option(help="CER calibration.json (default: beside the reference)."),
        ] = None,
        cer_margin: Annotated[
            float,
            typer.Option(help="Alert when the estimated CER exceeds the validation CER by this."),
        ] = 0.05,
        plot: Annotated[
            Path | None,
            typer.Option(help="Write PNGs here: histograms and the estimated CER over time."),
        ] = None,
        alert_file: Annotated[
            Path | None,
            typer.Option(help="Alert JSON (default DATA_DIR/monitoring/alerts/drift-TIME.json)."),
        ] = None,
        alert_url: Annotated[
            str | None, typer.Option(help="POST the alert JSON to this webhook.")
        ] = None,
        fail_on_drift: Annotated[
            bool, typer.Option(help="Exit with status 3 on an alert (for cron/CI).")
        ] = False,
        build_reference: Annotated[
            bool,
            typer.Option(
                "--build-reference",
                help="Build reference.json (and calibration.json from val lines) for --model.",
            ),
        ] = False,
        model: Annotated[
            Path | None, typer.Option(help="--build-reference: model folder (default bundled).")
        ] = None,
        lines_dir: Annotated[
            list[Path] | None,
            typer.Option(help="--build-reference: real_lines folder (train rows; repeatable)."),
        ] = None,
        from_store: Annotated[
            bool,
            typer.Option("--from-store", help="--build-reference from stored predictions."),
        ] = False,
        since: Annotated[
            str | None,
            typer.Option(help="--from-store: period start (ISO 8601 or unix seconds)."),
        ] = None,
        until: Annotated[
            str | None, typer.Option(help="--from-store: period end (default now).")
        ] = None,
        synthetic: Annotated[
            int, typer.Option(help="--build-reference: also N synthetic lines from fonts.")
        ] = 0,
        count: Annotated[
            int, typer.Option(help="--build-reference: training lines to sample.")
        ] = 3000,
        calibrate: Annotated[
            bool, typer.Option(help="--build-reference: also fit the CER calibration.")
        ] = True,
        fonts_dir: Annotated[Path | None, typer.Option(help="Fonts for --synthetic.")] = None,
        seed: int = 0,
        output: Annotated[
            Path | None,
            typer.Option(help="--build-reference: where (default MODEL/reference.json)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Drift check: recent predictions vs the reference (documents resampled), estimated CER."""
        if build_reference:
            _build_reference(
                model, lines_dir, synthetic, count, fonts_dir, seed, output, as_json,
                from_store, store, since, until, calibrate,
            )  # fmt: skip
            return
        from textrec_cli.monitoring.accuracy import estimate_cer, load_calibration
        from textrec_cli.monitoring.alerts import fire_alert
        from textrec_cli.monitoring.describe import summary_sentence
        from textrec_cli.monitoring.drift import detect_drift
        from textrec_cli.monitoring.observer import reference_version
        from textrec_cli.monitoring.reference import load_reference, reference_path
        from textrec_cli.monitoring.store import open_store

        if window < 1:
            raise TextrecError("--window must be positive")
        if block < 1:
            raise TextrecError("--block must be positive")
        ref_source = reference or settings.BUNDLED_LINE_MODEL
        ref = load_reference(ref_source)
        cal = load_calibration(calibration or reference_path(ref_source).parent)
        if calibration is not None and cal is None:
            raise TextrecError(f"no calibration file at {calibration}")
        since_time = time.time() - since_hours * 3600 if since_hours is not None else None
        history_windows = 12 if plot else 1
        with open_store(store) as opened:
            history = opened.recent(window * history_windows, since_time, reference_version(ref))
        records = history[-window:]
        if not records:
            raise TextrecError(
                f"no predictions of model {ref.model_version} in the window: log some with "
                "`textrec predict --log` or the server first"
            )
        report = detect_drift(ref, records, alpha, min_effect, min(20, window), block)
        if cal is not None:
            report.accuracy = estimate_cer(cal, records, cer_margin, block)
            report.summary = summary_sentence(report)
        alert = None
        if report.alerted:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            alert_path = alert_file or settings.data_dir() / "monitoring" / "alerts" / (
                f"drift-{stamp}.json"
            )
            alert = fire_alert(report, alert_path, alert_url)
            err.print(
                f"[bold red]drift alert[/bold red]: {report.summary} (alert written to {alert_path}"
                + (f"; webhook {alert['webhook']}" if alert_url else "") + ")",
                highlight=False,
            )  # fmt: skip
        plots = []
        if plot:
            from textrec_cli.monitoring.plots import plot_cer_over_time, plot_histograms

            plots.append(str(plot_histograms(ref, records, report, plot / "drift_histograms.png")))
            if cal is not None:
                points = _cer_history(cal, history, window, cer_margin, block)
                plots.append(str(plot_cer_over_time(points, plot / "estimated_cer.png")))
        if as_json:
            payload = report.to_dict()
            payload["alert"] = {k: v for k, v in alert.items() if k != "report"} if alert else None
            payload["plots"] = plots
            print(json.dumps(payload, ensure_ascii=False))
        else:
            _print_report(report)
            for path in plots:
                err.print(f"plot written to {path}", highlight=False)
        if report.alerted and fail_on_drift:
            raise typer.Exit(3)
