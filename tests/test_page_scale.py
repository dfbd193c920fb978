"""Scale-robust page reading: line spacing estimate, page sizing, fragment closing, non-text
filters, baseline repair of exports whose baselines were not rescaled."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from textrec_cli.data.page_targets import band_spacing
from textrec_cli.data.page_xml import Page, PageLine
from textrec_cli.data.real_pages import repair_baselines
from textrec_cli.inference.page_lines import bands_to_lines, drop_faint, stem_height
from textrec_cli.inference.page_scale import estimate_spacing


def scribbles(size: tuple[int, int], top: int, spacing: int, x_height: int, left: int = 60,
              right: int = 60, ink: int = 30, seed: int = 0) -> Image.Image:  # fmt: skip
    """A page of 'handwriting': rows of vertical strokes grouped in words, `spacing` apart."""
    rng = np.random.default_rng(seed)
    image = Image.new("L", size, 235)
    draw = ImageDraw.Draw(image)
    w, h = size
    y = top
    while y + x_height < h - 20:
        x = left + int(rng.integers(0, 3 * x_height))
        while x < w - right - x_height:
            for _ in range(int(rng.integers(3, 8))):  # one word of strokes
                tall = x_height * (2 if rng.random() < 0.2 else 1)
                draw.line((x, y + x_height - tall, x + 1, y + x_height), fill=ink, width=2)
                x += max(3, x_height // 2)
            x += x_height  # word gap
        y += spacing
    return image


def test_spacing_of_small_and_large_writing() -> None:
    small = scribbles((1000, 1400), 300, 22, 7)  # a third of the scan, small hand
    large = scribbles((900, 1300), 80, 120, 40)  # a big, widely spaced hand
    for image, spacing in ((small, 22), (large, 120)):
        found = estimate_spacing(image)
        assert found is not None and not found.rotated
        assert abs(found.spacing - spacing) < 0.1 * spacing, found


def test_turned_page_and_blank_page() -> None:
    page = scribbles((900, 1200), 80, 40, 12)
    found = estimate_spacing(page.rotate(90, expand=True))
    assert found is not None and found.rotated and abs(found.spacing - 40) < 4
    assert estimate_spacing(Image.new("L", (800, 1000), 240)) is None
    assert estimate_spacing(Image.new("L", (5, 4000), 240)) is None


def test_stem_height_rescales_within_bounds() -> None:
    # lines 22 px apart on a 1400-px page, detector trained at 18 px: 1400 * 18 / 22 = 1145
    assert stem_height((1400, 1000), 22.0, 512, 18.0) == 1152
    assert stem_height((1400, 1000), None, 512, 18.0) == 512
    assert stem_height((1400, 1000), 400.0, 512, 18.0) == 512  # large hands: never below default
    # a huge scan of tiny writing: the detector input stays bounded
    tall = stem_height((20000, 15000), 10.0, 512, 18.0)
    assert tall % 16 == 0 and tall * tall * 15000 / 20000 <= 3_000_000 * 1.01


def test_word_fragments_on_one_row_become_one_line() -> None:
    prob = np.zeros((40, 120), dtype=np.float32)
    for x0 in (5, 30, 55, 80):  # four words, gaps of 5 map px, band 3 px thick
        prob[10:13, x0 : x0 + 20] = 0.9
    prob[25:28, 5:40] = 0.9
    prob[25:28, 90:115] = 0.9  # far apart on the next row: two lines
    lines = bands_to_lines(prob, 2.0, (240, 80))
    assert len(lines) == 3
    assert lines[0].box[0] < 12 and lines[0].box[2] > 195


def test_show_through_edges_and_facing_page_are_dropped() -> None:
    image = scribbles((800, 600), 60, 50, 14, seed=1)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 500, 799, 599), fill=235)  # room below the eight rows of writing
    for x in range(200, 500, 6):  # faint mirrored writing from the back of the sheet
        draw.line((x, 520, x + 1, 534), fill=215, width=2)
    draw.rectangle((0, 560, 799, 599), fill=60)  # the scanner bed under the page's lower edge
    gray = np.asarray(image, dtype=np.float32)

    def box(x0, y0, x1, y1):
        return PageLine([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    real = [box(60, 60 + 50 * i - 4, 740, 60 + 50 * i + 16) for i in range(8)]
    faint = box(200, 516, 500, 538)
    edge = box(100, 550, 700, 570)
    facing = box(780, 100, 799, 120)
    kept = drop_faint(gray, [*real, faint, edge, facing])
    assert kept == real


def test_band_spacing_and_baseline_repair() -> None:
    bands = [[(10, y), (200, y), (200, y + 6), (10, y + 6)] for y in (20, 60, 100, 140)]
    bands.append([(300, 25), (400, 25), (400, 31), (300, 31)])  # a second column
    assert band_spacing(bands) == 40
    lines = [PageLine([(10, y), (200, y), (200, y + 30), (10, y + 30)],
                      [(29, 3 * y + 75), (600, 3 * y + 75)]) for y in (20, 60, 100)]  # fmt: skip
    page = repair_baselines(Page("p.jpg", 300, 400, lines))
    assert page.lines[0].baseline == [(10, 45), (200, 45)]
    good = [PageLine([(0, 0), (50, 0), (50, 20), (0, 20)], [(0, 15), (50, 15)])]
    assert repair_baselines(Page("q.jpg", 60, 30, good)).lines[0].baseline == [(0, 15), (50, 15)]


def test_tall_pages_run_in_fixed_height_windows() -> None:
    """An exported detector takes 512 rows only: tiles must stitch to the whole-page map."""
    from textrec_cli.inference.page_lines import tiled_forward

    def forward(x: np.ndarray) -> np.ndarray:
        assert x.shape[1] == 512  # like the LiteRT graph
        return x[:, ::2, ::2].astype(np.float32) / 255

    def expect(stem: np.ndarray) -> np.ndarray:
        return stem[::2, ::2].astype(np.float32) / 255

    rng = np.random.default_rng(0)
    tall = rng.integers(0, 256, (1200, 64), dtype=np.uint8)
    np.testing.assert_array_equal(tiled_forward(forward, tall, 512), expect(tall))
    short = rng.integers(0, 256, (208, 64), dtype=np.uint8)
    np.testing.assert_array_equal(tiled_forward(forward, short, 512), expect(short))


def test_lines_of_a_turned_page_map_back() -> None:
    from textrec_cli.inference.page_lines import _unrotate

    page = np.zeros((30, 50))
    page[7, 41] = 1  # (x=41, y=7) on the page as given
    upright = np.rot90(page, 1)
    y, x = map(int, np.argwhere(upright)[0])
    back = _unrotate(PageLine([(x, y)], [(x, y)]), upright.shape[0])
    assert back.polygon == [(41, 7)] and back.baseline == [(41, 7)]


def test_a_line_is_cut_by_the_edge_only_where_ink_meets_the_border() -> None:
    """A page id whose grown outline reaches a white margin stays (Copiste pages lost it); the
    facing page's writing and the scanner bed, which run off the scan, go."""
    image = scribbles((800, 600), 60, 50, 14, right=10, seed=2)  # rows run to x=790
    draw = ImageDraw.Draw(image)
    draw.rectangle((796, 300, 799, 599), fill=40)  # dark scanner bed along the lower right
    gray = np.asarray(image, dtype=np.float32)

    def box(x0, y0, x1, y1):
        return PageLine([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    real = [box(60, 60 + 50 * i - 4, 790, 60 + 50 * i + 16) for i in range(8)]
    page_id = box(640, 106, 799, 126)  # row 2's end: ink, but the border column is paper
    facing = box(700, 356, 799, 376)  # row 7's end beside the scanner bed
    kept = drop_faint(gray, [*real, page_id, facing])
    assert page_id in kept and facing not in kept
