"""`textrec evaluate`: score a model on characters, lines or pages; a JSON report and tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from textrec_cli import settings
from textrec_cli.cli_support import (
    DataDir,
    LanguageModel,
    err,
    out,
    print_mapping_table,
    user_errors,
)
from textrec_cli.data import registry
from textrec_cli.errors import TextrecError


def register(app: typer.Typer) -> None:
    app.command()(evaluate)


@user_errors
def evaluate(
    model: Annotated[
        Path | None, typer.Argument(help="Model folder (default: the bundled model for the data).")
    ] = None,
    dataset: Annotated[
        str,
        typer.Option(
            help=f"{', '.join(registry.names('char'))}, real_pages (--lines-dir: page folder), "
            f"or a line dataset: {', '.join(registry.names('line'))}"
        ),
    ] = "synthetic_chars",
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    lines_dir: Annotated[
        list[Path] | None,
        typer.Option(help="real_lines: folder with labels.tsv or a pack file (repeatable)."),
    ] = None,
    fonts_dir: Annotated[Path | None, typer.Option(help="Fonts for synthetic_handwriting.")] = None,
    limit: Annotated[int | None, typer.Option(help="Lines: score at most this many.")] = None,
    worst_dir: Annotated[
        Path | None, typer.Option(help="Lines: dump the worst lines (image + text) here.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(help="JSON report path (default reports/eval-DATASET-SPLIT.json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    lm: LanguageModel = None,
    data_dir: DataDir = None,
) -> None:
    """Score a model: accuracy and confusions for characters, CER/WER for lines; JSON report."""
    output = output or Path("reports") / f"eval-{dataset}-{split}.json"
    data_dir = data_dir or settings.data_dir()
    if dataset == "real_pages":
        from textrec_cli.evaluation.page_eval import evaluate_page_folder

        report = evaluate_page_folder(
            model,
            lines_dir[0] if lines_dir else None,
            split,
            limit,
            output,
            worst_dir or output.with_suffix("").with_name(output.stem + "-worst"),
        )
        if as_json:
            print(json.dumps(report, ensure_ascii=False))
            return
        keys = (
            "model",
            "pages",
            "true_lines",
            "detected_lines",
            "precision",
            "recall",
            "f1",
            "line_cer",
            "page_cer",
            "seconds_per_page",
        )
        print_mapping_table("page evaluation", {k: report[k] for k in keys})
        err.print(f"report written to {output}; worst pages drawn in {report['worst_dir']}")
        return
    lines = dataset in registry.names("line")
    if lines:
        from textrec_cli.evaluation.line_eval import evaluate_lines
        from textrec_cli.inference.line_reader import LineReader
        from textrec_cli.inference.recognizer import load_reader

        reader = load_reader(model or settings.BUNDLED_LINE_MODEL, lm)
        if not isinstance(reader, LineReader):
            raise TextrecError(f"{model} is a character model; {dataset} holds lines")
        report = evaluate_lines(
            reader,
            dataset,
            split,
            data_dir,
            lines_dir,
            fonts_dir or settings.fonts_dir(),
            limit,
            output,
            worst_dir,
        )
        keys = ("model", "dataset", "split", "lines", "cer", "wer", "exact_match", "ms_per_line")
    else:
        from textrec_cli.evaluation.evaluate import evaluate as run_evaluation

        report = run_evaluation(model, dataset, split, data_dir, output)
        keys = (
            "model",
            "dataset",
            "split",
            "samples",
            "accuracy",
            "merged_accuracy",
            "chars_per_second",
        )
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return
    print_mapping_table("evaluation", {k: report[k] for k in keys})
    if lines:
        from rich.table import Table

        table = Table(title="worst lines")
        for column in ("cer", "reference", "read"):
            table.add_column(column)
        for row in report["worst"][:10]:
            table.add_row(f"{row['cer']:.2f}", row["ref"], row["hyp"])
        out.print(table)
    else:
        _print_char_confusions(report)
    err.print(f"report written to {output}")


def _print_char_confusions(report: dict) -> None:
    from rich.table import Table

    worst = sorted(report["per_class"].items(), key=lambda kv: kv[1]["accuracy"])[:10]
    table = Table(title="weakest classes / most confused")
    for column in ("class", "accuracy", "support", "true → predicted", "count"):
        table.add_column(column)
    pairs = report["most_confused"]
    for i in range(max(len(worst), len(pairs))):
        cls = worst[i] if i < len(worst) else None
        pair = pairs[i] if i < len(pairs) else None
        table.add_row(
            cls[0] if cls else "",
            f"{cls[1]['accuracy']:.3f}" if cls else "",
            str(cls[1]["support"]) if cls else "",
            f"{pair['true']} → {pair['predicted']}" if pair else "",
            str(pair["count"]) if pair else "",
        )
    out.print(table)
