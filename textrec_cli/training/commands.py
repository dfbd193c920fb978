"""Training commands: `train` (one model, one run directory) and `sweep` (many runs).

Heavy imports (Keras, the trainers, W&B) happen inside the commands: `--backend` must be set
before Keras loads.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

import typer

from textrec_cli import settings
from textrec_cli.cli_support import DataDir, err, print_mapping_table, user_errors
from textrec_cli.data import registry
from textrec_cli.errors import TextrecError
from textrec_cli.training.configs import (
    Config,
    DetectorTrainConfig,
    LineTrainConfig,
    TrainConfig,
    defaults_help,
    from_options,
)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(sweep)


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


# a config field whose CLI option is spelt otherwise
_FLAGS = {
    "learning_rate": "--lr",
    "lines_dirs": "--lines-dir",
    "pages_dirs": "--lines-dir",
    "max_pages": "--max-train-samples",
    "model_options": "--model-option",
}


def _config(cls: type[Config], kind: str, given: dict[str, Any]) -> Config:
    """`cls` with the options given over its defaults; one the kind has no use for is an error."""
    names = {f.name for f in fields(cls)}
    stray = [name for name, value in given.items() if value is not None and name not in names]
    if stray:
        flags = ", ".join(_FLAGS.get(name, "--" + name.replace("_", "-")) for name in stray)
        raise TextrecError(f"{flags}: not an option for {kind} models")
    return from_options(cls, **{name: value for name, value in given.items() if name in names})


def _run_dir(model: str, data: str) -> Path:
    return settings.runs_dir() / f"{model}-{data}-{time.strftime('%Y%m%d-%H%M%S')}"


@user_errors
def train(
    model: Annotated[
        str,
        typer.Option(
            help="mlp, lenet, cnn (characters); line_cnn, crnn, line_tcn, transformer (lines); "
            "line_detector (pages)."
        ),
    ] = TrainConfig.model,
    dataset: Annotated[
        str | None,
        typer.Option(
            help=f"Characters: {', '.join(registry.names('char'))}. Lines: "
            f"{', '.join(registry.names('line'))}, or mix (see --mix). Pages: "
            f"{', '.join(registry.names('page'))}, mix (--lines-dir: page folders, repeatable; "
            "default ../shared/data/copiste/pages). Default "
            f"{TrainConfig.dataset} (chars), {'+'.join(LineTrainConfig().mix)} (lines), "
            f"{'+'.join(DetectorTrainConfig().mix)} (pages)."
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help=defaults_help("epochs"))] = None,
    batch_size: Annotated[int | None, typer.Option(help=defaults_help("batch_size"))] = None,
    lr: Annotated[
        float | None,
        typer.Option(help="Peak learning rate (cosine decay). " + defaults_help("learning_rate")),
    ] = None,
    balance: Annotated[
        str | None,
        typer.Option(help="Chars: sampling | weights | none. " + defaults_help("balance", "chars")),
    ] = None,
    augment: Annotated[
        float | None,
        typer.Option(help="Augmentation strength, 0 = off. " + defaults_help("augment")),
    ] = None,
    patience: Annotated[
        int | None,
        typer.Option(help="Early-stopping patience (epochs). " + defaults_help("patience")),
    ] = None,
    seed: Annotated[int | None, typer.Option(help=defaults_help("seed"))] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from this model's weights (chars: same architecture; lines: the "
            "leading layers that match, e.g. a crnn's front end for line_tcn; line_detector: "
            "a detector folder to fine-tune)."
        ),
    ] = None,
    max_train_samples: Annotated[
        int | None, typer.Option(help="Chars, pages: subsample the training set.")
    ] = None,
    lines_dir: Annotated[
        list[Path] | None,
        typer.Option(help="Lines: folder with labels.tsv or a `textrec pack` file (repeatable)."),
    ] = None,
    mix: Annotated[
        str | None,
        typer.Option(help="Lines, pages: weights, e.g. synthetic_handwriting=0.35,real_lines=0.65"),
    ] = None,
    steps_per_epoch: Annotated[
        int | None,
        typer.Option(
            help="Lines, pages: batches per epoch. "
            + defaults_help("steps_per_epoch", "lines", "pages")
        ),
    ] = None,
    curriculum_epochs: Annotated[
        int | None,
        typer.Option(
            help="Lines: synthetic-first warm-in epochs. "
            + defaults_help("curriculum_epochs", "lines")
        ),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(help="Train for this many seconds (LR decays to the end)."),
    ] = None,
    val_lines: Annotated[
        int | None,
        typer.Option(
            help="Lines: validation lines per source. " + defaults_help("val_lines", "lines")
        ),
    ] = None,
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
            help="Builder option KEY=VALUE (JSON value), e.g. frontend=strided, units=320 "
            "(repeatable)."
        ),
    ] = None,
    recipe: Annotated[
        str | None,
        typer.Option(
            help="CTC line models: fit (keras fit, synthesis per step) or fast (pre-rendered "
            "synthesis, width buckets, one resumable state file; ~4x the lines/s on a CPU). "
            + defaults_help("recipe", "lines")
        ),
    ] = None,
    synthetic_lines: Annotated[
        int | None,
        typer.Option(
            help="Fast recipe: synthetic lines rendered once (cached). "
            + defaults_help("synthetic_lines", "lines")
        ),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            help="Fast recipe: cosine (to the last step) or rsqrt (no end). "
            + defaults_help("schedule", "lines")
        ),
    ] = None,
    warmup_steps: Annotated[
        int | None,
        typer.Option(
            help="Fast recipe: LR warm-up steps (rsqrt: also its decay scale). "
            + defaults_help("warmup_steps", "lines")
        ),
    ] = None,
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
    """Train a model; saves model + metadata into a run directory.

    Options left out take the model kind's defaults (`training/configs.py`)."""
    if backend:
        _select_backend(backend)
    from textrec_cli.models import DETECTOR_MODELS, LINE_MODELS

    if (epochs is not None and epochs < 1) or (batch_size is not None and batch_size < 1):
        raise TextrecError("--epochs and --batch-size must be positive")
    data_dir = data_dir or settings.data_dir()
    if resume and output and (output / "state.h5").is_file():  # a fast-recipe run: its own config
        from textrec_cli.training.line_loop import config_from_state, train_lines_fast

        metrics = train_lines_fast(
            config_from_state(output / "state.h5", time_budget),
            data_dir,
            output,
            fonts_dir or settings.fonts_dir(),
            wandb,
            resume=True,
        )
        if as_json:
            print(json.dumps({"run_dir": str(output), "metrics": metrics}))
        else:
            err.print(f"[green]✓[/green] run state saved in {output}")
        return
    # every option by its config field; those left out (None) keep the kind's default
    given = {
        "model": model,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": lr,
        "balance": balance,
        "augment": augment,
        "patience": patience,
        "time_budget": time_budget,
        "seed": seed,
        "init_from": str(init_from) if init_from else None,
        "max_train_samples": max_train_samples,
        "lines_dirs": [str(p) for p in lines_dir] if lines_dir else None,
        "model_options": _parse_model_options(model_option) or None,
        "steps_per_epoch": steps_per_epoch,
        "curriculum_epochs": curriculum_epochs,
        "val_lines": val_lines,
        "freeze_encoder": freeze_encoder or None,
        "recipe": recipe,
        "synthetic_lines": synthetic_lines,
        "schedule": schedule,
        "warmup_steps": warmup_steps,
    }
    if model in DETECTOR_MODELS:
        from textrec_cli.training.detector_train import train_detector

        given["mix"] = _parse_page_mix(mix, dataset or "mix") if dataset or mix else None
        given["pages_dirs"] = given.pop("lines_dirs")  # --lines-dir: page folders here
        given["max_pages"] = given.pop("max_train_samples")
        config = _config(DetectorTrainConfig, "page", given)
        run_dir = output or _run_dir(model, dataset or "+".join(config.mix))
        metrics = train_detector(config, run_dir, wandb, resume, strategy)
    elif model in LINE_MODELS:
        from textrec_cli.training.line_train import train_lines

        given["mix"] = _parse_mix(mix, dataset or "mix") if dataset or mix else None
        config = _config(LineTrainConfig, "line", given)
        if config.recipe not in ("fit", "fast"):
            raise TextrecError(f"--recipe must be fit or fast, not {config.recipe!r}")
        run_dir = output or _run_dir(model, dataset or "+".join(config.mix))
        fonts = fonts_dir or settings.fonts_dir()
        if config.recipe == "fast":
            from textrec_cli.training.line_loop import train_lines_fast

            metrics = train_lines_fast(config, data_dir, run_dir, fonts, wandb, resume)
        else:
            metrics = train_lines(config, data_dir, run_dir, fonts, wandb, resume, strategy)
    else:
        from textrec_cli.training.train import train as run_training

        config = _config(TrainConfig, "char", {**given, "dataset": dataset, "mix": mix})
        if config.balance not in ("sampling", "weights", "none"):
            raise TextrecError(
                f"--balance must be sampling, weights or none, not {config.balance!r}"
            )
        run_dir = output or _run_dir(model, config.dataset)
        metrics = run_training(config, data_dir, run_dir, wandb, resume, strategy).metrics
    if as_json:
        print(json.dumps({"run_dir": str(run_dir), "metrics": metrics}))
    else:
        err.print(f"[green]✓[/green] model saved to {run_dir}")
        print_mapping_table("training result", metrics)


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
        load_sweep(config_path),
        workers,
        data_dir or settings.data_dir(),
        settings.runs_dir(),
        count=count,
        extra_args=list(ctx.args),
        online=online,
    )
    if as_json:
        print(json.dumps(results, ensure_ascii=False))
