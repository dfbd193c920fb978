"""Turn any character image into the EMNIST look: 28x28, ink bright on black, centred, 24 px tall.

Synthetic glyphs go through this same function at dataset build time, and `predict` calls it on
user images, so the bundled model never sees an input shaped differently from its training data.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

SIZE = 28
GLYPH_BOX = 24  # EMNIST pads the glyph's square frame by 2 px on each side


ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


def to_gray_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """Grayscale float32 in [0, 255] from any PIL mode: alpha (or a tRNS colour) is composited
    on white (transparent = paper); 16-bit, 32-bit and float images are scaled, not clipped,
    since PIL's own convert("L") saturates them (a 16-bit scan would read as blank)."""
    if isinstance(image, np.ndarray):
        return image.astype(np.float32)
    if image.mode.startswith("I") or image.mode == "F":
        return _scale_wide(np.asarray(image), image.mode)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32)


def _scale_wide(values: np.ndarray, mode: str) -> np.ndarray:
    """16/32-bit integer or float pixels -> [0, 255] by the range their values use: 16-bit by
    65535, float in [0, 1] by 255, values already in [0, 255] as they are, anything else
    (negative, huge, HDR) stretched from its own min..max."""
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if values.size == 0:
        return values.astype(np.float32)
    lo, hi = float(values.min()), float(values.max())
    if mode.startswith("I;16") or (lo >= 0 and 255 < hi <= 65535 and mode == "I"):
        values = values / 257.0
    elif mode == "F" and lo >= 0 and hi <= 1.0:
        values = values * 255.0
    elif lo < 0 or hi > (65535 if mode == "F" else 255):
        values = (values - lo) * (255.0 / max(hi - lo, 1e-12))
    elif hi > 255:  # float in (255, 65535]: a 16-bit image stored as float
        values = values / 257.0
    return np.clip(values, 0, 255).astype(np.float32)


def border_median(values: np.ndarray) -> float:
    """np.median by np.partition: the same value, without importing numpy.ma (~0.1 s of a
    one-line `textrec predict`)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    middle = flat.size // 2
    if flat.size % 2:
        return float(np.partition(flat, middle)[middle])
    low, high = np.partition(flat, [middle - 1, middle])[middle - 1 : middle + 1]
    return float((low + high) / 2)


def ink_positive(gray: np.ndarray) -> np.ndarray:
    """Return ink bright on a zero background, whatever the polarity of the input.

    The border's median is the paper: if it is brighter than the image's middle gray the image is
    dark-on-light and gets inverted. The paper level is then subtracted so faint scans still fill
    the dynamic range.
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = border_median(border)
    if paper > 127.5:
        gray = 255.0 - gray
        paper = 255.0 - paper
    ink = np.clip(gray - paper, 0, None)
    peak = float(ink.max())
    return ink * (255.0 / peak) if peak > 0 else ink


def char_stem(image: Image.Image | np.ndarray, threshold: float = 0.25) -> np.ndarray:
    """Any-size, any-polarity character image -> uint8 (28, 28), EMNIST style."""
    ink = ink_positive(to_gray_array(image))
    mask = ink > threshold * 255.0
    if not mask.any():
        return np.zeros((SIZE, SIZE), dtype=np.uint8)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = crop.shape
    scale = GLYPH_BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    glyph = Image.fromarray(crop.astype(np.uint8))
    if scale < 0.5:  # EMNIST blurs before downsampling so thin strokes survive
        glyph = glyph.filter(ImageFilter.GaussianBlur(radius=0.5 / scale))
    glyph = glyph.resize((new_w, new_h), Image.Resampling.LANCZOS)
    canvas = np.zeros((SIZE, SIZE), dtype=np.float32)
    top, left = (SIZE - new_h) // 2, (SIZE - new_w) // 2
    canvas[top : top + new_h, left : left + new_w] = np.asarray(glyph, dtype=np.float32)
    peak = canvas.max()
    if peak > 0:
        canvas *= 255.0 / peak
    return np.clip(canvas, 0, 255).astype(np.uint8)
