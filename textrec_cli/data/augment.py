"""Image augmentation in NumPy/SciPy (backend-agnostic): small affine warps and elastic distortion.

Handwriting varies by slant, size, position and local wobble; these four transforms cover most of
it for 28x28 glyphs (Simard et al. 2003), and run identically under any Keras backend.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def random_affine(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    max_rotation: float = 10.0,
    max_shear: float = 0.25,
    scale_range: tuple[float, float] = (0.85, 1.1),
    max_shift: float = 2.0,
) -> np.ndarray:
    """Rotate, shear, scale and shift around the image centre (degrees, ratio, pixels)."""
    theta = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
    shear = rng.uniform(-max_shear, max_shear)
    scale = rng.uniform(*scale_range)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    forward = rot @ np.array([[1.0, 0.0], [shear, 1.0]]) * scale  # (row, col) coordinates
    inverse = np.linalg.inv(forward)
    centre = (np.array(image.shape, dtype=np.float64) - 1) / 2
    shift = rng.uniform(-max_shift, max_shift, size=2)
    offset = centre - inverse @ (centre + shift)
    return ndimage.affine_transform(image, inverse, offset=offset, order=1, mode="constant")


def elastic(
    image: np.ndarray, rng: np.random.Generator, *, alpha: float = 8.0, sigma: float = 3.0
) -> np.ndarray:
    """Smooth random displacement field: alpha = strength (px), sigma = smoothness (px)."""
    shape = image.shape
    dy = ndimage.gaussian_filter(rng.uniform(-1, 1, shape), sigma) * alpha
    dx = ndimage.gaussian_filter(rng.uniform(-1, 1, shape), sigma) * alpha
    rows, cols = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    coords = np.array([rows + dy, cols + dx])
    return ndimage.map_coordinates(image, coords, order=1, mode="constant")


def augment_glyph(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Training-time augmentation of one uint8 glyph; returns uint8 of the same shape."""
    out = image.astype(np.float32)
    if strength <= 0:
        return image
    out = random_affine(
        out,
        rng,
        max_rotation=10.0 * strength,
        max_shear=0.25 * strength,
        scale_range=(1 - 0.15 * strength, 1 + 0.1 * strength),
        max_shift=2.0 * strength,
    )
    if rng.random() < 0.5:
        out = elastic(out, rng, alpha=6.0 * strength, sigma=3.0)
    return np.clip(out, 0, 255).astype(np.uint8)
