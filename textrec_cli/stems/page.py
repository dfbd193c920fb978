"""Turn a page image into the line detector's input: gray, fixed height, width padded to /16.

Training pages and `predict` pages both pass through `page_stem`, so the detector sees at
inference the same scale and padding it learned on; `scale` maps detector pixels back to the
input image's pixels.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from textrec_cli.stems.char import to_gray_array

HEIGHT = 512
MAX_WIDTH = 2048  # very wide images are scaled down further so memory stays bounded
MULTIPLE = 16  # four 2x poolings in the U-Net


def page_stem(image: Image.Image | np.ndarray, height: int = HEIGHT) -> tuple[np.ndarray, float]:
    """(uint8 (H, W') gray page, scale) with W' a multiple of 16; input px = stem px * scale."""
    gray = to_gray_array(image)
    h, w = gray.shape
    scale = max(h / height, w / MAX_WIDTH)
    new_h, new_w = max(1, round(h / scale)), max(1, round(w / scale))
    resized = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).resize(
        (new_w, new_h), Image.Resampling.BILINEAR if scale < 1 else Image.Resampling.BOX
    )
    return pad_to_multiple(np.asarray(resized, dtype=np.uint8), height), scale


def pad_to_multiple(gray: np.ndarray, height: int = HEIGHT) -> np.ndarray:
    """Pad bottom/right with the paper's gray (the border median) to `height` x multiple of 16."""
    h, w = gray.shape
    paper = int(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))
    out_w = max(MULTIPLE, -(-w // MULTIPLE) * MULTIPLE)
    out = np.full((max(height, h), out_w), paper, dtype=np.uint8)
    out[:h, :w] = gray
    return out
