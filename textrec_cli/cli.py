"""The `textrec` command: a thin Typer shell over the library (every command works from Python).

Heavy imports (TensorFlow, W&B, rich tables) happen inside commands, the command modules load
only when one of their commands is asked for, and `main` builds only the invoked command: a
`textrec predict` is one model's start-up, not the whole CLI's (benchmarks/cli_startup.py).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import typer  # noqa: E402
from typer.core import TyperCommand, TyperGroup  # noqa: E402

from textrec_cli import __version__, settings  # noqa: E402
from textrec_cli.cli_support import DataDir, LanguageModel, err, out, user_errors  # noqa: E402
from textrec_cli.data import registry  # noqa: E402
from textrec_cli.errors import InputError, TextrecError  # noqa: E402


class _LazyCommands(TyperGroup):
    """`app`'s group: the commands of COMMAND_MODULES are imported and built only when a command
    cli.py does not define is asked for, or when all are listed (--help). Importing them all
    pulled in rich tables, the LM builder and the page stems for every `predict`."""

    _loaded = False

    def get_command(self, ctx: typer.Context, cmd_name: str) -> TyperCommand | TyperGroup | None:
        if cmd_name not in self.commands:
            self._load_modules()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: typer.Context) -> list[str]:
        self._load_modules()
        return super().list_commands(ctx)

    def _load_modules(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        modules = typer.Typer(pretty_exceptions_enable=False)
        for name in COMMAND_MODULES:
            importlib.import_module(name).register(modules)
        for name, command in typer.main.get_group(modules).commands.items():
            self.commands.setdefault(name, command)


app = typer.Typer(
    cls=_LazyCommands,
    name="textrec",
    help="Handwriting recognition: download, synthesize, train, evaluate, predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


@app.command("synth-lines")
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
        data_dir or settings.data_dir(), char_dataset=char_dataset, count=count,
        max_length=max_length, seed=seed,
    )  # fmt: skip
    err.print(f"[green]✓[/green] emnist_lines ready: {path}")


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


def _select_backend(backend: str) -> None:
    """Set KERAS_BACKEND before Keras loads; saved models load on any backend afterwards."""
    import importlib.util

    if backend not in ("tensorflow", "jax", "torch"):
        raise TextrecError(f"--backend must be tensorflow, jax or torch, not {backend!r}")
    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise TextrecError(f"Keras is already loaded with the {current} backend")
        return
    if importlib.util.find_spec(backend) is None:
        raise TextrecError(f"--backend {backend}: the {backend} package is not installed")
    os.environ["KERAS_BACKEND"] = backend


def _parse_mix(mix: str | None, dataset: str) -> dict[str, float]:
    """`--mix synthetic_handwriting=0.35,real_lines=0.65`; a single dataset is weight 1."""
    if dataset != "mix":
        return {dataset: 1.0}
    if not mix:
        return {"synthetic_handwriting": 0.35, "real_lines": 0.65}
    weights = {}
    for part in mix.split(","):
        name, _, value = part.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise TextrecError(f"--mix entries look like name=weight, got {part!r}") from None
    return weights


def _parse_model_options(items: list[str] | None) -> dict[str, object]:
    """KEY=VALUE pairs; values are JSON when they parse (numbers, lists), else strings."""
    options: dict[str, object] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TextrecError(f"--model-option wants KEY=VALUE, got {item!r}")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def _parse_page_mix(mix: str | None, dataset: str) -> dict[str, float]:
    """Page datasets for the detector; `mix` defaults to real pages with synthetic variety."""
    if dataset == "mix" and not mix:
        return {"real_pages": 0.7, "synthetic_pages": 0.3}
    return _parse_mix(mix, dataset)


@app.command()
@user_errors
def train(
    model: Annotated[
        str,
        typer.Option(
            help="mlp, lenet, cnn (characters); line_cnn, crnn, line_tcn, transformer (lines); "
            "line_detector (pages)."
        ),
    ] = "cnn",
    dataset: Annotated[
        str,
        typer.Option(
            help=f"Characters: {', '.join(registry.names('char'))}. Lines: "
            f"{', '.join(registry.names('line'))}, or mix (see --mix). Pages: "
            f"{', '.join(registry.names('page'))}, mix (--lines-dir: page folders, repeatable; "
            "default ../shared/data/copiste/pages)."
        ),
    ] = "synthetic_chars",
    epochs: int = 10,
    batch_size: Annotated[int | None, typer.Option(help="Default 128 (chars), 32 (lines).")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate (cosine decay).")] = None,
    balance: Annotated[str, typer.Option(help="Chars: sampling | weights | none")] = "sampling",
    augment: Annotated[float, typer.Option(help="Augmentation strength, 0 = off.")] = 1.0,
    patience: Annotated[int, typer.Option(help="Early-stopping patience (epochs).")] = 4,
    seed: int = 0,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from this model's weights (chars: same architecture; lines: the "
            "leading layers that match, e.g. a crnn's front end for line_tcn; line_detector: "
            "a detector folder to fine-tune)."
        ),
    ] = None,
    max_train_samples: Annotated[int | None, typer.Option(help="Subsample training set.")] = None,
    lines_dir: Annotated[
        list[Path] | None,
        typer.Option(help="Lines: folder with labels.tsv or a `textrec pack` file (repeatable)."),
    ] = None,
    mix: Annotated[
        str | None,
        typer.Option(help="Lines: weights, e.g. synthetic_handwriting=0.35,real_lines=0.65"),
    ] = None,
    steps_per_epoch: Annotated[int, typer.Option(help="Lines: batches per epoch.")] = 200,
    curriculum_epochs: Annotated[
        int, typer.Option(help="Lines: synthetic-first warm-in epochs.")
    ] = 0,
    time_budget: Annotated[
        float | None,
        typer.Option(help="Lines: train for this many seconds (LR decays to the end)."),
    ] = None,
    val_lines: Annotated[int, typer.Option(help="Lines: validation lines per source.")] = 400,
    freeze_encoder: Annotated[
        bool,
        typer.Option(help="transformer: train the decoder only (encoder from --init-from)."),
    ] = False,
    fonts_dir: Annotated[Path | None, typer.Option(help="Fonts for synthetic data.")] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue the run in --output: a fast-recipe run from its state.h5 (its saved "
            "config; only --time-budget applies), others from checkpoints/last.keras."
        ),
    ] = False,
    model_option: Annotated[
        list[str] | None,
        typer.Option(
            help="Lines: builder option KEY=VALUE (JSON value), e.g. frontend=strided, units=320 "
            "(repeatable)."
        ),
    ] = None,
    recipe: Annotated[
        str,
        typer.Option(
            help="CTC line models: fit (keras fit, synthesis per step) or fast (pre-rendered "
            "synthesis, width buckets, one resumable state file; ~4x the lines/s on a CPU)."
        ),
    ] = "fit",
    synthetic_lines: Annotated[
        int, typer.Option(help="Fast recipe: synthetic lines rendered once (cached).")
    ] = 20000,
    schedule: Annotated[
        str, typer.Option(help="Fast recipe: cosine (to the last step) or rsqrt (no end).")
    ] = "cosine",
    warmup_steps: Annotated[
        int, typer.Option(help="Fast recipe: LR warm-up steps (rsqrt: also its decay scale).")
    ] = 300,
    output: Annotated[Path | None, typer.Option(help="Run directory.")] = None,
    wandb: Annotated[bool, typer.Option("--wandb/--no-wandb", help="Log to W&B.")] = True,
    backend: Annotated[
        str | None, typer.Option(help="Keras backend: tensorflow (default), jax or torch.")
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            help="default (one device), mirrored (all GPUs of this machine) or multiworker "
            "(machines in TF_CONFIG); --batch-size is global, split across replicas."
        ),
    ] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Train a model; saves model + metadata into a run directory."""
    if backend:
        _select_backend(backend)
    from textrec_cli.models import DETECTOR_MODELS, LINE_MODELS
    from textrec_cli.training.distribute import strategy_scope

    if epochs < 1 or (batch_size is not None and batch_size < 1):
        raise TextrecError("--epochs and --batch-size must be positive")
    run_dir = output or settings.runs_dir() / f"{model}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    data_dir = data_dir or settings.data_dir()
    if resume and output and (output / "state.h5").is_file():  # a fast-recipe run: its own config
        from textrec_cli.training.line_loop import config_from_state, train_lines_fast

        metrics = train_lines_fast(
            config_from_state(output / "state.h5", time_budget), data_dir, run_dir,
            fonts_dir or settings.fonts_dir(), wandb, resume=True,
        )  # fmt: skip
        if as_json:
            print(json.dumps({"run_dir": str(run_dir), "metrics": metrics}))
        else:
            err.print(f"[green]✓[/green] run state saved in {run_dir}")
        return
    if model in DETECTOR_MODELS:
        from textrec_cli.training.detector_train import DetectorTrainConfig, train_detector

        config = DetectorTrainConfig(
            model=model, mix=_parse_page_mix(mix, dataset),
            pages_dirs=[str(p) for p in lines_dir or []], epochs=epochs,
            steps_per_epoch=steps_per_epoch, batch_size=batch_size or 4, learning_rate=lr or 2e-3,
            augment=augment, patience=patience, time_budget=time_budget, seed=seed,
            max_pages=max_train_samples, init_from=str(init_from) if init_from else None,
        )  # fmt: skip
        with strategy_scope(strategy):
            metrics = train_detector(config, run_dir, wandb, resume)
    elif model in LINE_MODELS:
        from textrec_cli.training.line_train import LineTrainConfig, train_lines

        config = LineTrainConfig(
            model=model, mix=_parse_mix(mix, dataset), lines_dirs=[str(p) for p in lines_dir or []],
            epochs=epochs, steps_per_epoch=steps_per_epoch, batch_size=batch_size or 32,
            learning_rate=lr or 1e-3, augment=augment, patience=patience, seed=seed,
            curriculum_epochs=curriculum_epochs, time_budget=time_budget, val_lines=val_lines,
            init_from=str(init_from) if init_from else None, freeze_encoder=freeze_encoder,
            recipe=recipe, synthetic_lines=synthetic_lines, schedule=schedule,
            warmup_steps=warmup_steps,
            model_options=_parse_model_options(model_option),
        )  # fmt: skip
        if recipe not in ("fit", "fast"):
            raise TextrecError(f"--recipe must be fit or fast, not {recipe!r}")
        if recipe == "fast":
            from textrec_cli.training.line_loop import train_lines_fast

            metrics = train_lines_fast(
                config, data_dir, run_dir, fonts_dir or settings.fonts_dir(), wandb, resume
            )
        else:
            with strategy_scope(strategy):
                metrics = train_lines(
                    config, data_dir, run_dir, fonts_dir or settings.fonts_dir(), wandb, resume
                )
    else:
        from textrec_cli.training.train import TrainConfig
        from textrec_cli.training.train import train as run_training

        if balance not in ("sampling", "weights", "none"):
            raise TextrecError(f"--balance must be sampling, weights or none, not {balance!r}")
        config = TrainConfig(
            model=model, dataset=dataset, epochs=epochs, batch_size=batch_size or 128,
            learning_rate=lr or 2e-3, balance=balance, augment=augment, patience=patience,
            seed=seed, max_train_samples=max_train_samples,
            init_from=str(init_from) if init_from else None,
        )  # fmt: skip
        with strategy_scope(strategy):
            metrics = run_training(config, data_dir, run_dir, use_wandb=wandb).metrics
    if as_json:
        print(json.dumps({"run_dir": str(run_dir), "metrics": metrics}))
    else:
        err.print(f"[green]✓[/green] model saved to {run_dir}")
        _print_mapping_table("training result", metrics)


def _print_mapping_table(title: str, values: dict) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in values.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@user_errors
def sweep(
    ctx: typer.Context,
    config_path: Annotated[Path, typer.Argument(help="Sweep config in W&B's YAML format.")],
    workers: Annotated[int, typer.Option(help="Trials run in parallel (one GPU each).")] = 2,
    count: Annotated[
        int | None, typer.Option(help="Trials for random sweeps (cap for grid).")
    ] = None,
    online: Annotated[
        bool | None,
        typer.Option("--online/--offline", help="Default: online iff WANDB_API_KEY is set."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Run a hyper-parameter sweep; extra options (e.g. --max-train-samples 100) go to every trial.

    Online, W&B's sweep server picks trials and other machines join with `wandb agent ID`;
    offline, grid/random trials run here as parallel `textrec train` processes.
    """
    from textrec_cli.training.sweep import load_sweep, run_sweep

    if workers < 1:
        raise TextrecError("--workers must be at least 1")
    results = run_sweep(
        load_sweep(config_path), workers, data_dir or settings.data_dir(), settings.runs_dir(),
        count=count, extra_args=list(ctx.args), online=online,
    )  # fmt: skip
    if as_json:
        print(json.dumps(results, ensure_ascii=False))


@app.command()
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
            model, lines_dir[0] if lines_dir else None, split, limit, output,
            worst_dir or output.with_suffix("").with_name(output.stem + "-worst"),
        )  # fmt: skip
        if as_json:
            print(json.dumps(report, ensure_ascii=False))
            return
        keys = ("model", "pages", "true_lines", "detected_lines", "precision", "recall", "f1",
                "line_cer", "page_cer", "seconds_per_page")  # fmt: skip
        _print_mapping_table("page evaluation", {k: report[k] for k in keys})
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
            reader, dataset, split, data_dir, lines_dir, fonts_dir or settings.fonts_dir(),
            limit, output, worst_dir,
        )  # fmt: skip
        keys = ("model", "dataset", "split", "lines", "cer", "wer", "exact_match", "ms_per_line")
    else:
        from textrec_cli.evaluation.evaluate import evaluate as run_evaluation

        report = run_evaluation(model, dataset, split, data_dir, output)
        keys = ("model", "dataset", "split", "samples", "accuracy", "merged_accuracy",
                "chars_per_second")  # fmt: skip
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return
    _print_mapping_table("evaluation", {k: report[k] for k in keys})
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


@app.command()
@user_errors
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, …).")],
    model: Annotated[
        Path | None, typer.Option(help="Model folder (default: the bundled models).")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(help="auto (by image shape: wide = line, large = page), char, line or page."),
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per image on stdout.")
    ] = False,
    log: Annotated[
        bool, typer.Option("--log/--no-log", help="Record each prediction for monitoring.")
    ] = False,
    store: Annotated[
        str | None, typer.Option(help="--log: SQLite path or postgresql:// URL (see monitor).")
    ] = None,
    keep_images: Annotated[
        bool, typer.Option("--keep-images", help="--log: keep the images too (for labeling).")
    ] = False,
    page_format: Annotated[
        str | None,
        typer.Option("--format", help="Also write alto (ALTO v4) or page (PAGE-XML 2019)."),
    ] = None,
    lm: LanguageModel = None,
    output_dir: Annotated[
        Path | None, typer.Option("--output", help="--format: folder (default: beside images).")
    ] = None,
) -> None:
    """Read handwriting from images; many files load each model once and run as one batch."""
    if page_format not in (None, "alto", "page"):
        raise TextrecError(f"--format must be alto or page, not {page_format!r}")
    from textrec_cli.image_io import load_image

    prediction_store = None
    if log:
        from textrec_cli.monitoring.store import ImagePolicy, open_store

        prediction_store = open_store(store, ImagePolicy(keep=keep_images))
    recognizer = _recognizer(model, mode, lm)
    loaded, failures = [], 0
    for path in images:
        try:
            _refuse_link_loop(path)
            loaded.append((str(path), load_image(path)))
        except InputError as exc:
            failures += 1
            _file_error(str(exc))
    started = time.perf_counter()
    answered, refused = _predict_files(recognizer, loaded)
    failures += refused
    loaded = [item for item, _ in answered]
    predictions = [prediction for _, prediction in answered]
    if prediction_store is not None:
        from textrec_cli.monitoring.observer import log_predictions

        latency_ms = (time.perf_counter() - started) * 1000 / max(len(loaded), 1)
        with prediction_store:
            log_predictions(prediction_store, loaded, predictions, latency_ms)
    if page_format:
        _write_page_files(predictions, dict(loaded), page_format, output_dir)
    for prediction in predictions:
        if as_json:
            print(json.dumps(prediction.to_dict(), ensure_ascii=False))
        elif prediction.mode == "page":  # plain print: a reading's "[sic]" is text, not markup
            print(f"{prediction.file}\t{len(prediction.lines or [])} lines\t"
                  f"{prediction.confidence:.3f}\n{prediction.text}")  # fmt: skip
        else:
            print(f"{prediction.file}\t{prediction.text}\t{prediction.confidence:.3f}")
    if failures:
        raise typer.Exit(InputError.exit_code)


def _recognizer(model: Path | None, mode: str, lm: bool | None):
    """LiteRT (no TensorFlow: ~10x faster start, a third of the memory) whenever every model
    this call may need has a LiteRT form; else Keras (attention decoder, ensembles, a model
    folder without an export). Both read the same."""
    from textrec_cli.serving.lite_recognizer import lite_recognizer

    recognizer = lite_recognizer(model, mode, lm)
    if recognizer is None:
        from textrec_cli.inference.quiet import load_keras_quietly

        load_keras_quietly()  # first: no TensorFlow/absl/CUDA lines on stderr
        from textrec_cli.inference.recognizer import Recognizer

        recognizer = Recognizer(model, mode, lm)
    return recognizer


def _file_error(message: str) -> None:
    """One `error:` line for a file `predict` could not answer (the others still are)."""
    err.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)


def _refuse_link_loop(path: Path) -> None:
    """A symlink loop is named as such: load_image would only see a missing file."""
    import errno

    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{path}: symbolic link loop (it never reaches a file)") from None


def _predict_files(recognizer, loaded: list[tuple[str, object]]) -> tuple[list[tuple], int]:
    """((file, image), prediction) pairs in input order, and how many files were refused.

    One batch as usual; if the batch raises InputError (a line over the width limit, found
    before any resize), each file is read alone so that only the hostile one fails."""
    if not loaded:
        return [], 0
    try:
        return list(zip(loaded, recognizer.predict_images(loaded), strict=True)), 0
    except InputError:
        pass
    answered, refused = [], 0
    for item in loaded:
        try:
            [prediction] = recognizer.predict_images([item])
        except InputError as exc:
            refused += 1
            _file_error(f"{item[0]}: {exc}")
            continue
        answered.append((item, prediction))
    return answered, refused


def _write_page_files(predictions, images: dict, fmt: str, output_dir: Path | None) -> None:
    """ALTO / PAGE-XML per image (a line or char image is a page holding one line)."""
    from textrec_cli.data.page_xml import Page, write_page_file

    for prediction in predictions:
        size = images[prediction.file].size
        image_path = Path(prediction.file)
        folder = output_dir or image_path.parent
        target = folder / f"{image_path.stem}.{fmt}.xml"
        write_page_file(Page.of(prediction, size), target, fmt)
        err.print(f"wrote {target}", highlight=False, soft_wrap=True)  # a path is never wrapped


# Commands of other concerns (serving, monitoring, labeling, ...) live beside their code: each
# module has `register(app)`; adding a command group is one line here.
COMMAND_MODULES: tuple[str, ...] = (
    "textrec_cli.serving.commands",
    "textrec_cli.data.commands",
    "textrec_cli.monitoring.commands",
    "textrec_cli.labeling.commands",
    "textrec_cli.language.commands",
    "textrec_cli.reading.commands",
    "textrec_cli.forms.commands",
    "textrec_cli.training.adapt_commands",
)


def _app_for(args: list[str]) -> typer.Typer:
    """`app`, or for a command defined here, a copy of it holding only that command: Typer reads
    every command's signature to build the CLI, a `predict` needs one of them."""
    import copy

    name = next((arg for arg in args if not arg.startswith("-")), None)  # group options: flags
    chosen = [c for c in app.registered_commands if _command_name(c) == name]
    if not chosen:
        return app
    single = copy.copy(app)
    single.registered_commands = chosen
    return single


def _command_name(command: typer.models.CommandInfo) -> str | None:
    if command.name:
        return command.name
    return typer.main.get_command_name(command.callback.__name__) if command.callback else None


def main() -> None:
    _app_for(sys.argv[1:])()


if __name__ == "__main__":
    sys.exit(main())
