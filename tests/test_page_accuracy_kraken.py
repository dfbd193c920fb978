"""benchmarks/page_accuracy.py runs kraken's segmenter as a subprocess peer: its ALTO polygons
become boxes like the ground truth's, a kept run is reused, and a missing kraken is skipped."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
from benchmark_helpers import load_benchmark

ALTO = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Layout><Page WIDTH="200" HEIGHT="100"
 PHYSICAL_IMG_NR="1" ID="p"><PrintSpace><TextBlock ID="b"><TextLine ID="l1" HPOS="10" VPOS="20"
 WIDTH="150" HEIGHT="30" BASELINE="10 45 160 45"><Shape><Polygon POINTS="10 20 160 22 160 50
 10 50"/></Shape></TextLine></TextBlock></PrintSpace></Page></Layout></alto>
"""


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("page_accuracy")


def fake_kraken(tmp_path: Path) -> Path:
    """An executable that answers `kraken -a -d cpu -i IN OUT ... segment -bl` with one line
    per page and counts its calls."""
    script = tmp_path / "kraken"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, pathlib\n"
        "args = sys.argv[1:]\n"
        "assert args[-2:] == ['segment', '-bl'] and '-a' in args, args\n"
        f"pathlib.Path({str(tmp_path / 'calls')!r}).open('a').write('x')\n"
        "for i, a in enumerate(args):\n"
        "    if a == '-i':\n"
        f"        pathlib.Path(args[i + 2]).write_text({ALTO!r})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_kraken_lines_become_boxes_and_a_kept_run_is_reused(bench, tmp_path: Path) -> None:
    kraken = fake_kraken(tmp_path)
    pages = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    keep = tmp_path / "kept" / "copiste"
    found, timing = bench.kraken_pages(str(kraken), pages, keep)
    assert [[line.box for line in lines] for lines in found] == [[(10, 20, 160, 50)]] * 2
    assert timing["pages"] == 2 and timing["seconds"] >= 0 and timing["cpu_seconds"] >= 0
    again, _ = bench.kraken_pages(str(kraken), pages, keep)
    assert again[1][0].box == (10, 20, 160, 50)
    assert (tmp_path / "calls").read_text() == "x"  # the second call read the kept ALTO


def test_kraken_is_found_or_skipped(bench, monkeypatch, tmp_path: Path) -> None:
    assert bench.find_kraken("none") is None
    monkeypatch.setenv("TEXTREC_KRAKEN", str(fake_kraken(tmp_path)))
    assert bench.find_kraken(None) == str(tmp_path / "kraken")
    monkeypatch.setenv("TEXTREC_KRAKEN", str(tmp_path / "absent"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(bench, "KRAKEN_VENV", tmp_path / "no_venv" / "kraken")
    assert bench.find_kraken(None) is None
