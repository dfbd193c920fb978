"""Line detector: band labels, polygon post-processing on known maps, reading order, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from cli_helpers import json_lines, run_cli
from page_fixture import make_pages_folder, render_page

from textrec_cli.data.page_targets import BandRatios, draw_bands, line_band
from textrec_cli.data.page_xml import PageLine
from textrec_cli.inference.page_lines import bands_to_lines, reading_order
from textrec_cli.training.page_batches import render_patch


def test_band_sits_on_the_baseline() -> None:
    line = PageLine([(10, 20), (110, 20), (110, 70), (10, 70)], [(10, 60), (110, 60)], "x")
    band, ascent, descent = line_band(line)
    ys = [y for _, y in band]
    assert ascent == 40 and descent == 10
    assert min(ys) == 40 and max(ys) == 64  # baseline - 0.5 ascent .. baseline + 0.1 ascent
    mask = draw_bands([band], (120, 80))
    assert mask[50, 60] == 1 and mask[30, 60] == 0 and mask[68, 60] == 0


def test_polygons_from_a_known_map() -> None:
    prob = np.zeros((60, 80), dtype=np.float32)
    prob[30:34, 8:60] = 0.9  # second line first in memory: reading order must fix it
    prob[10:14, 5:70] = 1.0
    prob[50:52, 40:41] = 1.0  # a dot, not a line
    lines = bands_to_lines(prob, 2.0, (160, 120), BandRatios(above=1.0, below=0.75))
    assert len(lines) == 2
    top, bottom = lines
    # band rows 10..13 (4 thick) grown 4 up and 3 down -> rows 6..16 -> pixels 12..34 at factor 2
    assert top.box == (6, 12, 144, 34)  # columns 5..69 grown 2 each side: edges 2.5..71.5
    assert bottom.box[1] > top.box[3] - 4
    assert top.confidence == 1.0 and abs(bottom.confidence - 0.9) < 1e-6
    # the baseline is near the band's lower edge, straight across the line
    assert {y for _, y in top.baseline} == {27}
    assert all(0 <= x < 160 and 0 <= y < 120 for line in lines for x, y in line.polygon)


def test_empty_map_gives_no_lines() -> None:
    assert bands_to_lines(np.zeros((40, 40), dtype=np.float32), 2.0, (80, 80)) == []


def test_reading_order_columns_left_to_right() -> None:
    def box(x0, y0, x1, y1, text):
        return PageLine([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], text=text)

    lines = [box(300, 10, 500, 30, "c2l1"), box(10, 50, 250, 70, "c1l2"),
             box(10, 10, 240, 30, "c1l1"), box(310, 50, 480, 70, "c2l2"),
             box(0, 100, 500, 120, "footer")]  # fmt: skip
    # the footer spans both columns: no gutter, so one column, top to bottom then left to right
    one_column = [ln.text for ln in reading_order(lines)]
    assert one_column == ["c1l1", "c2l1", "c1l2", "c2l2", "footer"]
    two_columns = reading_order(lines[:4])
    assert [ln.text for ln in two_columns] == ["c1l1", "c1l2", "c2l1", "c2l2"]


def test_patch_labels_follow_the_augmentation() -> None:
    image, page = render_page()
    gray = np.asarray(image)
    bands = [line_band(line)[0] for line in page.lines]
    rng = np.random.default_rng(0)
    x, mask = render_patch(gray, bands, rng, 512, 320, augment=1.0, out_height=256)
    assert x.shape == (256, 320) and mask.shape == (128, 160)
    clean, clean_mask = render_patch(gray, bands, rng, gray.shape[0], 416, augment=0.0)
    # unaugmented: each band lies over dark (ink) pixels of its line
    ink = clean < 128
    assert clean_mask.sum() > 0
    hit = ink[::2, ::2][: clean_mask.shape[0], : clean_mask.shape[1]] & (clean_mask > 0)
    assert hit.sum() > 0.05 * clean_mask.sum()


def test_detector_trains_one_epoch_on_fixture_pages(workdir: Path) -> None:
    folder = make_pages_folder(workdir / "pages", n_train=3, n_val=1)
    result = run_cli(
        "train", "--model", "line_detector", "--dataset", "real_pages", "--lines-dir", folder,
        "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2", "--no-wandb", "--json",
        "--output", workdir / "det",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json_lines(result.stdout)[0]
    assert report["metrics"]["epochs_run"] == 1
    assert "val_f1" in report["metrics"]
    import json

    meta = json.loads((workdir / "det" / "metadata.json").read_text())
    assert meta["task"] == "line_detector" and meta["output_stride"] == 2
    assert set(meta["band_ratios"]) == {"above", "below"}
    assert (workdir / "det" / "model.keras").is_file()
