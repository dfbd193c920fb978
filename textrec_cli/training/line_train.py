"""Train a CTC line model on a weighted mix of line sources; select checkpoints by val CER."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from textrec_cli import __version__
from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.data.line_sources import LINE_DATASETS, load_line_split, synthetic_generators
from textrec_cli.data.versions import contribution_metadata
from textrec_cli.errors import TextrecError
from textrec_cli.progress import stderr_console
from textrec_cli.training.configs import LineTrainConfig


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
    strategy: str | None = None,
) -> dict[str, Any]:
    """Fit a line model (CTC, or joint CTC-attention) on the configured mix; returns metrics."""
    import keras

    import textrec_cli.models.transformer  # noqa: F401  (custom layers, for --resume)
    from textrec_cli.models import ATTENTION_MODELS, build_model
    from textrec_cli.models.ctc import ctc_loss
    from textrec_cli.training.line_batches import AttentionBatches, LineBatches
    from textrec_cli.training.loop import FitPlan, finish_run, fit_run

    keras.utils.set_random_seed(config.seed)
    train_sources, val_sets = build_sources(config, data_dir, fonts_dir)
    attention = config.model in ATTENTION_MODELS
    batches = (AttentionBatches if attention else LineBatches)(
        train_sources,
        config.mix,
        LINE_CHARSET,
        config.batch_size,
        config.steps_per_epoch,
        config.max_width,
        config.seed,
    )
    metadata = line_metadata(config, run_dir, "attention" if attention else "ctc")

    def build() -> keras.Model:
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
        return model

    def compile_model(model: keras.Model, learning_rate: object) -> None:
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, clipnorm=5.0)
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

    class ValCER(keras.callbacks.Callback):
        """Greedy-decoded CER on each validation source (`val_cer`: their mean); the curriculum's
        mix for each epoch."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            if config.curriculum_epochs and "synthetic_handwriting" in config.mix:
                batches.set_weights(_curriculum(config, epoch))

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs if logs is not None else {}
            scores = val_cers(self.model, metadata, run_dir, val_sets)
            logs.update(scores)
            logs["val_cer"] = (
                float(np.mean(list(scores.values()))) if scores else float(logs.get("loss", 0))
            )
            stderr_console.print(
                f"epoch {epoch + 1}: loss {logs.get('loss', 0):.3f} "
                + " ".join(f"{k} {v:.4f}" for k, v in logs.items() if k.startswith("val_cer"))
            )

    total_steps = config.epochs * config.steps_per_epoch
    sizes = {
        k: len(v.texts) if isinstance(v.texts, list) else "∞" for k, v in train_sources.items()
    }
    plan = FitPlan(
        build=build,
        compile=compile_model,
        schedule=keras.optimizers.schedules.CosineDecay(
            0.0,
            total_steps,
            alpha=0.05,
            warmup_target=config.learning_rate,
            warmup_steps=min(300, total_steps // 10),
        ),
        train_data=batches,
        steps_per_epoch=config.steps_per_epoch,
        monitor="val_cer",
        callbacks=[ValCER()],
        describe=f"{sizes}, mix {config.mix}, val {[f'{k}:{len(v)}' for k, v in val_sets.items()]}",
    )
    fit = fit_run(plan, config, run_dir, use_wandb, resume, strategy)
    lines = fit.metrics()["epochs_run"] * config.steps_per_epoch * config.batch_size
    metrics: dict[str, Any] = {
        **fit.metrics(),
        "train_lines_per_second": round(lines / max(fit.seconds, 1e-9), 2),
    }
    scores = val_cers(fit.model, metadata, run_dir, val_sets)
    metrics.update({k: round(v, 4) for k, v in scores.items()})
    finish_run(fit.model, run_dir, metadata, metrics, fit.run)
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
