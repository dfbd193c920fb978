"""Train the line detector on page images (real pages, synthetic pages or a mix).

Each step draws pages from the sources, scales each page so its lines are `line_spacing` patch
pixels apart (the size inference rescales pages to, see inference/page_scale.py) with a random
jitter, applies a small rotation, crop and photometric changes to page and band labels together,
and learns the half-resolution band map. Checkpoints are chosen by validation loss on the
size-normalised (unaugmented) validation pages.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from PIL import Image, ImageFilter

from textrec_cli import __version__
from textrec_cli.data import registry
from textrec_cli.data.page_targets import band_spacing, draw_bands, line_band, measure_ratios
from textrec_cli.errors import TextrecError
from textrec_cli.progress import progress_bar, stderr_console
from textrec_cli.stems import page as page_stem_module

STORE_HEIGHT = 640  # pages are kept at this height in memory (scale jitter goes up to 1.2x)
LINE_SPACING = 18.0  # detector px between lines: the Copiste pages' median at 512-px page height
SIZE_JITTER = (0.7, 1.45)  # spacing estimates at inference are off by about this much


@dataclass
class DetectorTrainConfig:
    model: str = "line_detector"
    mix: dict[str, float] = field(default_factory=lambda: {"real_pages": 1.0})
    pages_dir: str | None = None  # one page folder (what runs before pages_dirs recorded)
    pages_dirs: list[str] = field(default_factory=list)  # real page folders: every --lines-dir
    line_spacing: float | None = LINE_SPACING  # None: scale whole pages to `height` (old recipe)
    lines_dirs: list[str] = field(default_factory=list)  # real train crops for synthetic pages
    epochs: int = 10
    steps_per_epoch: int = 50
    batch_size: int = 4
    learning_rate: float = 2e-3
    augment: float = 1.0
    height: int = page_stem_module.HEIGHT
    patch_width: int = 320
    patch_height: int = 256  # crops of the page scaled to `height` (fully convolutional)
    patience: int = 8
    time_budget: float | None = None
    seed: int = 0
    max_pages: int | None = None  # subsample the training pages (tests)
    model_options: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None  # a detector folder whose weights to start from


@dataclass
class StoredPages:
    """Real pages in memory (gray, STORE_HEIGHT tall) with their line bands in those pixels."""

    images: list[np.ndarray]
    bands: list[list[list[tuple[float, float]]]]

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, list]:
        i = int(rng.integers(len(self.images)))
        return self.images[i], self.bands[i]


def load_stored_pages(samples, show_progress: bool = True) -> StoredPages:
    from textrec_cli.image_io import load_image

    images, bands = [], []
    with progress_bar("reading pages", len(samples), show_progress) as advance:
        for sample in samples:
            advance(1)
            image = load_image(sample.image_path).convert("L")
            f = STORE_HEIGHT / image.height
            image = image.resize((round(image.width * f), STORE_HEIGHT), Image.Resampling.BOX)
            page_bands = []
            for line in sample.page.lines:
                band, _, _ = line_band(line)
                page_bands.append([(x * f, y * f) for x, y in band])
            images.append(np.asarray(image, dtype=np.uint8))
            bands.append(page_bands)
    return StoredPages(images, bands)


def render_patch(
    gray: np.ndarray,
    bands: list,
    rng: np.random.Generator,
    height: int,
    width: int,
    augment: float = 1.0,
    out_height: int | None = None,
    line_spacing: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (out_height, width) patch of the page scaled to `height` px, uint8 half-size band
    mask), augmented; `out_height` defaults to `height` (the whole page height). With
    `line_spacing`, the page is scaled so its lines are that many patch pixels apart instead."""
    h, w = gray.shape
    spacing = band_spacing(bands) if line_spacing else None
    base = line_spacing / spacing if spacing else height / h
    lo, hi = SIZE_JITTER if spacing else (0.8, 1.2)
    scale = base * (float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if augment else 1.0)
    height = out_height or height
    angle = np.deg2rad(float(rng.normal(0, 1.5 * augment))) if augment else 0.0
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    # page point p -> patch point R p + t; crop picks a random window when the page is larger
    sw, sh = w * scale, h * scale
    ox = float(rng.uniform(min(0, width - sw), max(0, width - sw))) if augment else 0.0
    oy = float(rng.uniform(min(0, height - sh), max(0, height - sh))) if augment else 0.0
    cx, cy = w / 2, h / 2
    matrix = np.array([[cos, -sin, 0.0], [sin, cos, 0.0]])
    matrix[:, 2] = np.array([ox + sw / 2, oy + sh / 2]) - matrix[:, :2] @ np.array([cx, cy])
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    paper = int(np.median(gray[:, :8]))
    patch = Image.fromarray(gray).transform(
        (width, height), Image.Transform.AFFINE, inverse.flatten().tolist(),
        resample=Image.Resampling.BILINEAR, fillcolor=paper,
    )  # fmt: skip
    if augment and rng.random() < 0.3:
        patch = patch.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2))))
    x = np.asarray(patch, dtype=np.float32)
    if augment:
        x = (x - 128) * float(rng.uniform(0.6, 1.3)) + 128 + float(rng.uniform(-40, 30))
        x = 255 * (np.clip(x, 0, 255) / 255) ** float(rng.uniform(0.7, 1.4))
        if rng.random() < 0.5:
            x += rng.normal(0, float(rng.uniform(2, 12)), x.shape)
        if rng.random() < 0.3:  # uneven lighting of a photographed page
            ramp = np.linspace(-1, 1, width)[None, :] * float(rng.uniform(-40, 40))
            x += ramp + np.linspace(-1, 1, height)[:, None] * float(rng.uniform(-30, 30))
    half = matrix * 0.5
    mask = draw_bands(bands, (width // 2, height // 2), half)
    return np.clip(x, 0, 255).astype(np.uint8), mask


class PageBatches(keras.utils.PyDataset):
    """Batches of augmented page patches drawn from weighted sources."""

    def __init__(self, sources: dict, mix: dict[str, float], config: DetectorTrainConfig):
        super().__init__()
        self.sources, self.config = sources, config
        names = list(sources)
        weights = np.array([mix[n] for n in names], dtype=np.float64)
        self.names, self.weights = names, weights / weights.sum()
        self.rng = np.random.default_rng(config.seed)

    def __len__(self) -> int:
        return self.config.steps_per_epoch

    def __getitem__(self, index: int):
        c = self.config
        x = np.zeros((c.batch_size, c.patch_height, c.patch_width, 1), dtype=np.uint8)
        y = np.zeros((c.batch_size, c.patch_height // 2, c.patch_width // 2, 1), dtype=np.float32)
        for k in range(c.batch_size):
            name = self.names[int(self.rng.choice(len(self.names), p=self.weights))]
            gray, bands = self.sources[name].sample(self.rng)
            x[k, :, :, 0], y[k, :, :, 0] = render_patch(
                gray, bands, self.rng, c.height, c.patch_width, c.augment, c.patch_height,
                c.line_spacing,
            )  # fmt: skip
        return x, y


def band_loss(y_true, y_pred):
    """Binary cross-entropy + soft Dice: thin bands are a small fraction of the page."""
    from keras import ops

    bce = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred))
    inter = ops.sum(y_true * y_pred, axis=(1, 2, 3))
    total = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
    dice = 1 - ops.mean((2 * inter + 1) / (total + 1))
    return bce + 0.5 * dice


def stem_pages(
    sources, height: int, line_spacing: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Unaugmented stemmed pages and their masks, padded to one width (validation); with
    `line_spacing`, each page is size-normalised as in training and cut into `height`-row tiles."""
    xs, ys = [], []
    for gray, bands, *_ in sources:
        spacing = band_spacing(bands) if line_spacing else None
        tall = round(gray.shape[0] * line_spacing / spacing) if spacing else height
        stem, scale = page_stem_module.page_stem(gray, tall)
        stem = stem[: -(-tall // height) * height]
        stem = np.pad(stem, ((0, -stem.shape[0] % height), (0, 0)), mode="edge")
        matrix = np.array([[0.5 / scale, 0, 0], [0, 0.5 / scale, 0]])
        mask = draw_bands(bands, (stem.shape[1] // 2, stem.shape[0] // 2), matrix)
        for top in range(0, stem.shape[0], height):
            xs.append(stem[top : top + height])
            ys.append(mask[top // 2 : (top + height) // 2])
    width = max(x.shape[1] for x in xs)
    x = np.zeros((len(xs), height, width, 1), dtype=np.uint8)
    y = np.zeros((len(xs), height // 2, width // 2, 1), dtype=np.float32)
    for i, (a, b) in enumerate(zip(xs, ys, strict=True)):
        x[i, :, : a.shape[1], 0] = a
        x[i, :, a.shape[1] :, 0] = int(np.median(a[:, -4:]))
        y[i, :, : b.shape[1], 0] = b
    return x, y


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
    config: DetectorTrainConfig, run_dir: Path, use_wandb: bool = False, resume: bool = False
) -> dict[str, Any]:
    from textrec_cli.data.page_targets import BandRatios
    from textrec_cli.models import build_model
    from textrec_cli.models.store import save_model
    from textrec_cli.training.tracking import WandbMetrics, start_run

    keras.utils.set_random_seed(config.seed)
    sources, val, ratios = build_sources(config)
    ratios = ratios or BandRatios()
    batches = PageBatches(sources, config.mix, config)
    run_dir.mkdir(parents=True, exist_ok=True)
    last = run_dir / "checkpoints" / "last.keras"
    state_file = run_dir / "checkpoints" / "state.json"
    initial_epoch = 0
    if resume and last.is_file():
        model = keras.saving.load_model(last, compile=False)
        initial_epoch = json.loads(state_file.read_text())["epoch"]
        stderr_console.print(f"resuming from {last} at epoch {initial_epoch}")
    elif config.init_from:  # fine-tune a detector (e.g. the bundled one) on new pages
        model = keras.saving.load_model(Path(config.init_from) / "model.keras", compile=False)
    else:
        model = build_model(config.model, (None, None, 1), 1, **config.model_options)
    lr = config.learning_rate
    schedule = lr if config.time_budget else keras.optimizers.schedules.CosineDecay(
        lr, config.epochs * config.steps_per_epoch, alpha=0.05
    )  # fmt: skip
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss=band_loss)
    val_data = stem_pages(val, config.height, config.line_spacing) if val else None
    stderr_console.print(
        f"training [bold]{config.model}[/bold] ({model.count_params():,} params) on "
        f"{ {k: len(getattr(v, 'images', [])) or '∞' for k, v in sources.items()} } pages, "
        f"val {len(val)} → {run_dir}"
    )
    monitor = "val_loss" if val_data is not None else "loss"

    class SaveLast(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            self.model.save(last)
            state_file.write_text(json.dumps({"epoch": epoch + 1, **(logs or {})}))

    run = start_run(use_wandb, run_dir, asdict(config), name=run_dir.name)
    callbacks: list[keras.callbacks.Callback] = [
        SaveLast(),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "checkpoints" / "best.keras"), monitor=monitor, save_best_only=True
        ),
        keras.callbacks.EarlyStopping(
            monitor=monitor, patience=config.patience, restore_best_weights=True
        ),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume),
    ]
    if run is not None:
        callbacks.append(WandbMetrics(run))
    if config.time_budget:
        from textrec_cli.training.schedules import TimeBudget

        callbacks.insert(0, TimeBudget(config.time_budget, config.learning_rate))
    started = time.time()
    history = model.fit(
        batches, epochs=1_000_000 if config.time_budget else config.epochs,
        initial_epoch=initial_epoch, validation_data=val_data and (val_data[0], val_data[1]),
        validation_batch_size=2, callbacks=callbacks, verbose=2,
    )  # fmt: skip
    best = run_dir / "checkpoints" / "best.keras"
    if best.is_file():
        model = keras.saving.load_model(best, compile=False)
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
        "train_seconds": round(time.time() - started, 1),
        "epochs_run": len(history.history.get("loss", [])),
        "final_loss": round(float(history.history["loss"][-1]), 4),
    }
    if "val_loss" in history.history:
        metrics["best_val_loss"] = round(float(min(history.history["val_loss"])), 4)
    if val:
        from textrec_cli.evaluation.page_eval import detection_scores
        from textrec_cli.inference.page_lines import detect_lines, keras_forward

        pred = [detect_lines(keras_forward(model), gray, metadata) for gray, _, _ in val]
        truth = [boxes for _, _, boxes in val]
        scores = detection_scores(truth, [[ln.box for ln in p] for p in pred])
        metrics.update({f"val_{k}": v for k, v in scores.items()})
    metadata.update(metrics=metrics, keras_version=keras.__version__,
                    backend=keras.backend.backend(),
                    created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))  # fmt: skip
    save_model(model, run_dir, metadata)
    if run is not None:
        run.summary.update(metrics)
        run.finish()
    return metrics
