"""From a page to its line polygons in reading order: size the page, detect bands, trace lines.

The detector learned lines a fixed distance apart (`line_spacing` in its metadata), so the page is
first rescaled by the writing's own line spacing (`page_scale.estimate_spacing`) instead of to a
fixed height: small writing on a big scan is enlarged, a large hand shrunk. Each connected band of
the detector's map is one line, after fragments on one baseline (a widely spaced hand's words) are
closed into one band; a band is grown up and down by the ascender/descender ratios the detector
was trained with (metadata `band_ratios`) and outlined by its column envelope. Lines whose ink is
far fainter than the page's (show-through from the back), that lie on dark scanner bed or past
the binding (the facing page), or whose contrast is a step rather than strokes are dropped.
Columns are found from vertical gutters between lines. NumPy and cc3d (connected components)
only: the CLI's page mode and serving import this module at start-up, and scipy.ndimage's
import alone cost ~0.45 s of a one-page `predict` (benchmarks/cli_startup.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cc3d
import numpy as np
from PIL import Image, ImageDraw

from textrec_cli.data.page_targets import BAND_DOWN, BAND_UP, BandRatios, band_spacing
from textrec_cli.data.page_xml import PageLine
from textrec_cli.inference.page_scale import estimate_spacing
from textrec_cli.stems.char import to_gray_array
from textrec_cli.stems.page import page_stem

MAX_LINES = 300  # a photo of gravel must not become 10,000 line crops
MIN_BAND_WIDTH = 4  # band-map pixels (8 detector-input pixels)
LINE_SPACING = 18.0  # detector px between lines when the metadata does not say (Copiste, 512 px)
SIZE_RANGE = (1.0, 3.0)  # enlarge up to 3x; never shrink below the default height (see docs)
MAX_STEM_PIXELS = 3_000_000  # bounds detector time and memory on a huge, tiny-writing scan
TILE_OVERLAP = 64  # detector rows shared by neighbouring windows of a tall page
WORD_GAP = 3.0  # band thicknesses: fragments closer than this on one row are one line
EDGE_RATIO = 0.5  # handwriting: |dI/dx| >= 0.54 |dI/dy| on 99.5% of the shared pages' lines
EDGE_INK = 0.01  # share of not-paper border pixels beside a line: the line runs off the scan
SOLID = 0.3  # share of a box darker than mid-way from its paper to its ink: not strokes
FAINT = 0.4  # a line whose ink contrast is under this share of the page's median is show-through
NESTED = 0.6  # share of a short line's box inside a long line's box: maybe a tall letter's band
OUTLINED = 0.45  # ... and this share inside its outline: a tall letter (else a short line beside)
CONFIDENT = 0.8  # mean band probability of a short line kept beside a long one (whole lines: ~0.9)
STROKES = 0.035  # mean |dI/dx| per unit of a line's ink contrast: >= 0.041 on 2,366 lines found
# on the shared pages (copiste val, pages_more val + train); a sheet's edge on card, a smudge less
PAGE_EDGE = 0.6  # share of rows dark near a column: a page edge or the binding, not writing
EDGE_ZONE = 0.2  # page edges are looked for in this share of the width on either side

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
    forward: Forward, image: Image.Image | np.ndarray, height: int, window: int | None = None
) -> tuple[np.ndarray, float]:
    """(band probability over the image's area, input pixels per band-map pixel)."""
    stem, scale = page_stem(image, height)
    prob = tiled_forward(forward, stem, window)
    w, h = image.size if isinstance(image, Image.Image) else image.shape[::-1]
    # at least one map pixel: a 20000x1 image scales to under half a stem row (was a 500)
    valid_w = max(1, -(-round(w / scale) // 2))
    valid_h = max(1, -(-round(h / scale) // 2))
    return prob[:valid_h, :valid_w], 2 * scale


def tiled_forward(forward: Forward, stem: np.ndarray, window: int | None) -> np.ndarray:
    """The band map of a stem of any height through a detector that takes `window` rows (an
    exported LiteRT graph has a fixed height): short stems are padded with paper, tall ones run
    as overlapping windows whose central rows are stitched together."""
    h = stem.shape[0]
    run = lambda x: np.asarray(forward(x[None, :, :, None]))[0, :, :, 0]  # noqa: E731
    if window is None or h == window:
        return run(stem)
    if h < window:
        paper = int(np.median(stem[-1]))
        padded = np.vstack([stem, np.full((window - h, stem.shape[1]), paper, stem.dtype)])
        return run(padded)[: h // 2]
    overlap = min(TILE_OVERLAP, window // 4)
    step = window - 2 * overlap
    starts = list(range(0, h - window, step)) + [h - window]
    out = np.zeros((h // 2, stem.shape[1] // 2), dtype=np.float32)
    for top in starts:
        part = run(stem[top : top + window])
        lo = (top + (overlap if top else 0)) // 2
        hi = (top + window - (overlap if top + window < h else 0)) // 2
        out[lo:hi] = part[lo - top // 2 : hi - top // 2]
    return out


def stem_height(
    image_hw: tuple[int, int], spacing: float | None, height: int, target: float
) -> int:
    """Detector input height that puts lines `target` px apart (a multiple of 16, bounded)."""
    h, w = image_hw
    if not spacing:
        return height
    tall = h * target / spacing
    tall = float(np.clip(tall, SIZE_RANGE[0] * height, SIZE_RANGE[1] * height))
    tall = min(tall, float(np.sqrt(MAX_STEM_PIXELS * h / max(w, 1))))
    return max(64, int(round(tall / 16)) * 16)


def detect_lines(
    forward: Forward,
    image: Image.Image | np.ndarray,
    metadata: dict[str, Any],
    threshold: float = 0.5,
) -> list[PageLine]:
    """Size the page by its writing, one detector pass -> its lines (polygon, baseline, conf)."""
    height = int(metadata.get("input_shape", [512])[0])
    ratios = BandRatios(**metadata.get("band_ratios", {}))
    gray = to_gray_array(image)
    h, w = gray.shape
    if h < 1 or w < 1:
        return []
    found = estimate_spacing(gray)
    rotated = found is not None and found.rotated
    if rotated:  # lines run vertically: read the page turned upright, map the lines back
        gray = np.ascontiguousarray(np.rot90(gray, 1))
        h, w = gray.shape
    target = float(metadata.get("line_spacing") or LINE_SPACING)
    spacing = found.spacing if found else None
    lines = _detect_at(forward, gray, stem_height((h, w), spacing, height, target), ratios,
                       threshold, height)  # fmt: skip
    # the profile estimate can lock onto a third or twice the true pitch, and finds none on a
    # page of a few lines: the detected lines' own spacing, when it disagrees, decides
    measured = band_spacing([line.polygon for line in lines])
    if measured and not 0.65 < measured / (spacing or h * target / height) < 1.55:
        lines = _detect_at(forward, gray, stem_height((h, w), measured, height, target), ratios,
                           threshold, height)  # fmt: skip
    if rotated:
        lines = reading_order([_unrotate(line, h) for line in lines])
    return lines


def _detect_at(
    forward: Forward,
    gray: np.ndarray,
    tall: int,
    ratios: BandRatios,
    threshold: float,
    window: int | None = None,
) -> list[PageLine]:
    h, w = gray.shape
    prob, factor = band_map(forward, gray, tall, window)
    lines = bands_to_lines(prob, factor, (w, h), ratios, threshold)
    return drop_faint(gray, drop_beyond_edges(gray, drop_nested(lines)))


def drop_nested(lines: list[PageLine]) -> list[PageLine]:
    """Drop a short line lying mostly inside a much longer one's box (a tall letter's separate
    band), unless it is confidently detected and mostly outside the longer line's outline: a
    slanted line's box also covers the short last line of a paragraph beside its low end
    (pages_more: "roche.", "&c"), and slanted neighbours' boxes overlap, but they are as long."""
    kept: list[tuple[PageLine, tuple[int, int, int, int]]] = []
    area = lambda b: (b[2] - b[0] + 1) * (b[3] - b[1] + 1)  # noqa: E731
    for line, (x0, y0, x1, y1) in sorted(((ln, ln.box) for ln in lines), key=lambda p: -area(p[1])):
        inside = any(
            (x1 - x0) < 0.35 * (k[2] - k[0])
            and max(0, min(x1, k[2]) - max(x0, k[0]) + 1)
            * max(0, min(y1, k[3]) - max(y0, k[1]) + 1)
            >= NESTED * area((x0, y0, x1, y1))
            and (
                (line.confidence or 0.0) < CONFIDENT
                or _covered((x0, y0, x1, y1), long.polygon) >= OUTLINED
            )
            for long, k in kept
        )
        if not inside:
            kept.append((line, (x0, y0, x1, y1)))
    return reading_order([line for line, _ in kept])


def _covered(box: tuple[int, int, int, int], polygon: list[tuple[int, int]]) -> float:
    """Share of a box's pixels inside a polygon."""
    x0, y0, x1, y1 = box
    mask = Image.new("1", (x1 - x0 + 1, y1 - y0 + 1), 0)
    ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in polygon], fill=1)
    return float(np.asarray(mask, dtype=bool).mean())


def page_edges(gray: np.ndarray) -> tuple[float, float]:
    """(left, right) x of the innermost vertical page edge near each side (the binding's dark
    line, the sheet's edge on a dark scanner bed), or (-1, w) where there is none. A column
    counts as an edge when ink lies within 3 px of it on PAGE_EDGE of the rows: writing puts
    ink near at most 31% of a column's rows on the shared val pages, an edge near nearly all.
    Only the outer EDGE_ZONE is searched: a spread's gutter mid-scan is no side's edge."""
    h, w = gray.shape
    rows = gray[:: max(1, h // 400)]
    paper, ink = np.percentile(rows[:, :: max(1, w // 400)], [90, 1])
    dark = rows < paper - 0.5 * (paper - ink)
    share = (_window_count(dark, 7) > 0).mean(axis=0)
    edges = np.flatnonzero(share >= PAGE_EDGE)
    left = edges[edges < EDGE_ZONE * w]
    right = edges[edges > (1 - EDGE_ZONE) * w]
    return float(left.max()) if left.size else -1.0, float(right.min()) if right.size else float(w)


def drop_beyond_edges(gray: np.ndarray, lines: list[PageLine]) -> list[PageLine]:
    """Drop lines centred beyond a page edge near the scan's side: the facing page's writing
    that shows past the binding (pages_more's scans hold a strip of it), or marks on the scanner
    bed. A line of this page that runs into the binding keeps its centre on the page."""
    if not lines:
        return lines
    left, right = page_edges(gray)
    return [ln for ln in lines if left < (ln.box[0] + ln.box[2]) / 2 < right]


def _unrotate(line: PageLine, rotated_h: int) -> PageLine:
    """A line found on the page turned 90 degrees anticlockwise (np.rot90), in the original
    page's pixels: rotated (x, y) was original (rotated_h - 1 - y, x)."""
    back = lambda pts: [(rotated_h - 1 - y, x) for x, y in pts]  # noqa: E731
    return PageLine(back(line.polygon), back(line.baseline), line.text, line.id, line.confidence)


def drop_faint(gray: np.ndarray, lines: list[PageLine]) -> list[PageLine]:
    """Drop what is not a line of this page's writing: short lines that run off the scan (ink
    on the image border beside them: the facing page, the scanner bed), boxes dark over 30% of
    their area (shadows, stamps; handwriting's stay under a fifth), lines whose ink is much
    fainter than the page's typical line (show-through, stains), whose paper is much darker
    (scanner bed, a ruler, the binding's shadow), whose strokes run along the line instead
    of across it (a page edge, ruling), or whose contrast is one step, not strokes (the sheet's
    lower edge on a card mount, a smudge: little change across the line for its contrast)."""
    h, w = gray.shape
    kept, stats = [], []
    for line in lines:
        x0, y0, x1, y1 = line.box
        crop = gray[y0 : y1 + 1, x0 : x1 + 1]
        if min(crop.shape) < 3:
            continue
        ink, paper = np.percentile(crop[::2, ::2], [3, 90])
        if x1 - x0 < 0.3 * w and _cut_by_edge(gray, line.box, paper - 0.25 * (paper - ink)):
            continue
        if (crop[::2, ::2] < (ink + paper) / 2).mean() > SOLID:
            continue  # a shadow, a stamp or the scanner bed, not strokes
        across = np.abs(np.diff(crop, axis=1)).mean()
        along = np.abs(np.diff(crop, axis=0)).mean()
        if across < EDGE_RATIO * along or across < STROKES * (paper - ink):
            continue
        kept.append(line)
        stats.append((float(paper - ink), float(paper)))
    if len(kept) < 3:
        return kept
    contrast = np.array([c for c, _ in stats])
    paper = np.array([p for _, p in stats])
    weights = np.array([line.box[2] - line.box[0] for line in kept], dtype=np.float64)
    ref_contrast = _weighted_median(contrast, weights)
    ref_paper = _weighted_median(paper, weights)
    keep = (contrast >= FAINT * ref_contrast) & (paper >= ref_paper - 0.35 * ref_contrast - 30)
    return [line for line, k in zip(kept, keep, strict=True) if k]


def _cut_by_edge(gray: np.ndarray, box: tuple[int, int, int, int], level: float) -> bool:
    """Whether the line runs off the scan: its box reaches a border of the image and the
    border's pixels beside it are dark (the facing page's writing, the scanner bed). A line
    whose grown outline only reaches a white margin (a page id in the corner) stays."""
    h, w = gray.shape
    x0, y0, x1, y1 = box
    k = max(2, round(0.004 * max(h, w)))  # the outermost few pixels
    strips = []
    if x0 <= 0.005 * w:
        strips.append(gray[y0 : y1 + 1, :k])
    if x1 >= 0.995 * w - 1:
        strips.append(gray[y0 : y1 + 1, -k:])
    if y0 <= 0.005 * h:
        strips.append(gray[:k, x0 : x1 + 1])
    if y1 >= 0.995 * h - 1:
        strips.append(gray[-k:, x0 : x1 + 1])
    return any(strip.size and (strip < level).mean() > EDGE_INK for strip in strips)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])


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
    mask = close_word_gaps(prob > threshold)
    labels = cc3d.connected_components(mask, connectivity=8)
    regions = []
    boxes = cc3d.statistics(labels)["bounding_boxes"]
    for i, box in enumerate(boxes[1:], 1):  # 0: the background
        band = labels[box] == i
        width, area = box[1].stop - box[1].start, int(band.sum())
        if width >= MIN_BAND_WIDTH and width >= 3 * area / width:  # 3 band thicknesses
            regions.append((area, (box[0].start, box[1].start), band, prob[box][band].mean()))
    regions = sorted(regions, key=lambda r: (-r[0], r[1]))[:MAX_LINES]  # largest; ties: top-left
    lines = [_region_line(r, factor, image_size, ratios) for r in regions]
    return reading_order([line for line in lines if line is not None])


def close_word_gaps(mask: np.ndarray) -> np.ndarray:
    """Join band fragments on one row when the gap is under WORD_GAP band thicknesses: a large,
    widely spaced hand must come back as lines, not words."""
    starts = mask & ~np.pad(mask, ((1, 0), (0, 0)))[:-1]
    if not starts.any():
        return mask
    thickness = mask.sum() / starts.sum()  # mean vertical run of band pixels
    gap = int(np.ceil(WORD_GAP * thickness)) | 1
    if gap < 3:
        return mask
    padded = np.pad(mask, ((0, 0), (gap, gap)))
    dilated = _window_count(padded, gap) > 0
    closed = _window_count(dilated, gap) == gap  # erosion of the dilation: a closing
    return closed[:, gap:-gap] | mask


def _window_count(mask: np.ndarray, size: int) -> np.ndarray:
    """How many of the `size` (odd) pixels centred on each one along a row are set (outside
    the image: unset)."""
    r = size // 2
    sums = np.pad(np.cumsum(mask, axis=1, dtype=np.int32), ((0, 0), (r + 1, r)), mode="edge")
    sums[:, : r + 1] = 0
    return sums[:, size:] - sums[:, :-size]


def _grow(band: np.ndarray, up: int, down: int, side: int) -> np.ndarray:
    """Pixels with band within `down` rows above or `up` rows below and `side` columns either
    way (a box dilation, offset vertically), by a summed-area table; zero outside."""
    h, w = band.shape
    table = np.zeros((h + up + down + 1, w + 2 * side + 1), dtype=np.int32)
    table[down + 1 : down + 1 + h, side + 1 : side + 1 + w] = band
    table = table.cumsum(axis=0).cumsum(axis=1)
    rows, cols = up + down + 1, 2 * side + 1
    below, right = table[rows:], table[:, cols:]
    window = below[:, cols:] - right[:-rows] - below[:, :-cols] + table[:-rows, :-cols]
    return window > 0


def _region_line(region, factor: float, image_size: tuple[int, int], ratios: BandRatios):
    area, (top, left), band, confidence = region
    columns = band.any(axis=0)
    thickness = max(area / max(int(columns.sum()), 1), 1.0)
    up, down = int(np.ceil(ratios.above * thickness)), int(np.ceil(ratios.below * thickness))
    side = int(np.ceil(0.4 * thickness))
    reach = max(up, down)
    pad = np.pad(band, ((reach + 1, reach + 1), (side + 1, side + 1)))
    grown = _grow(pad, up, down, side)  # a row is outline if band lies `up` below it
    cols_x, rows_y = _envelope(grown, step=max(2, int(round(thickness))))
    if cols_x.size == 0:
        return None
    oy, ox = top - reach - 1, left - side - 1
    w, h = image_size
    polygon = _to_image(cols_x + ox, rows_y + oy, factor, w, h)
    polygon = [p for i, p in enumerate(polygon) if i == 0 or p != polygon[i - 1]]
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
    return PageLine(polygon, baseline, "", "", float(confidence))


def _envelope(grown: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Outline of a mask as its column envelope (pixel-edge coordinates), `step` columns a
    segment: top edge left to right, bottom edge right to left. Lines are x-monotone shapes."""
    cols = np.flatnonzero(grown.any(axis=0))
    if cols.size == 0:
        return np.array([]), np.array([])
    c0, c1 = int(cols[0]), int(cols[-1])
    sub = grown[:, c0 : c1 + 1]
    filled = sub.any(axis=0)
    tops = np.where(filled, sub.argmax(axis=0), sub.shape[0])
    bottoms = np.where(filled, sub.shape[0] - 1 - sub[::-1].argmax(axis=0), -1)
    edges = list(range(0, c1 - c0 + 1, step)) + [c1 - c0 + 1]
    upper_x, upper_y, lower_x, lower_y = [], [], [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        t, btm = tops[a:b].min(), bottoms[a:b].max()
        upper_x += [a - 0.5, b - 0.5]
        upper_y += [t - 0.5, t - 0.5]
        lower_x += [a - 0.5, b - 0.5]
        lower_y += [btm + 0.5, btm + 0.5]
    xs = np.array(upper_x + lower_x[::-1]) + c0
    ys = np.array(upper_y + lower_y[::-1])
    return xs, ys


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
