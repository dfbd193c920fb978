"""Which reader an image goes to (char, line or page), by its shape: for `predict` and serving.

Kept free of Keras so the LiteRT serving path can import it without TensorFlow.
"""

from __future__ import annotations

from PIL import Image

from textrec_cli import settings

MODES = ("auto", "char", "line", "page")


def choose_mode(image: Image.Image, pages: bool = False) -> str:
    """Line mode for images at least `settings.LINE_ASPECT` times wider than tall; with `pages`,
    page mode for other images whose shorter side is at least `settings.PAGE_MIN_SIDE` (a
    character crop is small; a scan or photo of a page is not)."""
    width, height = image.size
    if width >= settings.LINE_ASPECT * height:
        return "line"
    return "page" if pages and min(width, height) >= settings.PAGE_MIN_SIDE else "char"
