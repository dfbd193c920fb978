"""From the detector's band map to line polygons in reading order (scikit-image + SciPy).

Each connected band is one line; it is grown up and down by the ascender/descender ratios the
detector was trained with (metadata `band_ratios`), traced with `find_contours`, simplified, and
scaled back to the input image's pixels. Columns are found from vertical gutters between lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import measure

from textrec_cli.data.page_targets import BAND_DOWN, BAND_UP, BandRatios
from textrec_cli.data.page_xml import PageLine
from textrec_cli.stems.page import page_stem

MAX_LINES = 300  # a photo of gravel must not become 10,000 line crops
MIN_BAND_WIDTH = 4  # band-map pixels (8 detector-input pixels)

# The detector as a function: uint8 page stems (1, H, W, 1) -> band probabilities (1, H/2, W/2, 1).
# A Keras model (`keras_forward`) and an exported LiteRT graph (serving) both fit, so the page
# pre- and post-processing below is one code path for `predict` and for serving.
Forward = Callable[[np.ndarray], np.ndarray]


def keras_forward(model: Any) -> Forward:
    """A Keras detector as a Forward."""
    from keras import ops

    # a direct call, not predict_on_batch: every page width would retrace a compiled function, and
    # TF's shape-relaxed retrace cannot run bilinear upsampling over an unknown width
    return lambda x: ops.convert_to_numpy(model(x, training=False))


def band_map(
    forward: Forward, image: Image.Image | np.ndarray, height: int
) -> tuple[np.ndarray, float]:
    """(band probability over the image's area, input pixels per band-map pixel)."""
    stem, scale = page_stem(image, height)
    prob = np.asarray(forward(stem[None, :, :, None]))[0, :, :, 0]
    w, h = image.size if isinstance(image, Image.Image) else image.shape[::-1]
    # at least one map pixel: a 20000x1 image scales to under half a stem row (was a 500)
    valid_w = max(1, -(-round(w / scale) // 2))
    valid_h = max(1, -(-round(h / scale) // 2))
    return prob[:valid_h, :valid_w], 2 * scale


def detect_lines(
    forward: Forward,
    image: Image.Image | np.ndarray,
    metadata: dict[str, Any],
    threshold: float = 0.5,
) -> list[PageLine]:
    """One detector pass on a page -> its lines (polygon, baseline, detection confidence)."""
    height = int(metadata.get("input_shape", [512])[0])
    ratios = BandRatios(**metadata.get("band_ratios", {}))
    prob, factor = band_map(forward, image, height)
    w, h = image.size if isinstance(image, Image.Image) else image.shape[::-1]
    return bands_to_lines(prob, factor, (w, h), ratios, threshold)


def bands_to_lines(
    prob: np.ndarray,
    factor: float,
    image_size: tuple[int, int],
    ratios: BandRatios | None = None,
    threshold: float = 0.5,
) -> list[PageLine]:
    """Band probability map -> lines in reading order; coordinates = (map px + 0.5) * factor."""
    ratios = ratios or BandRatios()
    if prob.size == 0 or min(image_size) < 1:
        return []  # nothing to detect on (an extreme-aspect image's map can be empty)
    labels = measure.label(prob > threshold, connectivity=2)
    regions = [
        r for r in measure.regionprops(labels, intensity_image=prob)
        if r.bbox[3] - r.bbox[1] >= MIN_BAND_WIDTH
        and r.bbox[3] - r.bbox[1] >= 1.5 * r.area / max(r.bbox[3] - r.bbox[1], 1)
    ]  # fmt: skip
    regions = sorted(regions, key=lambda r: -r.area)[:MAX_LINES]
    lines = [_region_line(r, factor, image_size, ratios) for r in regions]
    return reading_order([line for line in lines if line is not None])


def _region_line(region, factor: float, image_size: tuple[int, int], ratios: BandRatios):
    top, left, _, _ = region.bbox
    band = region.image
    columns = band.any(axis=0)
    thickness = max(region.area / max(int(columns.sum()), 1), 1.0)
    up, down = int(np.ceil(ratios.above * thickness)), int(np.ceil(ratios.below * thickness))
    side = int(np.ceil(0.4 * thickness))
    reach = max(up, down)
    pad = np.pad(band, ((reach + 1, reach + 1), (side + 1, side + 1)))
    footprint = np.zeros((2 * reach + 1, 2 * side + 1), dtype=np.uint8)
    footprint[reach - down : reach + up + 1] = 1  # a row is outline if band lies `up` below it
    grown = ndimage.correlate(pad.astype(np.uint8), footprint, mode="constant") > 0
    contours = measure.find_contours(grown.astype(np.float32), 0.5)
    if not contours:
        return None
    contour = measure.approximate_polygon(max(contours, key=len), tolerance=0.75)
    oy, ox = top - reach - 1, left - side - 1
    w, h = image_size
    polygon = _to_image(contour[:, 1] + ox, contour[:, 0] + oy, factor, w, h)
    if len(polygon) > 1 and polygon[0] == polygon[-1]:
        polygon = polygon[:-1]
    # baseline: the band's lower edge, raised by the share of the band drawn below the baseline
    cols = np.flatnonzero(columns)
    bottoms = band.shape[0] - 1 - band[::-1, cols].argmax(axis=0) + 1.0
    rows = bottoms - thickness * BAND_DOWN / (BAND_UP + BAND_DOWN)
    fit = np.polyfit(cols, rows, 1) if cols.size > 1 else np.array([0.0, rows[0]])
    xs = np.linspace(cols[0], cols[-1] + 1, 5)
    ys = np.polyval(fit, xs)
    baseline = _to_image(xs + left - 0.5, ys + top - 0.5, factor, w, h)
    return PageLine(polygon, baseline, "", "", float(region.intensity_mean))


def _to_image(cols: np.ndarray, rows: np.ndarray, factor: float, w: int, h: int) -> list:
    xs = np.clip(np.round((np.asarray(cols) + 0.5) * factor), 0, w - 1).astype(int)
    ys = np.clip(np.round((np.asarray(rows) + 0.5) * factor), 0, h - 1).astype(int)
    return [(int(x), int(y)) for x, y in zip(xs, ys, strict=True)]


def reading_order(lines: list[PageLine]) -> list[PageLine]:
    """Columns left to right (split at vertical gutters no line crosses), top to bottom in each."""
    if not lines:
        return []
    boxes = np.array([line.box for line in lines], dtype=np.float64)
    spans = sorted(zip(boxes[:, 0], boxes[:, 2], strict=True))
    starts, end = [spans[0][0]], spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 > end:  # a gutter: no line covers (end, x0)
            starts.append(x0)
        end = max(end, x1)
    centers_x = (boxes[:, 0] + boxes[:, 2]) / 2
    column = np.searchsorted(np.array(starts), centers_x, side="right")
    centers_y = (boxes[:, 1] + boxes[:, 3]) / 2
    order = np.lexsort((centers_x, centers_y, column))
    return [lines[i] for i in order]
