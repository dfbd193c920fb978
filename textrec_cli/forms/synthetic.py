"""Filled-in forms without people: prompts written in handwriting fonts, then "photographed".

The round-trip test and benchmark use it: each prompt is rendered by the synthetic handwriting
renderer (`data/synthetic_handwriting.py`, fonts of the held-out `test` families by default) onto
its ruled line, and the page is warped crooked onto a table (rotation, perspective), lit unevenly,
blurred, noised and saved as JPEG the way a phone would.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import transform

from textrec_cli.data import synthetic_handwriting as handwriting
from textrec_cli.data.fonts import FontSource, discover_fonts, split_families
from textrec_cli.errors import TextrecError
from textrec_cli.forms import layout
from textrec_cli.forms.make import Form, render_form


def writing_fonts(fonts_dir: Path, split: str = "test") -> list[FontSource]:
    """Fonts of one family split that draw every character of the French and English prompts
    the renderer is asked for (others would silently drop characters from the written line)."""
    sources = discover_fonts(fonts_dir)
    if not sources:
        raise TextrecError(f"no fonts found in {fonts_dir}")
    families = split_families([s.family for s in sources])
    chosen = [s for s in sources if families[s.family] == split] or sources
    return [s for s in chosen if not handwriting.font_coverage(s)[1]] or chosen


def _ink(source: FontSource, text: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """(ink map in [0, 1], the text as drawn: characters the font lacks are left out)."""
    drawn, _ = handwriting.font_coverage(source)
    text = " ".join("".join(c for c in text if c in drawn).split())
    ink = handwriting.render_ink(source, text, rng)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.1), np.flatnonzero(ink.max(axis=0) > 0.1)
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], text


def fill_form(
    form: Form, fonts: list[FontSource], rng: np.random.Generator
) -> tuple[np.ndarray, list[str]]:
    """(the page with every prompt written on its rule in one hand, the texts as written)."""
    page = np.asarray(render_form(form), dtype=np.float32)
    source = fonts[int(rng.integers(len(fonts)))]  # one writer, one hand per form
    ink_level = rng.uniform(10, 90)
    written = []
    for block, prompt in zip(layout.blocks(len(form.prompts)), form.prompts, strict=True):
        ink, text = _ink(source, prompt, rng)
        written.append(text)
        x0, y0, x1, y1 = block.writing_box
        height = rng.uniform(48, 72)  # ascender to descender, ~8-12 mm
        scale = min(height / ink.shape[0], (x1 - x0 - 60) / ink.shape[1])
        ink = ndimage.zoom(ink, scale, order=1).clip(0, 1)
        h, w = ink.shape
        left = x0 + int(rng.integers(0, max(1, x1 - x0 - w - 20)))
        top = int(block.rule_y - 0.8 * h + rng.uniform(-6, 6))
        area = page[top : top + h, left : left + w]
        page[top : top + h, left : left + w] = area * (1 - ink) + ink_level * ink
    return page, written


def photograph(page: np.ndarray, rng: np.random.Generator, quality: int = 80) -> bytes:
    """JPEG bytes of the page lying crooked on a table: rotation up to 8 degrees, perspective,
    a scale of 0.75-1.1, uneven light, blur and sensor noise."""
    h, w = page.shape
    out_h, out_w = int(h * 1.2), int(w * 1.25)
    angle = np.deg2rad(rng.uniform(-8, 8))
    scale = rng.uniform(0.75, 1.05)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], float) - [w / 2, h / 2]
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    placed = corners @ rot.T * scale + [out_w / 2, out_h / 2]
    placed += rng.normal(0, 0.025 * w * scale, placed.shape)  # perspective: corners off square
    square = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    to_photo = transform.estimate_transform("projective", square, placed)
    inverse = to_photo.inverse.params / to_photo.inverse.params[2, 2]
    photo = np.asarray(
        Image.fromarray(page.astype(np.float32)).transform(
            (out_w, out_h),
            Image.Transform.PERSPECTIVE,
            tuple(inverse.ravel()[:8]),
            Image.Resampling.BILINEAR,
            fillcolor=-1.0,
        )
    )
    grain = ndimage.zoom(rng.normal(0, 12, (out_h // 16 + 2, out_w // 16 + 2)), 16, order=1)
    photo = np.where(photo < 0, rng.uniform(60, 140) + grain[:out_h, :out_w], photo)  # the table
    theta = rng.uniform(0, 2 * np.pi)
    slope = np.cos(theta) * np.arange(out_w)[None, :] + np.sin(theta) * np.arange(out_h)[:, None]
    light = 1 - rng.uniform(0, 0.35) * (slope - slope.min()) / max(np.ptp(slope), 1e-6)
    photo = ndimage.gaussian_filter(photo * light, rng.uniform(0.4, 1.3), truncate=3.0)
    photo += rng.standard_normal(photo.shape, dtype=np.float32) * rng.uniform(1, 5)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
