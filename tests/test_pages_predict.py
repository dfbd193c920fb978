"""Reading whole pages: predict --mode page end to end, ALTO/PAGE output, bad pages, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import json_lines, run_cli
from page_fixture import blank, make_oracle_detector, make_pages_folder, render_page
from PIL import Image

from textrec_cli.data.page_xml import read_page_file
from textrec_cli.inference.modes import choose_mode
from textrec_cli.inference.page_reader import crop_line


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_oracle_detector(tmp_path_factory.mktemp("oracle") / "detector")


def test_page_shaped_images_choose_page_mode() -> None:
    assert choose_mode(Image.new("L", (1082, 1400)), pages=True) == "page"
    assert choose_mode(Image.new("L", (1082, 1400))) == "char"  # callers opt in (serving)
    assert choose_mode(Image.new("L", (120, 140)), pages=True) == "char"
    assert choose_mode(Image.new("L", (2000, 300)), pages=True) == "line"


def test_crop_whitens_outside_the_polygon() -> None:
    gray = np.zeros((50, 80), dtype=np.float32)
    crop = crop_line(gray, [(10, 10), (60, 10), (60, 30), (10, 40)])
    assert crop.shape == (31, 51)
    assert crop[5, 5] == 0 and crop[30, 45] == 255  # inside stays, outside the slant is paper


def test_predict_page_json_and_bad_pages(workdir: Path, oracle: Path) -> None:
    image, truth = render_page()
    image.save("page.png")
    blank().save("blank.png")
    image.rotate(90, expand=True, fillcolor=245).save("rotated.png")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (700, 500), dtype=np.uint8)).save("noise.png")
    files = ["page.png", "blank.png", "rotated.png", "noise.png"]
    result = run_cli("predict", *files, "--model", oracle, "--json")
    assert result.exit_code == 0, result.stderr
    rows = {row["file"]: row for row in json_lines(result.stdout)}
    assert set(rows) == set(files)
    page = rows["page.png"]
    assert page["mode"] == "page" and len(page["lines"]) == 3
    assert page["text"] == "\n".join(line["text"] for line in page["lines"])
    for line, true in zip(page["lines"], truth.lines, strict=True):
        assert set(line) >= {"text", "confidence", "box", "polygon"}
        x0, y0, x1, y1 = line["box"]
        tx0, ty0, tx1, ty1 = true.box
        assert abs((y0 + y1) / 2 - (ty0 + ty1) / 2) < 15  # right line, in input pixels
        assert all(0 <= x < image.width and 0 <= y < image.height for x, y in line["polygon"])
    assert 0.0 <= page["confidence"] <= 1.0
    assert rows["blank.png"]["lines"] == [] and rows["blank.png"]["text"] == ""
    assert all(rows[f]["mode"] == "page" for f in files)  # rotated and noise: a result, no crash


def test_predict_writes_alto_and_pagexml(workdir: Path, oracle: Path) -> None:
    image, _ = render_page()
    image.save("page.png")
    result = run_cli("predict", "page.png", "--model", oracle, "--format", "alto",
                     "--output", "xml")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    alto = read_page_file(workdir / "xml" / "page.alto.xml")
    assert (alto.image, alto.width, alto.height, len(alto.lines)) == ("page.png", 420, 560, 3)
    assert all(line.baseline and len(line.polygon) >= 4 for line in alto.lines)
    result = run_cli("predict", "page.png", "--model", oracle, "--format", "page")
    assert result.exit_code == 0, result.stderr
    from pagexml.parser import parse_pagexml_file

    doc = parse_pagexml_file(str(workdir / "page.page.xml"))
    assert len(doc.get_lines()) == 3
    assert run_cli("predict", "page.png", "--format", "hocr").exit_code != 0


def test_huge_scan_is_a_clear_error(workdir: Path, oracle: Path) -> None:
    Image.new("L", (12000, 9000), 255).save("huge.png")
    result = run_cli("predict", "huge.png", "--model", oracle, "--json")
    assert result.exit_code == 2
    assert "12000x9000" in result.stderr and "limit" in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_real_pages(workdir: Path, oracle: Path) -> None:
    folder = make_pages_folder(workdir / "pages", n_train=1, n_val=2)
    result = run_cli("evaluate", oracle, "--dataset", "real_pages", "--lines-dir", folder,
                     "--split", "val", "--output", "report.json", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json_lines(result.stdout)[0]
    assert report["pages"] == 2 and report["true_lines"] == 6
    assert report["recall"] >= 0.5 and report["line_cer"] >= 0 and report["seconds_per_page"] > 0
    assert json.loads(Path("report.json").read_text())["f1"] == report["f1"]
    drawn = list(Path(report["worst_dir"]).glob("*.png"))
    assert len(drawn) == 2


def test_bundled_detector_reads_a_page_in_auto_mode(workdir: Path) -> None:
    from textrec_cli import settings

    meta = json.loads((settings.BUNDLED_DETECTOR / "metadata.json").read_text())
    assert meta["task"] == "line_detector" and set(meta["band_ratios"]) == {"above", "below"}
    size = sum(f.stat().st_size for f in settings.BUNDLED_DETECTOR.iterdir())
    assert size < 3_000_000  # small enough for the Lambda image
    image, _ = render_page()
    image.save("page.png")
    result = run_cli("predict", "page.png", "--json")
    assert result.exit_code == 0, result.stderr
    row = json_lines(result.stdout)[0]
    assert row["mode"] == "page" and isinstance(row["lines"], list)
    assert row["text"] == "\n".join(line["text"] for line in row["lines"])
