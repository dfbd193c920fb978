"""The `textrec` command: a thin Typer shell over the library (every command works from Python).

Heavy imports (TensorFlow, W&B) happen inside commands so `textrec --help` stays instant.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from textrec_cli import __version__, settings  # noqa: E402
from textrec_cli.errors import InputError, TextrecError  # noqa: E402

app = typer.Typer(
    name="textrec",
    help="Handwriting recognition: download, synthesize, train, evaluate, predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data root (default $TEXTREC_DATA_DIR or ./data)."),
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


def _version(value: bool) -> None:
    if value:
        out.print(f"textrec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """textrec: read handwriting from images."""


@app.command()
@user_errors
def download(
    dataset: Annotated[str, typer.Argument(help="Dataset to fetch: emnist.")],
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Use this archive on disk instead of the network."),
    ] = None,
    subset: Annotated[str, typer.Option(help="EMNIST subset: byclass, balanced, …")] = "byclass",
    data_dir: DataDir = None,
) -> None:
    """Download a dataset (checksum-verified, resumable) and process it into HDF5."""
    from textrec_cli.data import dataset_module

    data_dir = data_dir or settings.data_dir()
    if dataset == "synthetic_chars":
        raise TextrecError("synthetic_chars is rendered locally: run `textrec synth-chars`")
    module = dataset_module(dataset)
    if not hasattr(module, "raw_path"):
        raise TextrecError(f"dataset {dataset!r} has nothing to download")
    path = module.prepare(data_dir, source=source, subset=subset)
    err.print(f"[green]✓[/green] {dataset} ready: {path}")


@app.command("synth-chars")
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


@app.command()
@user_errors
def train(
    model: Annotated[str, typer.Option(help="Architecture: mlp, lenet, cnn.")] = "cnn",
    dataset: Annotated[str, typer.Option(help="emnist or synthetic_chars.")] = "synthetic_chars",
    epochs: int = 10,
    batch_size: int = 128,
    lr: Annotated[float, typer.Option(help="Peak learning rate (cosine decay).")] = 2e-3,
    balance: Annotated[str, typer.Option(help="sampling | weights | none")] = "sampling",
    augment: Annotated[float, typer.Option(help="Augmentation strength, 0 = off.")] = 1.0,
    patience: Annotated[int, typer.Option(help="Early-stopping patience (epochs).")] = 4,
    seed: int = 0,
    max_train_samples: Annotated[int | None, typer.Option(help="Subsample training set.")] = None,
    output: Annotated[Path | None, typer.Option(help="Run directory.")] = None,
    wandb: Annotated[bool, typer.Option("--wandb/--no-wandb", help="Log to W&B.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Train a character model; saves model + metadata into a run directory."""
    from textrec_cli.training.train import TrainConfig
    from textrec_cli.training.train import train as run_training

    if balance not in ("sampling", "weights", "none"):
        raise TextrecError(f"--balance must be sampling, weights or none, not {balance!r}")
    if epochs < 1 or batch_size < 1:
        raise TextrecError("--epochs and --batch-size must be positive")
    config = TrainConfig(
        model=model,
        dataset=dataset,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=lr,
        balance=balance,
        augment=augment,
        patience=patience,
        seed=seed,
        max_train_samples=max_train_samples,
    )
    run_dir = output or settings.runs_dir() / f"{model}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    result = run_training(config, data_dir or settings.data_dir(), run_dir, use_wandb=wandb)
    if as_json:
        print(json.dumps({"run_dir": str(result.run_dir), "metrics": result.metrics}))
    else:
        err.print(f"[green]✓[/green] model saved to {result.run_dir}")
        _print_mapping_table("training result", result.metrics)


def _print_mapping_table(title: str, values: dict) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in values.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)


@app.command()
@user_errors
def evaluate(
    model: Annotated[
        Path | None, typer.Argument(help="Model folder (default: the bundled model).")
    ] = None,
    dataset: Annotated[str, typer.Option(help="Dataset to score on.")] = "synthetic_chars",
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    output: Annotated[
        Path | None,
        typer.Option(help="JSON report path (default reports/eval-DATASET-SPLIT.json)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Accuracy, per-class accuracy and most-confused pairs, as a table and a JSON report."""
    from textrec_cli.evaluation.evaluate import evaluate as run_evaluation

    output = output or Path("reports") / f"eval-{dataset}-{split}.json"
    report = run_evaluation(model, dataset, split, data_dir or settings.data_dir(), output)
    if as_json:
        print(json.dumps(report))
        return
    summary = {
        k: report[k]
        for k in (
            "model",
            "dataset",
            "split",
            "samples",
            "accuracy",
            "merged_accuracy",
            "chars_per_second",
        )
    }
    _print_mapping_table("evaluation", summary)
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
    err.print(f"report written to {output}")


@app.command()
@user_errors
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, …).")],
    model: Annotated[
        Path | None, typer.Option(help="Model folder (default: the bundled model).")
    ] = None,
    mode: Annotated[str, typer.Option(help="auto or char.")] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per image on stdout.")
    ] = False,
) -> None:
    """Read handwriting from images; many files load the model once and run as one batch."""
    from textrec_cli.inference.image_io import load_image
    from textrec_cli.inference.predictor import load_predictor

    if mode not in ("auto", "char"):
        raise TextrecError(
            f"--mode must be auto or char, not {mode!r} (line mode comes with line models)"
        )
    loaded, failures = [], 0
    for path in images:
        try:
            loaded.append((str(path), load_image(path)))
        except InputError as exc:
            failures += 1
            err.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
    if loaded:
        predictor = load_predictor(model)
        for prediction in predictor.predict_images(loaded):
            if as_json:
                print(json.dumps(prediction.to_dict(), ensure_ascii=False))
            else:
                out.print(
                    f"{prediction.file}\t{prediction.text}\t{prediction.confidence:.3f}",
                    highlight=False,
                )
    if failures:
        raise typer.Exit(InputError.exit_code)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
