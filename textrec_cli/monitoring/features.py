"""What a served image and its reading look like, as a few numbers cheap enough for every request.

Drift shows up here first: a new scanner changes size and intensity, a new pen the stroke width,
a new writer the slant, a new language the character histogram and the model's confidence.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
from PIL import Image

from textrec_cli.stems.char import to_gray_array

# Continuous features compared with a two-sample KS test (order = store columns).
IMAGE_FEATURES: tuple[str, ...] = (
    "width", "height", "aspect", "mean_intensity", "std_intensity", "paper_level",
    "ink_level", "ink_ratio", "stroke_width", "slant",
)  # fmt: skip
OUTPUT_FEATURES: tuple[str, ...] = ("text_length", "confidence")
CONTINUOUS_FEATURES: tuple[str, ...] = IMAGE_FEATURES + OUTPUT_FEATURES

# Features are measured on at most this many pixels (a large scan is shrunk first: speed only).
MAX_FEATURE_PIXELS = 1_000_000
INK_THRESHOLD = 0.35  # fraction of the paper-to-darkest range that counts as ink


def content_hash(image: Image.Image) -> str:
    """sha256 of the decoded pixels (mode, size, bytes): the same image in any file format."""
    digest = hashlib.sha256(f"{image.mode}|{image.width}x{image.height}|".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def _ink_mask(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """Pixels far from the paper level (the border's median), whatever the polarity."""
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = float(np.median(border))
    distance = np.abs(gray - paper)
    span = float(distance.max())
    if span < 1.0:
        return np.zeros(gray.shape, dtype=bool), paper
    return distance > INK_THRESHOLD * span, paper


def _stroke_width(mask: np.ndarray) -> float:
    """Ink area over half its perimeter: the width of a long thin stroke."""
    area = int(mask.sum())
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    interior = (
        padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1]
        & padded[1:-1, :-2] & padded[1:-1, 2:]
    )  # fmt: skip
    perimeter = area - int(interior.sum())
    return 2.0 * area / max(perimeter, 1)


def _slant(gray: np.ndarray, mask: np.ndarray) -> float:
    """Median shear of near-vertical stroke edges (gy/gx where |gx| > 2|gy|): > 0 leans right.

    0.0 for an image with one row or column: np.gradient needs two samples per axis, and such an
    image has no strokes to lean (it once failed here, and the prediction went unstored)."""
    if gray.ndim != 2 or min(gray.shape) < 2:
        return 0.0
    ink = np.abs(gray - np.median(gray[~mask])) if (~mask).any() else gray
    gy, gx = np.gradient(ink)
    magnitude = np.hypot(gx, gy)
    edges = (np.abs(gx) > 2 * np.abs(gy)) & (magnitude > 0.25 * max(float(magnitude.max()), 1e-6))
    if edges.sum() < 3:
        return 0.0
    return float(np.median(gy[edges] / gx[edges]))


def image_features(image: Image.Image) -> dict[str, float]:
    """Size, intensity, ink and handwriting-style features of one input image."""
    width, height = image.size
    if width * height > MAX_FEATURE_PIXELS:
        scale = (MAX_FEATURE_PIXELS / (width * height)) ** 0.5
        small = image.resize((max(1, round(width * scale)), max(1, round(height * scale))))
    else:
        scale, small = 1.0, image
    gray = to_gray_array(small)
    mask, paper = _ink_mask(gray)
    ink = gray[mask]
    values = {
        "width": float(width),
        "height": float(height),
        "aspect": width / max(height, 1),
        "mean_intensity": float(gray.mean()),
        "std_intensity": float(gray.std()),
        "paper_level": paper,
        "ink_level": float(np.median(ink)) if ink.size else paper,
        "ink_ratio": float(mask.mean()),
        "stroke_width": _stroke_width(mask) / scale,
        "slant": _slant(gray, mask),
    }
    # the store's columns are NOT NULL floats and drift tests need finite numbers
    return {name: float(v) if np.isfinite(v) else 0.0 for name, v in values.items()}


def output_features(text: str, confidence: float) -> dict[str, float]:
    return {"text_length": float(len(text)), "confidence": float(confidence)}


def char_histogram(text: str) -> dict[str, int]:
    return dict(Counter(text))
