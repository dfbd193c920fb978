"""Hershey font parsing and rendering: glyph geometry, ink placement, determinism, errors."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest

from textrec_cli.data.hershey import load_hershey_font, render_glyph, render_text
from textrec_cli.errors import InputError

FONT_DIR = Path("/work/shared/fonts/hershey")
FONT_NAMES = ["cursive", "futural", "scriptc", "scripts"]

pytestmark = pytest.mark.skipif(not FONT_DIR.is_dir(), reason="Hershey fonts not available")


def _font(name: str):
    return load_hershey_font(FONT_DIR / f"{name}.jhf")


def _ink(img) -> np.ndarray:
    return np.asarray(img) < 128


@pytest.mark.parametrize("name", FONT_NAMES)
def test_fonts_load_with_alphanumerics(name: str) -> None:
    font = _font(name)
    for char in string.digits + string.ascii_letters:
        assert char in font, char
        assert font[char].strokes, f"{name} {char!r} has no strokes"
        assert font[char].right > font[char].left
    assert font[" "].strokes == []


def test_futural_capital_i_is_one_vertical_stroke() -> None:
    glyph = _font("futural")["I"]
    assert len(glyph.strokes) == 1
    stroke = glyph.strokes[0]
    assert stroke.shape[1] == 2
    assert np.ptp(stroke[:, 0]) == 0
    assert np.ptp(stroke[:, 1]) > 15
    assert glyph.left < stroke[0, 0] < glyph.right


@pytest.mark.parametrize("name", FONT_NAMES)
def test_pen_up_splits_strokes_and_coordinates_stay_in_em(name: str) -> None:
    font = _font(name)
    for glyph in font.values():
        for stroke in glyph.strokes:
            assert np.abs(stroke).max() <= 24  # a misread " R" pen-up would give x = -50
    assert len(_font("futural")["A"].strokes) == 3  # two diagonals and the crossbar


def test_load_is_cached() -> None:
    assert _font("futural") is _font("futural")


@pytest.mark.parametrize("name", FONT_NAMES)
@pytest.mark.parametrize("jitter", [0.0, 1.5])
def test_render_glyph_ink_on_white_inside_bounds(name: str, jitter: float) -> None:
    img = render_glyph(
        _font(name)["g"], np.random.default_rng(0), height=48, jitter=jitter, slant=0.4
    )
    assert img.mode == "L"
    assert img.height == 48
    arr = np.asarray(img)
    assert arr.min() < 50, "no dark ink"
    assert np.median(arr) == 255, "background is not white"
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
    assert border.min() >= 250, "ink touches the border (clipped)"


def test_stroke_width_increases_ink() -> None:
    glyph = _font("futural")["A"]
    thin = render_glyph(glyph, np.random.default_rng(0), stroke_width=2.0)
    thick = render_glyph(glyph, np.random.default_rng(0), stroke_width=6.0)
    assert _ink(thick).sum() > 1.5 * _ink(thin).sum()


def test_same_seed_same_image_different_seed_differs() -> None:
    glyph = _font("scripts")["a"]
    a = render_glyph(glyph, np.random.default_rng(7), jitter=1.0)
    b = render_glyph(glyph, np.random.default_rng(7), jitter=1.0)
    c = render_glyph(glyph, np.random.default_rng(8), jitter=1.0)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert a.size != c.size or not np.array_equal(np.asarray(a), np.asarray(c))


def test_render_text_longer_is_wider() -> None:
    font = _font("cursive")
    short = render_text(font, "Hi", np.random.default_rng(0))
    long = render_text(font, "Hello world", np.random.default_rng(0))
    assert long.height == short.height == 64
    assert long.width > 2 * short.width
    assert _ink(long).sum() > _ink(short).sum()


def test_render_text_unknown_char_raises() -> None:
    with pytest.raises(InputError, match="é"):
        render_text(_font("futural"), "café", np.random.default_rng(0))


@pytest.mark.parametrize(
    "content",
    [
        "this is not a hershey font\nat all\n",
        "12345 xx JZ\n",
        "12345  9MWRFRT\n",  # truncated record
    ],
)
def test_malformed_file_raises(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.jhf"
    path.write_text(content)
    with pytest.raises(InputError):
        load_hershey_font(path)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_hershey_font(tmp_path / "nope.jhf")


def test_wrapped_records_parse_like_unwrapped(tmp_path: Path) -> None:
    lines = (FONT_DIR / "futural.jhf").read_text().splitlines()
    wrapped = [
        chunk for line in lines for chunk in (line[i : i + 40] for i in range(0, len(line), 40))
    ]
    path = tmp_path / "wrapped.jhf"
    path.write_text("\n".join(wrapped) + "\n")
    original, rewrapped = _font("futural"), load_hershey_font(path)
    assert original.keys() == rewrapped.keys()
    for char, glyph in original.items():
        other = rewrapped[char]
        assert (glyph.left, glyph.right) == (other.left, other.right), char
        assert len(glyph.strokes) == len(other.strokes), char
        for s, t in zip(glyph.strokes, other.strokes, strict=True):
            assert np.array_equal(s, t), char
