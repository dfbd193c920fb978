"""How big is the writing on a page? Line spacing from ink row profiles, before any detector pass.

The line detector learns lines `line_spacing` detector pixels apart (metadata; 18 for the
Copiste pages at 512-px page height). A page whose writing fills a third of the scan, or a letter
in a large hand, arrives at a very different size when the whole page is squeezed to 512 px: small
writing vanishes, a large hand splits into words. Rows of writing repeat down the page, so the
autocorrelation of the ink profile of narrow vertical strips peaks at the line spacing; the strips'
weighted median survives margins, rulers, the scanner bed and a second column. The same profiles
across the other axis tell a page turned by 90 degrees. NumPy only (a fast import).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

WORK_HEIGHT = 640  # the estimate runs on the page at about this size (a few ms)
MIN_PERIOD = 5  # work px: a smaller period is noise, not lines
STRIPS = 12


@dataclass
class Spacing:
    """Line spacing in the input image's pixels, how periodic the rows are (0..1), orientation."""

    spacing: float
    strength: float
    rotated: bool = False  # lines run vertically: the page is turned by 90 or 270 degrees


def ink_map(gray: np.ndarray) -> np.ndarray:
    """Ink darkness relative to the local paper (0 = paper), so a dark scanner bed or a shadowed
    corner counts as paper, not as ink."""
    g = gray.astype(np.float32)
    h, w = g.shape
    b = 4  # the paper level varies slowly: find it on 4x4 block maxima, then spread it back
    padded = np.pad(g, ((0, -h % b), (0, -w % b)), mode="edge")
    blocks = padded[::b, ::b].copy()
    for i in range(b):
        for j in range(b):
            np.maximum(blocks, padded[i::b, j::b], out=blocks)
    paper = _box_mean(_box_max(blocks, 5), 7)
    paper = np.repeat(np.repeat(paper, b, axis=0), b, axis=1)[:h, :w]
    return np.clip((paper - g) / np.maximum(paper, 24.0) - 0.12, 0, 1)


def _period(profile: np.ndarray, max_lag: int) -> tuple[float, float]:
    """(period, normalised autocorrelation at it) of a 1-D profile; (0, 0) when flat."""
    p = profile - profile.mean()
    energy = float(p @ p)
    if energy <= 1e-9 or max_lag <= MIN_PERIOD + 1:
        return 0.0, 0.0
    n = int(2 ** np.ceil(np.log2(2 * len(p))))
    spectrum = np.fft.rfft(p, n)
    ac = np.fft.irfft(spectrum * np.conj(spectrum), n)[: max_lag + 2] / energy
    peaks = [k for k in range(MIN_PERIOD, max_lag + 1) if ac[k] >= ac[k - 1] and ac[k] >= ac[k + 1]]
    peaks = [k for k in peaks if ac[k] > 0]
    if not peaks:
        return 0.0, 0.0
    best = max(ac[k] for k in peaks)
    k = next(k for k in peaks if ac[k] >= 0.5 * best)  # the first strong peak, not a multiple
    # parabolic refinement of the peak position
    a, b, c = ac[k - 1], ac[k], ac[k + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
    return k + float(np.clip(shift, -0.5, 0.5)), float(ac[k])


def _axis_spacing(ink: np.ndarray) -> tuple[float, float]:
    """(period in rows, strength) of the rows of writing, over vertical strips."""
    h, w = ink.shape
    width = max(w // STRIPS, 24)
    starts = np.arange(0, max(w - width // 2, 1), width)
    profiles = np.add.reduceat(ink, starts, axis=1) / width  # (h, strips): mean ink per row
    periods, strengths, weights = [], [], []
    for profile in profiles.T:
        level = float(profile.mean())
        if level < 0.002:
            continue  # blank margin or scanner bed
        period, strength = _period(profile, min(h // 3, 400))
        if period:
            periods.append(period)
            strengths.append(strength)
            weights.append(strength * level**0.5)
    if not periods:
        return 0.0, 0.0
    order = np.argsort(periods)
    cum = np.cumsum(np.asarray(weights)[order])
    median = float(np.asarray(periods)[order][np.searchsorted(cum, cum[-1] / 2)])
    # strength: how periodic the strips that agree with the median are, times their share
    agree = [abs(p - median) < 0.2 * median for p in periods]
    total = sum(weights)
    strength = sum(s * wt for s, wt, a in zip(strengths, weights, agree, strict=True) if a)
    return median, float(strength / max(total, 1e-9))


def estimate_spacing(
    image: Image.Image | np.ndarray, check_rotation: bool = True
) -> Spacing | None:
    """The page's line spacing in its own pixels, or None when no rows of writing show."""
    from textrec_cli.stems.char import to_gray_array

    gray = to_gray_array(image)
    h, w = gray.shape
    if min(h, w) < 32:
        return None
    f = min(1.0, WORK_HEIGHT / max(h, w))
    small = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
    if f < 1:
        small = small.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BOX)
    ink = ink_map(np.asarray(small))
    period, strength = _axis_spacing(ink)
    rotated = False
    if check_rotation:
        period_t, strength_t = _axis_spacing(ink.T)
        # letters repeat along a line too (period ~ their pitch): demand rows far clearer
        if strength_t > 2 * strength and strength_t > 0.4:
            period, strength, rotated = period_t, strength_t, True
    if not period or strength < 0.2:
        return None
    return Spacing(period / f, strength, rotated)


def _box_max(values: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a size x size box, mirrored at the edges (scipy.ndimage's "reflect")."""
    r = size // 2
    padded = np.pad(values, r, mode="symmetric")
    rows = sliding_window_view(padded, size, axis=0).max(axis=-1)
    return sliding_window_view(rows, size, axis=1).max(axis=-1)


def _box_mean(values: np.ndarray, size: int) -> np.ndarray:
    """Mean over a size x size box, mirrored at the edges, one axis at a time (in float64,
    stored as the input's type between the passes, like scipy.ndimage.uniform_filter)."""
    r = size // 2
    out = values
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="symmetric").astype(np.float64)
        out = sliding_window_view(padded, size, axis=axis).mean(axis=-1).astype(values.dtype)
    return out
