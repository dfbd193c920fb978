"""Turn any line image into the line models' input: fixed height, ink bright on black, uint8.

Real line crops, synthetic lines and `predict` inputs all pass through `line_stem`, so the served
model sees exactly what it was trained on.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

from textrec_cli import settings
from textrec_cli.errors import LimitError
from textrec_cli.stems.char import ink_positive, to_gray_array

HEIGHT = 40
MIN_WIDTH = 16


def padded_batches(
    stems: list[np.ndarray], batch_size: int, width_step: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(indices, uint8 (B, H, W, 1)) over width-sorted stems, each batch zero-padded to a multiple
    of `width_step`: similar widths share a batch, so little compute goes to padding."""
    order = np.argsort([s.shape[1] for s in stems], kind="stable")
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = int(np.ceil(max(stems[i].shape[1] for i in chunk) / width_step) * width_step)
        x = np.zeros((len(chunk), stems[chunk[0]].shape[0], width, 1), dtype=np.uint8)
        for row, i in enumerate(chunk):
            x[row, :, : stems[i].shape[1], 0] = stems[i]
        yield chunk, x


def stem_width(width: int, height: int, stem_height: int = HEIGHT) -> int:
    """The width a `width` x `height` crop gets at `stem_height`: computed before any resize, so
    its cost is known (and bounded) first."""
    return max(MIN_WIDTH, round(width * stem_height / max(height, 1)))


def line_stem(
    image: Image.Image | np.ndarray,
    height: int = HEIGHT,
    pad: int = 2,
    max_width: int | None = None,
    squeeze: bool = False,
) -> np.ndarray:
    """Gray, ink-positive, trimmed to the ink's columns (+pad), resized to `height` by aspect.

    Rows are not trimmed: the crop's vertical extent (ascenders, descenders) is part of the
    signal, and line crops from a page or a detector come with their own margins. A stem wider
    than `max_width` (default settings.MAX_LINE_WIDTH) is a LimitError, or with `squeeze` is
    squeezed to that width (page crops: one odd detection must not fail the page).
    """
    max_width = max_width or settings.MAX_LINE_WIDTH
    ink = ink_positive(to_gray_array(image))
    columns = np.flatnonzero((ink > 0.25 * 255).any(axis=0))
    if columns.size:
        ink = ink[:, max(0, columns[0] - pad) : columns[-1] + 1 + pad]
    h, w = ink.shape
    new_w = stem_width(w, h, height)
    if new_w > max_width:
        if not squeeze:
            raise LimitError(
                f"line image of {w}x{h} pixels (trimmed to its ink) would be {new_w} px wide "
                f"at height {height}, over the {max_width}-px line limit (aspect ratio over "
                f"{max_width / height:.0f}:1): crop it into shorter lines"
            )
        new_w = max_width
    resized = Image.fromarray(np.clip(ink, 0, 255).astype(np.uint8)).resize(
        (new_w, height), Image.Resampling.BILINEAR if h < height else Image.Resampling.LANCZOS
    )
    return np.asarray(resized, dtype=np.uint8)
