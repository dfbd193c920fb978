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


def augment_line(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Line augmentation (ink-bright uint8, fixed height): slant, small rotation, width
    stretch, stroke weight, blur, noise. Height is kept; width may change."""
    if strength <= 0:
        return image
    h, w = image.shape
    out = image.astype(np.float32)
    # slant + rotation + horizontal stretch in one affine, output widened to keep the ink
    shear = rng.normal(0, 0.15 * strength)
    angle = np.deg2rad(rng.normal(0, 1.0 * strength))
    stretch = float(np.exp(rng.normal(0, 0.12 * strength)))
    forward = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ (
        np.array([[1.0, 0.0], [shear, stretch]])
    )
    new_w = max(8, int(round(w * stretch + abs(shear) * h)))
    inverse = np.linalg.inv(forward)
    centre_in = np.array([(h - 1) / 2, (w - 1) / 2])
    centre_out = np.array([(h - 1) / 2, (new_w - 1) / 2])
    offset = centre_in - inverse @ centre_out
    out = ndimage.affine_transform(out, inverse, offset=offset, output_shape=(h, new_w), order=1)
    weight = rng.random()
    if weight < 0.2 * strength:
        out = ndimage.grey_dilation(out, size=(2, 2))
    elif weight > 1 - 0.15 * strength:
        out = ndimage.grey_erosion(out, size=(2, 1))
    if rng.random() < 0.3 * strength:
        out = ndimage.gaussian_filter(out, rng.uniform(0.3, 1.0))
    if rng.random() < 0.3 * strength:
        out = out * rng.uniform(0.6, 1.0) + rng.normal(0, rng.uniform(2, 12), out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def _pil_affine(image: np.ndarray, matrix: tuple[float, ...], width: int) -> np.ndarray:
    from PIL import Image

    out = Image.fromarray(image).transform(
        (width, image.shape[0]), Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR
    )
    return np.asarray(out)


STRETCH_SIGMA = 0.15  # log-std of the width stretch at strength 1
MAX_STRETCH = 3.0  # a stretch towards a batch's width stays within 3 sigma of none


def _bounded_stretch(wanted: float, strength: float) -> float:
    """`wanted` clipped to within MAX_STRETCH sigma of no stretch (log scale)."""
    bound = MAX_STRETCH * STRETCH_SIGMA * strength
    return float(np.exp(np.clip(np.log(max(wanted, 1e-3)), -bound, bound)))


def stretch_to_width(image: np.ndarray, width: int, strength: float = 1.0) -> np.ndarray:
    """Resize a line's width towards `width`, as far as `augment_line_fast`'s stretch range
    at `strength` allows (a line drawn without augmentation, in a stretched batch)."""
    from PIL import Image

    new_w = max(8, int(round(image.shape[1] * _bounded_stretch(width / image.shape[1], strength))))
    if new_w == image.shape[1]:
        return image
    resized = Image.fromarray(image).resize((new_w, image.shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized)


def augment_line_fast(
    image: np.ndarray, rng: np.random.Generator, strength: float = 1.0, width: int | None = None
) -> np.ndarray:
    """Line augmentation for the fast recipe, aimed at writers never seen: slant, x-height
    (scale about the centre line), width stretch, stroke weight, wavy baseline, blur, contrast.

    Pillow's C transforms and integer column shifts instead of SciPy's float warps: ~10x
    cheaper than `augment_line`, so augmenting costs little beside a CPU training step.
    `width` asks for that output width: the stretch is chosen to reach it (within 3 sigma of
    no stretch) instead of drawn, so a batch whose target width is itself drawn at random
    (`line_stream.BucketedBatches`) keeps the stretch's spread without padding its lines."""
    from PIL import Image, ImageFilter

    if strength <= 0:
        return image
    h, w = image.shape
    shear = rng.normal(0, 0.2 * strength)
    stretch = float(np.exp(rng.normal(0, STRETCH_SIGMA * strength)))
    scale = float(np.exp(rng.normal(0, 0.08 * strength)))  # ink size within the fixed height
    if width is not None:
        stretch = _bounded_stretch((width - abs(shear) * h) / (w * scale), strength)
    new_w = max(8, int(round(w * stretch * scale + abs(shear) * h)))
    # output (x, y) -> input: x_in = (x - cx_out - shear (y - cy)) / (stretch scale) + cx_in
    cy, cx_in, cx_out = (h - 1) / 2, (w - 1) / 2, (new_w - 1) / 2
    a = 1 / (stretch * scale)
    b = -shear * a
    e = 1 / scale
    matrix = (a, b, cx_in - a * cx_out - b * cy, 0.0, e, cy - e * cy)
    out = _pil_affine(image, matrix, new_w)
    pick = rng.random()
    if pick < 0.2 * strength:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.MaxFilter(3)))
    elif pick > 1 - 0.15 * strength:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.MinFilter(3)))
    if rng.random() < 0.4 * strength:  # wavy baseline: each column moves up or down a little
        phase, cycles = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 3.0)
        shift = np.sin(np.linspace(0, 2 * np.pi * cycles, new_w) + phase)
        shift = np.round(shift * rng.uniform(0, 0.06 * h * strength)).astype(int)
        rows = (np.arange(h)[:, None] - shift[None, :]).clip(0, h - 1)
        out = np.take_along_axis(out, rows, axis=0)
    if rng.random() < 0.25 * strength:
        radius = float(rng.uniform(0.3, 1.0))
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(radius)))
    if rng.random() < 0.3 * strength:  # faded ink, sensor noise
        noisy = out * rng.uniform(0.6, 1.0) + rng.normal(0, rng.uniform(2, 10), out.shape)
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out, dtype=np.uint8)
