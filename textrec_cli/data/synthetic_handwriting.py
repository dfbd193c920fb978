"""synthetic_handwriting: corpus text rendered with handwriting fonts, generated on the fly.

Every line is new (seeded per index), so training never sees the same line twice. Fonts are split
by family like synthetic_chars: val/test lines use typefaces training never saw. Paper, ink,
slant, stroke weight, baseline curvature, ruling and blur vary per line, then the line goes
through the same `line_stem` as real crops.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.data.fonts import FontSource, discover_fonts, split_families
from textrec_cli.data.synthetic_chars import draws_glyph, is_caps_only
from textrec_cli.errors import TextrecError
from textrec_cli.stems import line

NAME = "synthetic_handwriting"


@functools.lru_cache(maxsize=256)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=size)


@functools.lru_cache(maxsize=64)
def font_coverage(source: FontSource) -> tuple[frozenset[str], bool]:
    """(characters the font really draws, whether it is capitals-only)."""
    if source.kind == "hershey":
        from textrec_cli.data.hershey import load_hershey_font

        glyphs = load_hershey_font(source.path)
        return frozenset(c for c in LINE_CHARSET if c in glyphs), False
    font = _font(str(source.path), 48)
    drawn = frozenset(c for c in LINE_CHARSET if c == " " or draws_glyph(font, c))
    return drawn, is_caps_only(font)


def _paper(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Gray paper with low-frequency texture, sometimes ruled or stained."""
    level = rng.uniform(185, 255)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (h // 4 + 1, w // 4 + 1)), 2)
    paper = level + np.kron(texture, np.ones((4, 4)))[:h, :w] * rng.uniform(0, 12)
    if rng.random() < 0.25:  # ruled line under the writing
        y = int(h * rng.uniform(0.72, 0.9))
        paper[y : y + max(1, h // 40)] -= rng.uniform(20, 70)
    if rng.random() < 0.15:  # a stain
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(h / 3, h)
        yy, xx = np.ogrid[:h, :w]
        paper -= np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) * rng.uniform(10, 50)
    return paper


def _render_outline(source: FontSource, text: str, rng: np.random.Generator) -> np.ndarray:
    """Ink coverage in [0, 1] (ink = 1) for `text` drawn with an outline font."""
    size = int(rng.integers(30, 48))
    font = _font(str(source.path), size)
    left, top, right, bottom = font.getbbox(text)
    pad = size // 2
    canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    weight = int(rng.choice([0, 0, 0, 1, 1, 2]))
    ImageDraw.Draw(canvas).text(
        (pad - left, pad - top), text, font=font, fill=255, stroke_width=weight, stroke_fill=255
    )
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _render_hershey(source: FontSource, text: str, rng: np.random.Generator) -> np.ndarray:
    from textrec_cli.data.hershey import load_hershey_font, render_text

    image = render_text(
        load_hershey_font(source.path),
        text,
        rng,
        height=44,
        stroke_width=float(rng.uniform(1.5, 4.5)),
        jitter=float(rng.uniform(0.0, 0.6)),
        slant=float(rng.uniform(-0.2, 0.3)),
    )
    return 1.0 - np.asarray(image, dtype=np.float32) / 255.0


def _distort(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Slant (shear), wavy baseline and a mild elastic wobble on the ink map."""
    h, w = ink.shape
    shear = rng.normal(0.05, 0.18)
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    wave = np.sin(cols / max(w, 1) * np.pi * rng.uniform(0.5, 2.5) + rng.uniform(0, 6.3))
    dy = wave * rng.uniform(0, h * 0.06)
    dx = shear * (rows - h / 2)
    if rng.random() < 0.5:
        field = rng.normal(0, 1, (2, h // 8 + 2, w // 8 + 2))
        field = ndimage.zoom(ndimage.gaussian_filter(field, (0, 1, 1)), (1, 8, 8), order=1)
        dy = dy + field[0, :h, :w] * 1.2
        dx = dx + field[1, :h, :w] * 1.2
    return ndimage.map_coordinates(ink, [rows + dy, cols + dx], order=1, mode="constant")


def render_ink(source: FontSource, text: str, rng: np.random.Generator) -> np.ndarray:
    """`text` drawn in `source` (outline font or Hershey strokes) and distorted like a hand:
    an ink map in [0, 1] on no paper (lines and paper forms put it on their own)."""
    render = _render_hershey if source.kind == "hershey" else _render_outline
    return _distort(render(source, text, rng), rng)


@dataclass
class SyntheticHandwriting:
    """A source of (line image, text) pairs for one split; `sample(rng)` makes a new one."""

    fonts: list[FontSource]
    texts: object  # a TextSampler (has .sample(rng, max_chars))
    height: int = line.HEIGHT

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        for _ in range(20):
            source = self.fonts[int(rng.integers(len(self.fonts)))]
            drawn, caps_only = font_coverage(source)
            text = self.texts.sample(rng)
            if caps_only:
                text = text.upper()
            text = "".join(c for c in text if c in drawn).strip()
            text = " ".join(text.split())
            if text:
                break
        else:
            raise TextrecError("fonts cannot draw any sampled text (check the fonts folder)")
        ink = render_ink(source, text, rng)
        h, w = ink.shape
        paper = _paper(h, w, rng)
        ink_level = rng.uniform(0, 110)
        if rng.random() < 0.3:
            ink = ndimage.gaussian_filter(ink, rng.uniform(0.4, 1.2))
        gray = paper * (1 - ink) + ink_level * ink + rng.normal(0, rng.uniform(0, 6), (h, w))
        crop = np.clip(gray, 0, 255).astype(np.uint8)
        return line.line_stem(Image.fromarray(crop), self.height), text


def for_split(
    split: str, fonts_dir: Path, texts: object, height: int = line.HEIGHT
) -> SyntheticHandwriting:
    """The generator for one split: train fonts for train, held-out families for val/test."""
    sources = discover_fonts(fonts_dir)
    if not sources:
        raise TextrecError(f"no fonts found in {fonts_dir}")
    family_split = split_families([s.family for s in sources])
    chosen = [s for s in sources if family_split[s.family] == split] or sources
    return SyntheticHandwriting(chosen, texts, height)
