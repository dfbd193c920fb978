"""Train a CTC line model on a weighted mix of line sources; select checkpoints by val CER."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textrec_cli import __version__
from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.data.line_sources import (
    LINE_DATASETS,
    line_texts,
    load_line_split,
    synthetic_generators,
)
from textrec_cli.data.versions import contribution_metadata
from textrec_cli.errors import TextrecError
from textrec_cli.progress import stderr_console
from textrec_cli.stems import line


@dataclass
class LineTrainConfig:
    model: str = "crnn"
    mix: dict[str, float] = field(default_factory=lambda: {"synthetic_handwriting": 1.0})
    lines_dirs: list[str] = field(default_factory=list)
    epochs: int = 10
    steps_per_epoch: int = 200
    batch_size: int = 32
    learning_rate: float = 1e-3
    augment: float = 1.0
    height: int = line.HEIGHT
    max_width: int = 1600
    patience: int = 6
    curriculum_epochs: int = 0  # first N epochs: synthetic weight ramps from 1 down to its mix
    val_lines: int = 400  # per validation source, for the per-epoch CER
    time_budget: float | None = None  # seconds; replaces the step-based schedule when set
    seed: int = 0
    init_from: str | None = None  # a model whose matching leading layers start this one
    model_options: dict[str, Any] = field(default_factory=dict)
    ctc_weight: float = 0.3  # attention models: share of the joint loss on the CTC head
    label_smoothing: float = 0.1  # attention models
    freeze_encoder: bool = False  # attention models: keep the (warm-started) encoder fixed
    # "fit": keras fit over on-the-fly batches; "fast": line_loop (pre-rendered synthesis,
    # width buckets, one resumable state file, validation every steps_per_epoch steps)
    recipe: str = "fit"
    synthetic_lines: int = 20000  # fast: synthetic lines rendered once, augmented per draw
    buckets: int = 6  # fast: width buckets
    schedule: str = "cosine"  # fast: cosine over epochs x steps_per_epoch, or rsqrt (no end)
    warmup_steps: int = 300  # fast
    threads: int = 0  # fast: TensorFlow intra-op threads (0 = every core), inter-op 1
    fonts_dir: str | None = None  # fast: where synthesis found its fonts (kept for --resume)


def text_sampler(config: LineTrainConfig, data_dir: Path, real_texts: list[str]):
    """English corpus sentences plus the train transcriptions of the real lines (French)."""
    return line_texts(data_dir, real_texts, config.seed)


def line_metadata(config: LineTrainConfig, run_dir: Path, decoder: str = "ctc") -> dict[str, Any]:
    """What a line model folder says about itself (both recipes write the same keys)."""
    return {
        "version": run_dir.name,
        "task": "line",
        "model": config.model,
        "charset": LINE_CHARSET,
        "input_shape": [config.height, None, 1],
        "preprocessing": "textrec_cli.stems.line.line_stem",
        "decoder": decoder,
        "config": asdict(config),
        "textrec_version": __version__,
        **contribution_metadata(config.lines_dirs),  # the contribution sets' versions, if any
    }


def val_cers(
    model: Any, metadata: dict[str, Any], run_dir: Path, val_sets: dict, batch_size: int = 32
) -> dict[str, float]:
    """Greedy CER on each validation set, keyed `val_cer_<name>`."""
    from textrec_cli.evaluation.text_metrics import cer
    from textrec_cli.inference.line_reader import LineReader
    from textrec_cli.models.store import SavedModel

    reader = LineReader(SavedModel(model, metadata, run_dir), batch_size=batch_size)
    scores = {}
    for name, pairs in val_sets.items():
        hyps = [t for t, _ in reader.read_stems([img for img, _ in pairs])]
        scores[f"val_cer_{name}"] = float(cer([t for _, t in pairs], hyps))
    return scores


def save_final(
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


def build_sources(config: LineTrainConfig, data_dir: Path, fonts_dir: Path | None):
    """Training sources (samplers) and fixed validation sets, by dataset name."""
    from textrec_cli.training.line_batches import StoredLines

    unknown = set(config.mix) - set(LINE_DATASETS)
    if unknown:
        raise TextrecError(
            f"unknown line dataset(s) {sorted(unknown)}; choose from {', '.join(LINE_DATASETS)}"
        )

    def split(name: str, part: str):
        return load_line_split(name, part, data_dir, config.height, config.lines_dirs)

    # stored train splits are read once: they feed both their source and the text sampler
    stored = {name: split(name, "train") for name in config.mix if name != "synthetic_handwriting"}
    train, val = {}, {}
    for name in config.mix:
        if name == "synthetic_handwriting":
            if "real_lines" in stored:
                real_texts = stored["real_lines"][1]
            else:
                real_texts = split("real_lines", "train")[1] if config.lines_dirs else []
            gens = synthetic_generators(
                ("train", "val"), data_dir, fonts_dir, config.height, real_texts, config.seed
            )
            train[name], val_gen = gens["train"], gens["val"]
            rng = np.random.default_rng(12345)
            val[name] = [val_gen.sample(rng) for _ in range(config.val_lines)]
        else:
            images, texts = stored[name]
            if not texts:
                raise TextrecError(f"{name} has no train lines")
            train[name] = StoredLines(images, texts, config.augment)
            v_images, v_texts = split(name, "val")
            pick = np.random.default_rng(0).permutation(len(v_texts))[: config.val_lines]
            if len(pick):
                val[name] = [(v_images[i], v_texts[i]) for i in pick]
    return train, val


def train_lines(
    config: LineTrainConfig,
    data_dir: Path,
    run_dir: Path,
    fonts_dir: Path | None = None,
    use_wandb: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    import keras

    import textrec_cli.models.transformer  # noqa: F401  (custom layers, for --resume)
    from textrec_cli.models import ATTENTION_MODELS, build_model
    from textrec_cli.models.ctc import ctc_loss
    from textrec_cli.training.line_batches import AttentionBatches, LineBatches
    from textrec_cli.training.tracking import WandbMetrics, start_run

    keras.utils.set_random_seed(config.seed)
    train_sources, val_sets = build_sources(config, data_dir, fonts_dir)
    attention = config.model in ATTENTION_MODELS
    batches = (AttentionBatches if attention else LineBatches)(
        train_sources, config.mix, LINE_CHARSET, config.batch_size, config.steps_per_epoch,
        config.max_width, config.seed,
    )  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    last, state_file = (
        run_dir / "checkpoints" / "last.keras",
        run_dir / "checkpoints" / "state.json",
    )
    initial_epoch = 0
    if resume and last.is_file():
        model = keras.saving.load_model(last, compile=False)
        initial_epoch = json.loads(state_file.read_text())["epoch"]
        stderr_console.print(f"resuming from {last} at epoch {initial_epoch}")
    else:
        shape = (config.height, None, 1)
        model = build_model(config.model, shape, len(LINE_CHARSET), **config.model_options)
        if config.init_from:
            from textrec_cli.training.warm_start import copy_all, copy_matching_prefix, load_donor

            donor = load_donor(Path(config.init_from))
            if attention and donor.name == model.name:  # continue an attention run
                copy_all(donor, model)
                stderr_console.print(f"initialized every weight from {config.init_from}")
            else:
                # an attention model's encoder is a line_tcn: warm-start that part
                target = model.get_layer("encoder") if attention else model
                copied = copy_matching_prefix(donor, target)
                stderr_console.print(f"initialized {copied} leading layers from {config.init_from}")
        if attention and config.freeze_encoder:
            # train the decoder alone on a finished encoder: ~2x cheaper steps on a CPU
            model.get_layer("encoder").trainable = False
    total_steps = config.epochs * config.steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, total_steps, alpha=0.05, warmup_target=config.learning_rate,
        warmup_steps=min(300, total_steps // 10),
    )  # fmt: skip
    if config.time_budget:
        schedule = config.learning_rate  # a plain variable the TimeBudget callback drives
    optimizer = keras.optimizers.Adam(learning_rate=schedule, clipnorm=5.0)
    if attention:
        from textrec_cli.models.transformer import smoothed_nll

        # joint CTC-attention: the CTC head keeps the encoder's frames aligned to the text
        model.compile(
            optimizer=optimizer,
            loss={"ctc": ctc_loss, "dec": smoothed_nll(config.label_smoothing)},
            loss_weights={"ctc": config.ctc_weight, "dec": 1.0 - config.ctc_weight},
        )
    else:
        model.compile(optimizer=optimizer, loss=ctc_loss)
    if initial_epoch and not config.time_budget:
        model.optimizer.iterations.assign(initial_epoch * config.steps_per_epoch)
    n_train = {
        k: len(v.texts) if isinstance(v.texts, list) else "∞" for k, v in train_sources.items()
    }
    stderr_console.print(
        f"training [bold]{config.model}[/bold] ({model.count_params():,} params) on {n_train}, "
        f"mix {config.mix}, val {[f'{k}:{len(v)}' for k, v in val_sets.items()]} → {run_dir}"
    )
    metadata = line_metadata(config, run_dir, "attention" if attention else "ctc")

    class ValCER(keras.callbacks.Callback):
        """Greedy-decoded CER on each validation source; `val_cer` is their mean."""

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs if logs is not None else {}
            scores = val_cers(self.model, metadata, run_dir, val_sets)
            logs.update(scores)
            logs["val_cer"] = (
                float(np.mean(list(scores.values()))) if scores else float(logs.get("loss", 0))
            )
            if config.curriculum_epochs and "synthetic_handwriting" in config.mix:
                batches.set_weights(_curriculum(config, epoch + 1))
            state_file.parent.mkdir(parents=True, exist_ok=True)
            self.model.save(last)
            state_file.write_text(json.dumps({"epoch": epoch + 1, **logs}))
            stderr_console.print(
                f"epoch {epoch + 1}: loss {logs.get('loss', 0):.3f} "
                + " ".join(f"{k} {v:.4f}" for k, v in logs.items() if k.startswith("val_cer"))
            )

    if config.curriculum_epochs and "synthetic_handwriting" in config.mix:
        batches.set_weights(_curriculum(config, initial_epoch))
    run = start_run(use_wandb, run_dir, asdict(config), name=run_dir.name)
    callbacks: list[keras.callbacks.Callback] = [
        ValCER(),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "checkpoints" / "best.keras"), monitor="val_cer", mode="min",
            save_best_only=True,
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_cer", mode="min", patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume),
    ]  # fmt: skip
    if run is not None:
        callbacks.append(WandbMetrics(run))
    if config.time_budget:
        from textrec_cli.training.schedules import TimeBudget

        callbacks.insert(0, TimeBudget(config.time_budget, config.learning_rate))
    # with a time budget the clock ends the run, not the epoch count
    epochs = 1_000_000 if config.time_budget else config.epochs
    started = time.time()
    history = model.fit(
        batches, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=2
    )
    best = run_dir / "checkpoints" / "best.keras"
    if best.is_file():
        model = keras.saving.load_model(best, compile=False)
    metrics: dict[str, Any] = {
        "train_seconds": round(time.time() - started, 1),
        "epochs_run": len(history.history.get("loss", [])),
        "train_lines_per_second": round(
            len(history.history.get("loss", [])) * config.steps_per_epoch * config.batch_size
            / max(time.time() - started, 1e-9), 2,
        ),
    }  # fmt: skip
    metrics.update(
        {k: round(v, 4) for k, v in val_cers(model, metadata, run_dir, val_sets).items()}
    )
    save_final(model, run_dir, metadata, metrics, run)
    return metrics


def _curriculum(config: LineTrainConfig, epoch: int) -> dict[str, float]:
    """Synthetic share starts at 100% and falls linearly to its configured mix weight."""
    mix = dict(config.mix)
    if epoch >= config.curriculum_epochs:
        return mix
    frac = epoch / config.curriculum_epochs
    total_other = sum(v for k, v in mix.items() if k != "synthetic_handwriting") or 1.0
    synth_target = mix["synthetic_handwriting"] / (total_other + mix["synthetic_handwriting"])
    synth = 1.0 - frac * (1.0 - synth_target)
    return {k: (synth if k == "synthetic_handwriting" else (1 - synth) * v / total_other)
            for k, v in mix.items()}  # fmt: skip
