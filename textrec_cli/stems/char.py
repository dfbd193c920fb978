"""Turn any character image into the EMNIST look: 28x28, ink bright on black, centred, 24 px tall.

Synthetic glyphs go through this same function at dataset build time, and `predict` calls it on
user images, so the bundled model never sees an input shaped differently from its training data.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

SIZE = 28
GLYPH_BOX = 24  # EMNIST pads the glyph's square frame by 2 px on each side


def to_gray_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """Grayscale float32 in [0, 255]; alpha is composited on white (transparent = paper)."""
    if isinstance(image, np.ndarray):
        return image.astype(np.float32)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32)


def ink_positive(gray: np.ndarray) -> np.ndarray:
    """Return ink bright on a zero background, whatever the polarity of the input.

    The border's median is the paper: if it is brighter than the image's middle gray the image is
    dark-on-light and gets inverted. The paper level is then subtracted so faint scans still fill
    the dynamic range.
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = float(np.median(border))
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
