"""What the line detector learns: each line's x-height band, drawn from its polygon and baseline.

Whole line outlines touch on a tightly written page; the band from a little above the baseline up
to half the ascender height does not, so one connected component is one line. The post-processor
grows each band back to a full outline with the ratios measured here (`BandRatios`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw

from textrec_cli.data.page_xml import PageLine

# band = [baseline - BAND_UP * ascent, baseline + BAND_DOWN * ascent], ascent = baseline - top
BAND_UP = 0.5
BAND_DOWN = 0.1


@dataclass
class BandRatios:
    """Outline extent beyond the band, in band thicknesses (medians over training lines)."""

    above: float = 0.85
    below: float = 0.75

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _baseline_fn(line: PageLine):
    """y of the baseline at any x (or the polygon's lowest-third line when none is given)."""
    points = sorted(line.baseline)
    if len(points) < 2:
        x0, y0, x1, y1 = line.box
        y = y0 + 0.7 * (y1 - y0)
        points = [(x0, y), (x1, y)]
    xs = np.array([p[0] for p in points], dtype=np.float64)
    ys = np.array([p[1] for p in points], dtype=np.float64)
    return lambda x: np.interp(x, xs, ys)


def line_band(line: PageLine, step: int = 4) -> tuple[list[tuple[float, float]], float, float]:
    """(band polygon, ascent, descent) of a line in its own pixel coordinates."""
    x0, y0, x1, y1 = line.box
    w, h = x1 - x0 + 1, y1 - y0 + 1
    mask = Image.new("1", (w, h), 0)
    ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in line.polygon], fill=1)
    m = np.asarray(mask, dtype=bool)
    cols = np.flatnonzero(m.any(axis=0))
    baseline = _baseline_fn(line)
    if cols.size == 0:
        return [], 0.0, 0.0
    tops = m[:, cols].argmax(axis=0) + y0
    bottoms = h - 1 - m[::-1, cols].argmax(axis=0) + y0
    base = baseline(cols + x0)
    ascent = float(max(np.median(base - tops), 2.0))
    descent = float(max(np.median(bottoms - base), 0.0))
    xs = np.arange(cols[0], cols[-1] + 1, step, dtype=np.float64) + x0
    xs = np.append(xs, cols[-1] + x0) if xs[-1] != cols[-1] + x0 else xs
    upper = [(x, baseline(x) - BAND_UP * ascent) for x in xs]
    lower = [(x, baseline(x) + BAND_DOWN * ascent) for x in xs[::-1]]
    return upper + lower, ascent, descent


def measure_ratios(lines: list[PageLine]) -> BandRatios:
    """Median outline extent above/below the band, in band thicknesses, over many lines."""
    above, below = [], []
    thickness = BAND_UP + BAND_DOWN
    for line in lines:
        _, ascent, descent = line_band(line)
        if ascent > 0:
            above.append((1 - BAND_UP) / thickness)  # the ascent part left above the band
            below.append(max(descent / ascent - BAND_DOWN, 0) / thickness)
    if not above:
        return BandRatios()
    return BandRatios(float(np.median(above)), float(np.median(below)))


def draw_bands(
    bands: list[list[tuple[float, float]]], size: tuple[int, int], matrix: np.ndarray | None = None
) -> np.ndarray:
    """uint8 (H, W) mask of band polygons, mapped by a 2x3 affine `matrix` (input px -> mask px)."""
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for band in bands:
        if len(band) < 3:
            continue
        points = np.asarray(band, dtype=np.float64)
        if matrix is not None:
            points = points @ matrix[:, :2].T + matrix[:, 2]
        draw.polygon([tuple(p) for p in points], fill=1)
    return np.asarray(mask, dtype=np.uint8)


def band_spacing(bands: list[list[tuple[float, float]]]) -> float | None:
    """Median distance from each band to the nearest band below it that shares its columns.

    The writing's size on a page, in the bands' pixels: the trainer rescales each page so its
    lines arrive at the spacing the detector learns (and inference estimates the same quantity).
    """
    boxes = [(min(x for x, _ in b), (min(y for _, y in b) + max(y for _, y in b)) / 2,
              max(x for x, _ in b)) for b in bands if len(b) >= 3]  # fmt: skip
    gaps = []
    for x0, y, x1 in boxes:
        below = [
            y2 - y for a0, y2, a1 in boxes
            if y2 > y + 1 and min(x1, a1) - max(x0, a0) > 0.3 * min(x1 - x0, a1 - a0)
        ]  # fmt: skip
        if below:
            gaps.append(min(below))
    return float(np.median(gaps)) if gaps else None
