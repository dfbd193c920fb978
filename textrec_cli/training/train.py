"""Train a registered character model on a registered dataset and save a self-describing run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from textrec_cli import __version__
from textrec_cli.data import load_char_dataset
from textrec_cli.training.configs import TrainConfig


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
    config: TrainConfig,
    data_dir: Path,
    run_dir: Path,
    use_wandb: bool = True,
    resume: bool = False,
    strategy: str | None = None,
) -> TrainResult:
    """Fit `config.model` on `config.dataset`; the model folder lands in `run_dir`."""
    import keras

    from textrec_cli.models import build_model
    from textrec_cli.training.loop import FitPlan, finish_run, fit_run
    from textrec_cli.training.sequence import GlyphSequence
    from textrec_cli.training.tracking import log_sample_predictions

    keras.utils.set_random_seed(config.seed)
    dataset = load_char_dataset(config.dataset, data_dir)
    train_split, val_split = dataset.splits["train"], dataset.splits.get("val")
    x_train, y_train = train_split.x, train_split.y
    if config.max_train_samples:
        keep = np.random.default_rng(config.seed).permutation(len(x_train))
        keep = keep[: config.max_train_samples]
        x_train, y_train = x_train[keep], y_train[keep]
    num_classes = len(dataset.mapping)

    def build() -> keras.Model:
        model = build_model(config.model, dataset.input_shape, num_classes, **config.model_options)
        if config.init_from:  # fine-tune: same architecture and classes
            from textrec_cli.training.warm_start import copy_all, load_donor

            copy_all(load_donor(Path(config.init_from)), model)
        return model

    def compile_model(model: keras.Model, learning_rate: object) -> None:
        model.compile(
            optimizer=keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=1e-4),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )

    train_seq = GlyphSequence(
        x_train,
        y_train,
        config.batch_size,
        augment=config.augment,
        balance=config.balance == "sampling",
        seed=config.seed,
    )
    weights = class_weights(y_train, num_classes) if config.balance == "weights" else None
    val_seq = None
    if val_split is not None:
        val_seq = GlyphSequence(val_split.x, val_split.y, 512, shuffle=False)
    plan = FitPlan(
        build=build,
        compile=compile_model,
        schedule=keras.optimizers.schedules.CosineDecay(
            config.learning_rate, decay_steps=max(1, len(train_seq) * config.epochs), alpha=0.02
        ),
        train_data=train_seq,
        steps_per_epoch=len(train_seq),
        monitor="val_accuracy" if val_split is not None else "accuracy",
        mode="max",
        val_data=val_seq,
        fit_options={"class_weight": weights},
        tracked={"dataset_checksum": dataset.checksum},
        describe=f"[bold]{config.dataset}[/bold]: {len(x_train)} train / "
        f"{0 if val_split is None else len(val_split.x)} val, {num_classes} classes",
    )
    fit = fit_run(plan, config, run_dir, use_wandb, resume, strategy)
    model, run = fit.model, fit.run
    metrics: dict[str, float] = {
        **fit.metrics(),
        "train_accuracy": float(fit.history["accuracy"][-1]),
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
        "textrec_version": __version__,
    }
    finish_run(model, run_dir, metadata, metrics, run)
    return TrainResult(run_dir, metrics)
