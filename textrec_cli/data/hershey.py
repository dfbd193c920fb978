"""Hershey stroke fonts (.jhf): parse them and render glyphs and strings as synthetic handwriting.

Stroke fonts give a pen path rather than an outline, so a glyph can be re-drawn with any pen
width, slant and wobble: a cheap source of varied, handwriting-like training images.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from textrec_cli.errors import InputError

FIRST_CHAR = 32  # .jhf files used here list glyphs in ASCII order from space
LAST_CHAR = 126
# Fixed vertical em in font units, shared by all glyphs so baselines line up across a text line.
# Covers the futural caps/descenders (-16..16) and the script fonts' deeper loops (down to 21).
EM_TOP = -16.0
EM_BOTTOM = 22.0
SUPERSAMPLE = 4  # draw at 4x then downsample with LANCZOS for anti-aliased edges
JITTER_WAVES = 3  # plane waves summed into the wobble field
SPACING_STD = 0.5  # font units of random extra space between glyphs in render_text


@dataclass
class HersheyGlyph:
    """One glyph: horizontal extent (for advancing) and pen-down polylines, y pointing down."""

    left: int
    right: int
    strokes: list[np.ndarray]


def _coord(c: str) -> int:
    return ord(c) - ord("R")


def _parse_record(data: str, where: str) -> HersheyGlyph:
    """Decode one record's coordinate pairs; the first pair is the extent, " R" lifts the pen."""
    if any(not (" " <= c <= "~") for c in data):
        raise InputError(f"{where}: non-printable character in glyph data")
    left, right = _coord(data[0]), _coord(data[1])
    strokes: list[np.ndarray] = []
    current: list[tuple[int, int]] = []
    for i in range(2, len(data), 2):
        pair = data[i : i + 2]
        if pair == " R":
            if current:
                strokes.append(np.array(current, dtype=float))
            current = []
        else:
            current.append((_coord(pair[0]), _coord(pair[1])))
    if current:
        strokes.append(np.array(current, dtype=float))
    return HersheyGlyph(left=left, right=right, strokes=strokes)


@functools.lru_cache(maxsize=16)
def _load_cached(path: str) -> dict[str, HersheyGlyph]:
    try:
        lines = Path(path).read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read Hershey font {path}: {exc}") from exc
    glyphs: list[HersheyGlyph] = []
    i = 0
    while i < len(lines):
        header = lines[i]
        i += 1
        if not header.strip():
            continue
        where = f"{path}, line {i}"
        try:
            count = int(header[5:8])
        except ValueError:
            raise InputError(f"{where}: bad vertex count {header[5:8]!r}") from None
        if count < 1:
            raise InputError(f"{where}: vertex count {count} < 1")
        # Records may be wrapped over several physical lines; continuation lines have no header.
        data = header[8:]
        while len(data) < 2 * count and i < len(lines):
            data += lines[i]
            i += 1
        if len(data) != 2 * count:
            raise InputError(f"{where}: expected {2 * count} data chars, got {len(data)}")
        glyphs.append(_parse_record(data, where))
    n_needed = LAST_CHAR - FIRST_CHAR + 1
    if len(glyphs) < n_needed:
        raise InputError(f"{path}: {len(glyphs)} glyphs, expected at least {n_needed}")
    return {chr(FIRST_CHAR + k): glyphs[k] for k in range(n_needed)}


def load_hershey_font(path: Path) -> dict[str, HersheyGlyph]:
    """Map ASCII 32..126 to glyphs. Cached per path: treat the returned dict as read-only."""
    return _load_cached(str(path))


def _densify(stroke: np.ndarray, step: float = 1.0) -> np.ndarray:
    """Resample a polyline to <= `step` spacing so the wobble field can bend straight segments."""
    out = [stroke[:1]]
    for a, b in zip(stroke[:-1], stroke[1:], strict=True):
        n = max(1, math.ceil(float(np.linalg.norm(b - a)) / step))
        t = np.linspace(0.0, 1.0, n + 1)[1:, None]
        out.append(a + t * (b - a))
    return np.concatenate(out)


def _wobble(points: np.ndarray, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Smooth random displacement field (sum of plane waves), with std `jitter` per axis.

    A field over glyph space (not per-vertex noise) keeps strokes smooth and keeps crossings
    and joins between strokes connected.
    """
    amp = jitter * math.sqrt(2.0 / JITTER_WAVES)
    offset = np.zeros_like(points)
    for axis in range(2):
        for _ in range(JITTER_WAVES):
            angle = rng.uniform(0.0, 2.0 * math.pi)
            wavelength = rng.uniform(10.0, 30.0)
            k = 2.0 * math.pi / wavelength * np.array([math.cos(angle), math.sin(angle)])
            offset[:, axis] += amp * np.sin(points @ k + rng.uniform(0.0, 2.0 * math.pi))
    return points + offset


def render_glyph(
    glyph: HersheyGlyph,
    rng: np.random.Generator,
    *,
    height: int = 64,
    stroke_width: float = 3.0,
    jitter: float = 0.0,
    slant: float = 0.0,
) -> Image.Image:
    """Draw dark ink (0) on white (255), "L" mode, `height` px tall, width fitting the glyph.

    The vertical scale is fixed by the em (EM_TOP..EM_BOTTOM) so all glyphs share a baseline;
    `stroke_width` is in output pixels, `jitter` in font units, `slant` shears x += slant * -y.
    Margins cover the pen radius and the largest possible wobble, so ink is never clipped.
    """
    jitter_bound = jitter * math.sqrt(2.0 * JITTER_WAVES)  # max |offset| of the wave sum
    margin = stroke_width / 2.0 + 2.0  # px; also absorbs LANCZOS ringing at the edges
    scale = (height - 2.0 * margin) / (EM_BOTTOM - EM_TOP + 2.0 * jitter_bound)
    if scale <= 0:
        raise InputError(f"stroke_width {stroke_width} is too wide for height {height}")

    strokes = [_densify(s) if jitter > 0 else s.copy() for s in glyph.strokes]
    if jitter > 0 and strokes:
        # One field for all strokes, so strokes that touch keep touching.
        sizes = np.cumsum([len(s) for s in strokes])[:-1]
        strokes = np.split(_wobble(np.concatenate(strokes), rng, jitter), sizes)
    for pts in strokes:
        pts[:, 0] += slant * -pts[:, 1]

    xs = np.concatenate([[glyph.left, glyph.right], *(s[:, 0] for s in strokes)])
    x_min, x_max = float(xs.min()), float(xs.max())
    width = math.ceil((x_max - x_min) * scale + 2.0 * margin)

    ss = SUPERSAMPLE
    img = Image.new("L", (width * ss, height * ss), 255)
    draw = ImageDraw.Draw(img)
    pen = stroke_width * ss
    radius = pen / 2.0
    y_top = EM_TOP - jitter_bound
    for pts in strokes:
        px = (margin + (pts[:, 0] - x_min) * scale) * ss
        py = (margin + (pts[:, 1] - y_top) * scale) * ss
        xy = list(zip(px.tolist(), py.tolist(), strict=True))
        if len(xy) > 1:
            draw.line(xy, fill=0, width=max(1, round(pen)), joint="curve")
        # Round caps (and dots for one-point strokes): PIL lines have square ends.
        for x, y in (xy[0], xy[-1]):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=0)
    return img.resize((width, height), Image.Resampling.LANCZOS)


def render_text(
    font: dict[str, HersheyGlyph],
    text: str,
    rng: np.random.Generator,
    *,
    height: int = 64,
    stroke_width: float = 3.0,
    jitter: float = 0.0,
    slant: float = 0.0,
) -> Image.Image:
    """Render a string as one image, advancing by each glyph's extent; kwargs as `render_glyph`.

    The glyphs are merged into one pen path before drawing so the wobble field runs continuously
    along the line and cursive joins stay connected.
    """
    strokes: list[np.ndarray] = []
    cursor = 0.0
    for char in text:
        glyph = font.get(char)
        if glyph is None:
            raise InputError(f"character {char!r} is not in the Hershey font")
        shift = cursor - glyph.left
        strokes.extend(s + np.array([shift, 0.0]) for s in glyph.strokes)
        cursor += glyph.right - glyph.left + rng.normal(0.0, SPACING_STD)
    line = HersheyGlyph(left=0, right=math.ceil(cursor), strokes=strokes)
    return render_glyph(
        line, rng, height=height, stroke_width=stroke_width, jitter=jitter, slant=slant
    )
