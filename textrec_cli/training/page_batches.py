"""Page patches for the line detector: pages in memory, augmented patches, validation tiles.

Each draw scales a page so its lines are `line_spacing` patch pixels apart (the size inference
rescales pages to, see inference/page_scale.py) with a random jitter, applies a small rotation,
crop and photometric changes to page and band labels together, and draws the half-resolution
band map. Validation pages are size-normalised the same way, unaugmented.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from PIL import Image, ImageFilter

from textrec_cli.data.page_targets import band_spacing, draw_bands, line_band
from textrec_cli.progress import progress_bar
from textrec_cli.stems import page as page_stem_module
from textrec_cli.training.configs import DetectorTrainConfig

STORE_HEIGHT = 640  # pages are kept at this height in memory (scale jitter goes up to 1.2x)
SIZE_JITTER = (0.7, 1.45)  # spacing estimates at inference are off by about this much


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
