"""Page line filters on synthetic pages: the facing page past the binding, a sheet's lower edge
on its card mount, and a paragraph's short last line under a slanted line (not a tall letter)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from test_page_scale import scribbles

from textrec_cli.data.page_xml import PageLine
from textrec_cli.inference.page_lines import (
    drop_beyond_edges,
    drop_faint,
    drop_nested,
    page_edges,
)


def box(x0: int, y0: int, x1: int, y1: int, confidence: float = 0.9) -> PageLine:
    return PageLine([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], confidence=confidence)


def test_the_facing_page_past_the_binding_is_dropped() -> None:
    """pages_more's scans show a strip of the next page beyond a dark binding line: its short
    lines touch no dark border pixels (drop_faint keeps them), but they lie past a page edge."""
    image = scribbles((800, 600), 60, 50, 14, right=30, seed=3)  # rows run to ~x 770
    draw = ImageDraw.Draw(image)
    draw.rectangle((700, 0, 799, 599), fill=235)  # this page ends at x 700 ...
    draw.rectangle((706, 0, 712, 599), fill=50)  # ... at the binding's dark line
    for y in range(64, 560, 50):  # ... and the facing page's writing starts beyond it
        for x in range(730, 795, 6):
            draw.line((x, y, x + 1, y + 14), fill=40, width=2)
    gray = np.asarray(image, dtype=np.float32)
    left, right = page_edges(gray)
    assert left == -1 and 702 <= right <= 712  # within 3 px of the dark line
    real = [box(60, 60 + 50 * i - 4, 690, 60 + 50 * i + 16) for i in range(8)]
    facing = [box(725, 60 + 50 * i - 4, 799, 60 + 50 * i + 16) for i in (1, 4)]
    into_binding = box(60, 556, 760, 576)  # a line of this page may run into the binding
    assert drop_beyond_edges(gray, [*real, *facing, into_binding]) == [*real, into_binding]


def test_writing_alone_makes_no_page_edge() -> None:
    """Handwriting darkens a minority of a column's rows: no edge, nothing dropped, even a
    short line at the scan's right border."""
    image = scribbles((800, 600), 20, 30, 14, left=5, right=5, seed=4)  # dense, to the borders
    gray = np.asarray(image, dtype=np.float32)
    assert page_edges(gray) == (-1.0, 800.0)
    lines = [box(700, 40, 799, 60), box(0, 100, 90, 120)]
    assert drop_beyond_edges(gray, lines) == lines


def test_a_short_line_beside_a_slanted_line_is_not_a_tall_letter() -> None:
    """A rising line's box covers the short line under its low end ("roche." on a pages_more
    page): kept, since it lies outside the rising line's outline; a tall letter's band inside
    the outline, or an unconfident band, still goes."""
    rising = PageLine([(0, 100), (600, 20), (600, 60), (0, 140)], confidence=0.9)
    short_line = box(420, 96, 520, 130)  # under the rising line's right part, inside its box
    tall_letter = box(100, 90, 140, 118)  # inside its outline
    faint = box(300, 110, 360, 138, confidence=0.6)  # outside the outline, but unsure
    kept = drop_nested([rising, short_line, tall_letter, faint])
    assert short_line in kept and rising in kept
    assert tall_letter not in kept and faint not in kept


def test_the_sheets_edge_on_its_card_mount_is_not_a_line() -> None:
    """pages_more's Diderot scans: a grey sheet on lighter card. The band found along the
    sheet's lower edge has contrast (a step) and grain in both directions, so the older rules
    keep it; its change across the line is far too small for its contrast to be strokes."""
    image = scribbles((800, 600), 60, 50, 14, ink=120, seed=5)  # light ink: contrast ~115
    rng = np.random.default_rng(0)
    blur = ImageFilter.GaussianBlur(0.7)
    card = Image.fromarray(rng.normal(232, 1, (170, 800)).clip(0, 255).astype(np.uint8))
    sheet = Image.fromarray(rng.normal(185, 5, (90, 700)).clip(0, 255).astype(np.uint8))
    image.paste(card.filter(blur), (0, 430))
    image.paste(sheet.filter(blur), (50, 440))  # the sheet ends at row 529, card below
    gray = np.asarray(image, dtype=np.float32)
    real = [box(60, 60 + 50 * i - 4, 740, 60 + 50 * i + 16) for i in range(7)]
    sheet_edge = box(60, 520, 740, 570)
    assert drop_faint(gray, [*real, sheet_edge]) == real
