"""synthetic_pages: seeded composition, and labels that sit on the ink they describe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from line_fixture import make_lines_folder

from textrec_cli.data.synthetic_pages import SyntheticPages


def test_synthetic_pages_are_seeded_and_labelled(tmp_path: Path, shared_fonts: Path) -> None:
    folder = make_lines_folder(tmp_path / "lines", repeats=2)
    gen = SyntheticPages.for_split("train", [str(folder)], fonts_dir=shared_fonts)
    assert gen.crops and gen.handwriting is not None
    image, page = gen.render(np.random.default_rng(7))
    again, page_again = gen.render(np.random.default_rng(7))
    assert np.array_equal(np.asarray(image), np.asarray(again))
    assert [ln.polygon for ln in page.lines] == [ln.polygon for ln in page_again.lines]
    other, _ = gen.render(np.random.default_rng(8))
    assert other.size != image.size or not np.array_equal(np.asarray(other), np.asarray(image))

    gray = np.asarray(image, dtype=np.float32)
    assert (page.width, page.height) == image.size and len(page.lines) >= 3
    boxes = [line.box for line in page.lines]
    for (x0, y0, x1, y1), line in zip(boxes, page.lines, strict=True):
        assert 0 <= x0 < x1 < image.width and 0 <= y0 < y1 < image.height
        assert len(line.baseline) >= 2 and line.text
        inside = gray[y0 : y1 + 1, x0 : x1 + 1]
        assert inside.min() < np.median(inside) - 40  # dark ink lies inside each polygon
        assert all(y0 - 3 <= y <= y1 + 3 for _, y in line.baseline)
    tops = [b[1] for b in boxes]
    assert tops == sorted(tops)  # laid out top to bottom, no overlap between neighbours
    assert all(a[3] <= b[1] + 6 for a, b in zip(boxes, boxes[1:], strict=False))
    gray_page, bands, lines = gen.sample_page(np.random.default_rng(7))
    assert len(bands) == len(lines) == len(page.lines) and gray_page.dtype == np.uint8
