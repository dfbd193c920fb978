from __future__ import annotations

import numpy as np
from PIL import Image

from textrec_cli.stems.char import char_stem


def _glyph(size: tuple[int, int], dark_on_light: bool) -> Image.Image:
    paper, ink = (255, 0) if dark_on_light else (0, 255)
    image = Image.new("L", size, paper)
    w, h = size
    image.paste(ink, (w // 3, h // 5, w // 3 + max(2, w // 10), h - h // 5))  # a vertical bar
    return image


def test_polarity_and_size_do_not_change_the_stem() -> None:
    a = char_stem(_glyph((60, 60), dark_on_light=True))
    b = char_stem(_glyph((60, 60), dark_on_light=False))
    c = char_stem(_glyph((600, 600), dark_on_light=True).convert("RGB"))
    assert a.shape == (28, 28) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() < 8


def test_glyph_is_centred_24px_tall_ink_bright() -> None:
    stem = char_stem(_glyph((100, 200), dark_on_light=True))
    rows = np.flatnonzero(stem.max(axis=1) > 64)
    assert rows[-1] - rows[0] + 1 in (23, 24, 25)
    assert stem.max() == 255 and stem[0].max() == 0 and stem[:, 0].max() == 0


def test_blank_image_gives_blank_stem() -> None:
    assert char_stem(Image.new("L", (50, 30), 255)).max() == 0


def test_transparent_png_reads_as_ink_on_paper() -> None:
    transparent = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    transparent.paste((0, 0, 0, 255), (18, 5, 22, 35))
    opaque = Image.new("L", (40, 40), 255)
    opaque.paste(0, (18, 5, 22, 35))
    np.testing.assert_array_equal(char_stem(transparent), char_stem(opaque))
    assert char_stem(transparent).max() == 255


def test_border_median_is_numpys_median():
    from textrec_cli.stems.char import border_median

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 10, 11, 1001):
        values = rng.integers(0, 256, n).astype(np.float32)
        assert border_median(values) == float(np.median(values))
