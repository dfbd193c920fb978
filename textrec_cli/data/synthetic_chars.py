"""synthetic_chars: EMNIST-style glyphs rendered from handwriting fonts, split by font family.

EMNIST cannot be downloaded everywhere; this dataset gives the character models real-looking
handwriting shapes from the fonts in `../shared/fonts` (outline fonts + Hershey stroke fonts), with
varied size, stroke weight, slant and rotation, and passes every glyph through the same
`char_stem` that `predict` uses. Val and test fonts are never seen in training.
"""

from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from textrec_cli.data.charsets import EMNIST_BYCLASS
from textrec_cli.data.fonts import FontSource, discover_fonts, split_families
from textrec_cli.data.h5store import CharDataset, Split, write_dataset
from textrec_cli.errors import TextrecError
from textrec_cli.progress import progress_bar
from textrec_cli.stems.char import char_stem

NAME = "synthetic_chars"
_MISSING_PROBE = "\U000f0000"  # a private-use code point no handwriting font draws


def processed_path(data_dir: Path) -> Path:
    return Path(data_dir) / "processed" / f"{NAME}.h5"


def draws_glyph(font: ImageFont.FreeTypeFont, char: str) -> bool:
    mask = font.getmask(char)
    if mask.getbbox() is None:
        return False
    missing = font.getmask(_MISSING_PROBE)
    return not (mask.size == missing.size and bytes(mask) == bytes(missing))


def is_caps_only(font: ImageFont.FreeTypeFont) -> bool:
    """Fonts like Humor Sans draw 'x' as tall as 'X' (capital variants): lowercase labels lie."""

    def height(chars: str) -> int:
        return sum(font.getbbox(c)[3] - font.getbbox(c)[1] for c in chars)

    return height("acemnorsuvwxz") > 0.95 * height("ACEMNORSUVWXZ")


def available_chars(source: FontSource, charset: list[str]) -> list[str]:
    """The characters of `charset` this font really draws."""
    if source.kind == "hershey":
        from textrec_cli.data.hershey import load_hershey_font

        glyphs = load_hershey_font(source.path)
        return [c for c in charset if c in glyphs and glyphs[c].strokes]
    font = ImageFont.truetype(str(source.path), size=48)
    caps_only = is_caps_only(font)
    return [c for c in charset if draws_glyph(font, c) and not (caps_only and c.islower())]


def _render_outline(path: Path, char: str, rng: np.random.Generator) -> Image.Image:
    size = int(rng.integers(56, 100))
    font = ImageFont.truetype(str(path), size=size)
    canvas = Image.new("L", (size * 3, size * 3), 255)
    draw = ImageDraw.Draw(canvas)
    weight = int(rng.choice([0, 0, 1, 1, 2, 3, 4]))  # stroke thickening in px at this size
    draw.text((size, size // 2), char, font=font, fill=0, stroke_width=weight, stroke_fill=0)
    return canvas


def _render_hershey(path: Path, char: str, rng: np.random.Generator) -> Image.Image:
    from textrec_cli.data.hershey import load_hershey_font, render_glyph

    glyph = load_hershey_font(path)[char]
    return render_glyph(
        glyph,
        rng,
        height=96,
        stroke_width=float(rng.uniform(3.0, 10.0)),
        jitter=float(rng.uniform(0.0, 0.6)),
        slant=float(rng.uniform(-0.3, 0.3)),
    )


def render_sample(source: FontSource, char: str, rng: np.random.Generator) -> np.ndarray:
    """One augmented glyph through the shared stem: uint8 (28, 28), ink bright."""
    render = _render_hershey if source.kind == "hershey" else _render_outline
    image = render(source.path, char, rng)
    angle = float(rng.normal(0, 6))
    shear = float(rng.normal(0, 0.15))
    w, h = image.size
    image = image.transform(
        (w, h),
        Image.Transform.AFFINE,
        (1, shear, -shear * h / 2, 0, 1, 0),
        resample=Image.Resampling.BILINEAR,
        fillcolor=255,
    ).rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=255, expand=True)
    if rng.random() < 0.2:
        image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.5, 1.5))))
    return char_stem(image)


def _render_job(job: tuple[FontSource, str, int, int, tuple[int, ...]]) -> np.ndarray:
    source, char, label, count, seed = job
    rng = np.random.default_rng(seed)
    return np.stack([render_sample(source, char, rng) for _ in range(count)])


def build(
    fonts_dir: Path,
    per_class: dict[str, int],
    seed: int = 0,
    charset: list[str] | None = None,
    workers: int = 2,
    show_progress: bool = True,
) -> CharDataset:
    """Render `per_class[split]` glyphs per character for each split, fonts split by family."""
    charset = charset or EMNIST_BYCLASS
    sources = discover_fonts(fonts_dir)
    if not sources:
        raise TextrecError(f"no fonts (.ttf/.otf/.woff/.jhf) found in {fonts_dir}")
    family_split = split_families([s.family for s in sources])
    coverage = {s: available_chars(s, charset) for s in sources}
    jobs: dict[str, list[tuple]] = {"train": [], "val": [], "test": []}
    for label, char in enumerate(charset):
        for split in jobs:
            fonts = [s for s in sources if family_split[s.family] == split and char in coverage[s]]
            if not fonts:
                fonts = [s for s in sources if char in coverage[s]] if split == "train" else []
            if not fonts:
                continue
            per_font = math.ceil(per_class[split] / len(fonts))
            for source in fonts:
                job_seed = (
                    seed,
                    label,
                    sources.index(source),
                    ["train", "val", "test"].index(split),
                )
                jobs[split].append((source, char, label, per_font, job_seed))
    splits: dict[str, Split] = {}
    total = sum(len(j) for j in jobs.values())
    with progress_bar("rendering glyphs", total, enabled=show_progress) as advance:
        pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
        try:
            for split, split_jobs in jobs.items():
                mapper = (
                    pool.map(_render_job, split_jobs, chunksize=4)
                    if pool
                    else map(_render_job, split_jobs)
                )
                xs, ys = [], []
                for job, images in zip(split_jobs, mapper, strict=True):
                    xs.append(images)
                    ys.append(np.full(len(images), job[2], dtype=np.int64))
                    advance(1)
                if xs:
                    splits[split] = Split(np.concatenate(xs), np.concatenate(ys))
        finally:
            if pool:
                pool.shutdown()
    metadata = {
        "source": f"fonts in {fonts_dir}",
        "seed": seed,
        "per_class": per_class,
        "fonts": {s.path.name: family_split[s.family] for s in sources},
        "families": family_split,
    }
    return CharDataset(NAME, list(charset), splits, metadata)


def prepare(
    data_dir: Path,
    fonts_dir: Path | None = None,
    per_class_train: int = 800,
    per_class_eval: int = 150,
    seed: int = 0,
    workers: int = 2,
    show_progress: bool = True,
) -> Path:
    """Render the dataset into data_dir/processed/synthetic_chars.h5 (atomic write)."""
    if fonts_dir is None:
        from textrec_cli.settings import fonts_dir as default_fonts_dir

        fonts_dir = default_fonts_dir()
    if fonts_dir is None or not Path(fonts_dir).is_dir():
        raise TextrecError(
            "no fonts directory: pass --fonts-dir or set TEXTREC_FONTS_DIR to a folder of "
            "handwriting fonts (.ttf/.otf/.woff, Hershey .jhf)"
        )
    per_class = {"train": per_class_train, "val": per_class_eval, "test": per_class_eval}
    dataset = build(Path(fonts_dir), per_class, seed, workers=workers, show_progress=show_progress)
    path = processed_path(data_dir)
    write_dataset(path, dataset)
    return path
