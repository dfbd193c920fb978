"""Train the line detector on page images (real pages, synthetic pages or a mix).

Patches and their band labels come from `page_batches`; checkpoints are chosen by validation
loss on the size-normalised (unaugmented) validation pages.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from textrec_cli import __version__
from textrec_cli.data import registry
from textrec_cli.data.page_targets import measure_ratios
from textrec_cli.errors import TextrecError
from textrec_cli.training.configs import DetectorTrainConfig
from textrec_cli.training.page_batches import STORE_HEIGHT, load_stored_pages


def build_sources(config: DetectorTrainConfig, show_progress: bool = True):
    """Training sources by name, validation pages, and the band ratios of the real lines."""
    from textrec_cli.data import real_pages

    unknown = set(config.mix) - set(registry.names("page"))
    if unknown:
        choices = ", ".join(registry.names("page"))
        raise TextrecError(
            f"unknown page dataset(s) {sorted(unknown)}; choose from {choices} or mix"
        )
    folders = [Path(p) for p in [config.pages_dir, *config.pages_dirs] if p] or [None]
    sources: dict[str, Any] = {}
    val: list[tuple[np.ndarray, list, list]] = []  # gray, bands, true line boxes
    lines = []
    real_train = None
    if "real_pages" in config.mix or "synthetic_pages" in config.mix:
        samples = []
        for folder in folders:
            try:
                samples += real_pages.load(folder)
            except TextrecError:
                if "real_pages" in config.mix:
                    raise
        train = [s for s in samples if s.split == "train"][: config.max_pages]
        held = [s for s in samples if s.split in ("val", "test")][: config.max_pages]
        if "real_pages" in config.mix and not train:
            raise TextrecError("real_pages has no train pages")
        real_train = load_stored_pages(train, show_progress) if train else None
        stored_val = load_stored_pages(held, show_progress) if held else None
        if stored_val:
            for s, gray, bands in zip(held, stored_val.images, stored_val.bands, strict=True):
                f = STORE_HEIGHT / s.page.height
                boxes = [tuple(round(v * f) for v in line.box) for line in s.page.lines]
                val.append((gray, bands, boxes))
        lines = [line for s in train for line in s.page.lines]
    if "real_pages" in config.mix:
        sources["real_pages"] = real_train
    if "synthetic_pages" in config.mix:
        from textrec_cli.data.synthetic_pages import SyntheticPages

        sources["synthetic_pages"] = SyntheticPages.for_split(
            "train", lines_dirs=config.lines_dirs, seed=config.seed
        )
        if not val:
            gen = SyntheticPages.for_split("val", lines_dirs=config.lines_dirs, seed=1)
            rng = np.random.default_rng(12345)
            for _ in range(8):
                gray, bands, page_lines = gen.sample_page(rng)
                val.append((gray, bands, [line.box for line in page_lines]))
    ratios = measure_ratios(lines) if lines else None
    return sources, val, ratios


def train_detector(
    config: DetectorTrainConfig,
    run_dir: Path,
    use_wandb: bool = False,
    resume: bool = False,
    strategy: str | None = None,
) -> dict[str, Any]:
    """Fit the detector on the configured page mix; returns its metrics (detection F1 on val)."""
    import keras

    from textrec_cli.data.page_targets import BandRatios
    from textrec_cli.models import build_model
    from textrec_cli.models.line_detector import band_loss
    from textrec_cli.training.loop import FitPlan, finish_run, fit_run
    from textrec_cli.training.page_batches import PageBatches, stem_pages

    keras.utils.set_random_seed(config.seed)
    sources, val, ratios = build_sources(config)
    ratios = ratios or BandRatios()
    val_data = stem_pages(val, config.height, config.line_spacing) if val else None

    def build() -> keras.Model:
        if config.init_from:  # fine-tune a detector (e.g. the bundled one) on new pages
            path = Path(config.init_from) / "model.keras"
            return keras.saving.load_model(path, compile=False)
        return build_model(config.model, (None, None, 1), 1, **config.model_options)

    def compile_model(model: keras.Model, learning_rate: object) -> None:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=band_loss)

    pages = {k: len(getattr(v, "images", [])) or "∞" for k, v in sources.items()}
    plan = FitPlan(
        build=build,
        compile=compile_model,
        schedule=keras.optimizers.schedules.CosineDecay(
            config.learning_rate, config.epochs * config.steps_per_epoch, alpha=0.05
        ),
        train_data=PageBatches(sources, config.mix, config),
        steps_per_epoch=config.steps_per_epoch,
        monitor="val_loss" if val_data is not None else "loss",
        val_data=val_data,
        fit_options={"validation_batch_size": 2},
        describe=f"{pages} pages, val {len(val)}",
    )
    fit = fit_run(plan, config, run_dir, use_wandb, resume, strategy)
    metadata: dict[str, Any] = {
        "version": run_dir.name,
        "task": "line_detector",
        "model": config.model,
        "input_shape": [config.height, None, 1],
        "output_stride": 2,
        "preprocessing": "textrec_cli.stems.page.page_stem",
        "band_ratios": ratios.to_dict(),
        "line_spacing": config.line_spacing,
        "config": asdict(config),
        "textrec_version": __version__,
    }
    metrics: dict[str, Any] = {
        **fit.metrics(),
        "final_loss": round(float(fit.history["loss"][-1]), 4),
    }
    if "val_loss" in fit.history:
        metrics["best_val_loss"] = round(float(min(fit.history["val_loss"])), 4)
    if val:
        from textrec_cli.evaluation.page_eval import detection_scores
        from textrec_cli.inference.page_lines import detect_lines, keras_forward

        pred = [detect_lines(keras_forward(fit.model), gray, metadata) for gray, _, _ in val]
        truth = [boxes for _, _, boxes in val]
        scores = detection_scores(truth, [[ln.box for ln in p] for p in pred])
        metrics.update({f"val_{k}": v for k, v in scores.items()})
    finish_run(fit.model, run_dir, metadata, metrics, fit.run)
    return metrics
