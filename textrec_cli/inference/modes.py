"""Which reader an image goes to (char, line or page), by its shape: for `predict` and serving.

Kept free of Keras so the LiteRT serving path can import it without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PIL import Image

from textrec_cli import settings

if TYPE_CHECKING:
    from textrec_cli.containers import Prediction

MODES = ("auto", "char", "line", "page")


def choose_mode(image: Image.Image, pages: bool = False) -> str:
    """Line mode for images at least `settings.LINE_ASPECT` times wider than tall; with `pages`,
    page mode for other images whose shorter side is at least `settings.PAGE_MIN_SIDE` (a
    character crop is small; a scan or photo of a page is not)."""
    width, height = image.size
    if width >= settings.LINE_ASPECT * height:
        return "line"
    return "page" if pages and min(width, height) >= settings.PAGE_MIN_SIDE else "char"


def read_by_mode(
    items: list[tuple[str, Image.Image]],
    mode: str,
    read: Callable[[str, list[tuple[str, Image.Image]]], list[Prediction]],
) -> list[Prediction]:
    """Predictions in input order: each image's mode (`mode`, or by shape when "auto", pages
    allowed), then one `read(mode, items)` call per mode, so each model sees one batch."""
    modes = [mode if mode != "auto" else choose_mode(image, pages=True) for _, image in items]
    results: list[Prediction | None] = [None] * len(items)
    for each in ("char", "line", "page"):
        picked = [i for i, m in enumerate(modes) if m == each]
        if picked:
            for i, prediction in zip(picked, read(each, [items[i] for i in picked]), strict=True):
                results[i] = prediction
    return [r for r in results if r is not None]
