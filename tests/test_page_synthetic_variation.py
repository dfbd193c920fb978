"""synthetic_pages variation that real pages lack: widely spaced words, scanner bed, folds."""

from __future__ import annotations

import numpy as np
from PIL import Image

from textrec_cli.data.page_xml import PageLine
from textrec_cli.data.synthetic_pages import _fold, _on_scanner_bed, _spread_words


def test_word_gaps_widen_within_the_room() -> None:
    ink = np.zeros((20, 100), dtype=np.float32)
    ink[:, 0:30] = 1
    ink[:, 40:100] = 1  # one word gap of 10 columns
    spread = _spread_words(ink, np.random.default_rng(0), room=200)
    blank = np.flatnonzero(spread.max(axis=0) < 0.1)
    assert spread.shape[1] > 100 and blank.size >= 20 and spread.sum() == ink.sum()
    assert _spread_words(ink, np.random.default_rng(0), room=100) is ink  # no room: unchanged


def test_scanner_bed_moves_labels_with_the_page() -> None:
    page = np.full((200, 300), 230, dtype=np.uint8)
    page[100:120, 50:250] = 20
    line = PageLine([(50, 100), (249, 100), (249, 119), (50, 119)], [(50, 117), (249, 117)], "t")
    bed, (moved,) = _on_scanner_bed(Image.fromarray(page), [line], np.random.default_rng(3))
    gray = np.asarray(bed)
    x0, y0, x1, y1 = moved.box
    assert bed.size[0] > 300 and bed.size[1] > 200
    assert gray[y0 : y1 + 1, x0 : x1 + 1].mean() < 30  # the ink moved with its polygon
    assert gray[0, 0] < 100 and moved.baseline[0][1] - moved.box[1] == 17


def test_fold_is_a_soft_band_across_the_sheet() -> None:
    page = np.full((100, 120), 200.0)
    _fold(page, np.random.default_rng(1))
    assert page.min() < 190 and (np.ptp(page, axis=0).max() < 1 or np.ptp(page, axis=1).max() < 1)
