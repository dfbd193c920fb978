"""Train a registered character model on a registered dataset and save a self-describing run."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textrec_cli import __version__
from textrec_cli.data import load_char_dataset
from textrec_cli.progress import stderr_console


@dataclass
class TrainConfig:
    model: str = "cnn"
    dataset: str = "synthetic_chars"
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 2e-3
    balance: str = "sampling"  # "sampling" | "weights" | "none"
    augment: float = 1.0
    patience: int = 4
    seed: int = 0
    max_train_samples: int | None = None
    init_from: str | None = None  # a .keras file or model folder to start from (fine-tuning)
    model_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, float]


def class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """Inverse-frequency weights, mean 1 over present classes."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return {i: float(w) for i, w in enumerate(weights)}


def train(
    config: TrainConfig, data_dir: Path, run_dir: Path, use_wandb: bool = True
) -> TrainResult:
    import keras

    from textrec_cli.models import build_model
    from textrec_cli.models.store import save_model
    from textrec_cli.training.sequence import GlyphSequence
    from textrec_cli.training.tracking import WandbMetrics, log_sample_predictions, start_run

    keras.utils.set_random_seed(config.seed)
    dataset = load_char_dataset(config.dataset, data_dir)
    train_split, val_split = dataset.splits["train"], dataset.splits.get("val")
    x_train, y_train = train_split.x, train_split.y
    if config.max_train_samples:
        keep = np.random.default_rng(config.seed).permutation(len(x_train))[
            : config.max_train_samples
        ]
        x_train, y_train = x_train[keep], y_train[keep]
    num_classes = len(dataset.mapping)
    stderr_console.print(
        f"training [bold]{config.model}[/bold] on [bold]{config.dataset}[/bold]: "
        f"{len(x_train)} train / {0 if val_split is None else len(val_split.x)} val, "
        f"{num_classes} classes → {run_dir}"
    )
    model = build_model(config.model, dataset.input_shape, num_classes, **config.model_options)
    if config.init_from:
        _load_initial_weights(model, Path(config.init_from))
    train_seq = GlyphSequence(
        x_train,
        y_train,
        config.batch_size,
        augment=config.augment,
        balance=config.balance == "sampling",
        seed=config.seed,
    )
    steps = max(1, len(train_seq) * config.epochs)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=steps, warmup_target=None, alpha=0.02
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    run = start_run(
        use_wandb,
        run_dir,
        {**asdict(config), "dataset_checksum": dataset.checksum},
        name=run_dir.name,
    )
    monitor = "val_accuracy" if val_split is not None else "accuracy"
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.EarlyStopping(
            monitor=monitor, mode="max", patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "checkpoints" / "best.keras"),
            monitor=monitor,
            mode="max",
            save_best_only=True,
        ),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
    ]
    if run is not None:
        callbacks.append(WandbMetrics(run))
    val_data = None
    if val_split is not None:
        val_data = GlyphSequence(val_split.x, val_split.y, 512, shuffle=False)
    started = time.time()
    history = model.fit(
        train_seq,
        validation_data=val_data,
        epochs=config.epochs,
        class_weight=class_weights(y_train, num_classes) if config.balance == "weights" else None,
        callbacks=callbacks,
        verbose=2,
    )
    metrics: dict[str, float] = {
        "train_seconds": round(time.time() - started, 1),
        "epochs_run": len(history.history["loss"]),
        "train_accuracy": float(history.history["accuracy"][-1]),
    }
    if val_split is not None:
        probs = model.predict(val_split.x[..., None], batch_size=512, verbose=0)
        metrics["val_accuracy"] = float(np.mean(np.argmax(probs, 1) == val_split.y))
        if run is not None:
            pick = np.random.default_rng(0).permutation(len(val_split.x))[:32]
            log_sample_predictions(
                run, val_split.x[pick], val_split.y[pick], probs[pick], dataset.mapping
            )
    metadata = {
        "version": run_dir.name,
        "task": "char",
        "model": config.model,
        "mapping": dataset.mapping,
        "input_shape": list(dataset.input_shape),
        "preprocessing": "textrec_cli.stems.char.char_stem",
        "config": asdict(config),
        "dataset": {
            "name": dataset.name,
            "checksum": dataset.checksum,
            **{k: v for k, v in dataset.metadata.items() if k in ("source", "subset", "seed")},
        },
        "metrics": metrics,
        "textrec_version": __version__,
        "keras_version": keras.__version__,
        "backend": keras.backend.backend(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    save_model(model, run_dir, metadata)
    if run is not None:
        run.summary.update(metrics)
        run.finish()
    return TrainResult(run_dir, metrics)


def _load_initial_weights(model, path: Path) -> None:
    """Start from another model's weights (same architecture and classes), e.g. to fine-tune."""
    from textrec_cli.training.warm_start import copy_all, load_donor

    copy_all(load_donor(path), model)
