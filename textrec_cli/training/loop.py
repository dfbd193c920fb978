"""The one keras-fit training skeleton that the char, line (fit) and detector trainers plug into.

A trainer brings what is its own as a `FitPlan` (data, how to build and compile its model, what
to monitor); `fit_run` does the rest the same way for all: the run folder, resuming from
`checkpoints/last.keras`, the time budget, early stopping and checkpoints, W&B, and the best
weights reloaded at the end. `finish_run` saves the model folder (the fast line recipe,
`line_loop`, steps by hand with its own state file and shares only this).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from textrec_cli.fileio import atomic_path, write_json
from textrec_cli.progress import stderr_console

LAST, BEST, STATE = "last.keras", "best.keras", "state.json"  # under RUN/checkpoints


class FitConfig(Protocol):
    """The config fields the skeleton reads (every `configs` dataclass has them)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]
    model: str
    epochs: int
    learning_rate: float
    patience: int
    time_budget: float | None


@dataclass
class FitPlan:
    """What a trainer brings: its model (built fresh unless resuming), loss and data."""

    build: Callable[[], Any]
    compile: Callable[[Any, Any], None]  # (model, learning rate: a schedule or a float)
    schedule: Any  # the learning-rate schedule of a run without a time budget
    train_data: Any
    steps_per_epoch: int
    monitor: str  # the metric that picks the best checkpoint and stops early
    mode: str = "min"
    val_data: Any = None
    callbacks: list[Any] = field(default_factory=list)  # run first: may add metrics to the logs
    fit_options: dict[str, Any] = field(default_factory=dict)
    tracked: dict[str, Any] = field(default_factory=dict)  # logged to W&B beside the config
    describe: str = ""  # the data, for the line that says what is being trained


@dataclass
class FitOutcome:
    model: Any  # with the best checkpoint's weights
    history: dict[str, list[float]]
    seconds: float
    run: Any | None  # the W&B run, still open for the trainer's last logs

    def metrics(self) -> dict[str, Any]:
        """The keys every fit run reports."""
        return {
            "train_seconds": round(self.seconds, 1),
            "epochs_run": len(self.history.get("loss", [])),
        }


def fit_run(
    plan: FitPlan,
    config: FitConfig,
    run_dir: Path,
    use_wandb: bool = True,
    resume: bool = False,
    strategy: str | None = None,
) -> FitOutcome:
    """Build (or resume) the model and fit it; with a time budget the clock ends the run."""
    import keras

    from textrec_cli.training.distribute import strategy_scope
    from textrec_cli.training.schedules import TimeBudget
    from textrec_cli.training.tracking import WandbMetrics, start_run

    checkpoints = run_dir / "checkpoints"
    last, best, state = checkpoints / LAST, checkpoints / BEST, checkpoints / STATE
    run_dir.mkdir(parents=True, exist_ok=True)
    with strategy_scope(strategy):
        initial_epoch = 0
        if resume and last.is_file():
            model = keras.saving.load_model(last, compile=False)
            initial_epoch = json.loads(state.read_text())["epoch"]
            stderr_console.print(f"resuming from {last} at epoch {initial_epoch}")
        else:
            model = plan.build()
        # a plain variable the TimeBudget callback drives, or the trainer's schedule over steps
        plan.compile(model, config.learning_rate if config.time_budget else plan.schedule)
        stderr_console.print(
            f"training [bold]{config.model}[/bold] ({model.count_params():,} params) on "
            f"{plan.describe} → {run_dir}"
        )
        if initial_epoch and not config.time_budget:  # continue the schedule where it was
            model.optimizer.iterations.assign(initial_epoch * plan.steps_per_epoch)
        run = start_run(use_wandb, run_dir, {**asdict(config), **plan.tracked}, run_dir.name)

        class SaveLast(keras.callbacks.Callback):
            """`last.keras` and its epoch after every epoch (atomically: a run killed while
            saving still resumes): what `--resume` continues."""

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                with atomic_path(last) as tmp:
                    self.model.save(tmp)
                write_json(state, {"epoch": epoch + 1, **(logs or {})})

        callbacks: list[keras.callbacks.Callback] = [
            *([TimeBudget(config.time_budget, config.learning_rate)] if config.time_budget else []),
            *plan.callbacks,
            SaveLast(),
            keras.callbacks.ModelCheckpoint(
                str(best), monitor=plan.monitor, mode=plan.mode, save_best_only=True
            ),
            keras.callbacks.EarlyStopping(
                monitor=plan.monitor,
                mode=plan.mode,
                patience=config.patience,
                restore_best_weights=True,
            ),
            keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume),
            *([WandbMetrics(run)] if run is not None else []),
        ]
        started = time.time()
        history = model.fit(
            plan.train_data,
            validation_data=plan.val_data,
            epochs=1_000_000 if config.time_budget else config.epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=2,
            **plan.fit_options,
        )
        if best.is_file():
            model = keras.saving.load_model(best, compile=False)
    return FitOutcome(model, history.history, time.time() - started, run)


def finish_run(
    model: Any, run_dir: Path, metadata: dict[str, Any], metrics: dict[str, Any], run: Any
) -> None:
    """The run's model folder with its metrics and versions; the W&B run's summary, closed."""
    import keras

    from textrec_cli.models.store import save_model

    metadata.update(
        metrics=metrics,
        keras_version=keras.__version__,
        backend=keras.backend.backend(),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    save_model(model, run_dir, metadata)
    if run is not None:
        run.summary.update(metrics)
        run.finish()
