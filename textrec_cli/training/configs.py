"""What a training run is told: one config dataclass per model kind, the only place defaults live.

The CLI's options default to None and `from_options` lays the options given over these
defaults, so a default is stated once and `--help` reads it from here (`defaults_help`). Kept free
of Keras so `textrec train --help` stays fast.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

from textrec_cli.stems import line as line_stem
from textrec_cli.stems import page as page_stem

LINE_SPACING = 18.0  # detector px between lines: the Copiste pages' median at 512-px page height


@dataclass
class TrainConfig:
    """A character classifier (`train.py`)."""

    model: str = "cnn"
    dataset: str = "synthetic_chars"
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 2e-3
    balance: str = "sampling"  # "sampling" | "weights" | "none"
    augment: float = 1.0
    patience: int = 4
    time_budget: float | None = None  # seconds; replaces the step-based schedule when set
    seed: int = 0
    max_train_samples: int | None = None
    init_from: str | None = None  # a .keras file or model folder to start from (fine-tuning)
    model_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class LineTrainConfig:
    """A line recognizer, by keras fit (`line_train.py`) or the fast loop (`line_loop.py`)."""

    model: str = "crnn"
    mix: dict[str, float] = field(default_factory=lambda: {"synthetic_handwriting": 1.0})
    lines_dirs: list[str] = field(default_factory=list)
    epochs: int = 10
    steps_per_epoch: int = 200
    batch_size: int = 32
    learning_rate: float = 1e-3
    augment: float = 1.0
    height: int = line_stem.HEIGHT
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


@dataclass
class DetectorTrainConfig:
    """The line detector on page images (`detector_train.py`)."""

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
    height: int = page_stem.HEIGHT
    patch_width: int = 320
    patch_height: int = 256  # crops of the page scaled to `height` (fully convolutional)
    patience: int = 8
    time_budget: float | None = None
    seed: int = 0
    max_pages: int | None = None  # subsample the training pages (tests)
    model_options: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None  # a detector folder whose weights to start from


KINDS: dict[str, type] = {
    "chars": TrainConfig,
    "lines": LineTrainConfig,
    "pages": DetectorTrainConfig,
}

Config = TypeVar("Config")


def from_options(cls: type[Config], **given: Any) -> Config:
    """`cls`'s defaults with the options that were given (None means not given) laid over."""
    return cls(**{name: value for name, value in given.items() if value is not None})


def defaults_help(name: str, *kinds: str) -> str:
    """`Default 128 (chars), 32 (lines), 4 (pages).`: a help text's default (of `kinds`, or of
    every kind), read from the dataclasses so the CLI never restates a number."""
    values: dict[str, Any] = {}
    for kind in kinds or KINDS:
        spec = {f.name: f for f in fields(KINDS[kind])}[name]
        values[kind] = spec.default_factory() if spec.default is MISSING else spec.default
    if len(set(map(repr, values.values()))) == 1:
        return f"Default {next(iter(values.values()))}."
    return "Default " + ", ".join(f"{v} ({kind})" for kind, v in values.items()) + "."
