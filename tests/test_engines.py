"""The Tesseract reference engine used by benchmarks reads a rendered printed line.

Tesseract is a system binary, not a Python dependency. .ci/run installs it, so on CI (env CI set)
a missing binary fails this test; on a developer machine without it the test is skipped with the
apt command to install it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from benchmark_helpers import load_benchmark
from PIL import Image, ImageDraw, ImageFont

engines = load_benchmark("engines")


@pytest.fixture
def tesseract() -> None:
    if engines.tesseract_available():
        return
    message = f"tesseract binary not found; install it with: {engines.TESSERACT_INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _render_line(text: str, path: Path) -> Path:
    """Large black text on white with PIL's default font, margins as tesseract likes."""
    try:
        font = ImageFont.load_default(size=64)
        scale = 1
    except (TypeError, OSError):  # no FreeType: small bitmap font, scaled up after drawing
        font = ImageFont.load_default()
        scale = 6
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font)
    margin = 20 // scale + 2
    image = Image.new("L", (right - left + 2 * margin, bottom - top + 2 * margin), 255)
    ImageDraw.Draw(image).text((margin - left, margin - top), text, fill=0, font=font)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    image.save(path)
    return path


def test_tesseract_reads_rendered_line(tesseract: None, tmp_path: Path) -> None:
    hello = _render_line("HELLO 123", tmp_path / "hello.png")
    world = _render_line("WORLD 42", tmp_path / "world.png")
    assert engines.tesseract_read_lines([hello, world]) == ["HELLO 123", "WORLD 42"]
    assert engines.tesseract_version()


def test_tesseract_auto_lang(tesseract: None, tmp_path: Path) -> None:
    expected = "eng+fra" if {"eng", "fra"} <= engines.tesseract_languages() else "eng"
    assert engines._resolve_lang("auto") == expected
    line = _render_line("HELLO 123", tmp_path / "hello.png")
    assert engines.tesseract_read_lines([line], lang="auto") == ["HELLO 123"]


def test_tesseract_error_is_raised(tesseract: None, tmp_path: Path) -> None:
    line = _render_line("HELLO", tmp_path / "hello.png")
    with pytest.raises(RuntimeError, match="tesseract failed"):
        engines.tesseract_read_lines([line], lang="no_such_language")
