"""`containers.py`: the one Prediction / PageLine every output is made from, and its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from textrec_cli.containers import PageLine, Prediction
from textrec_cli.data.page_xml import Page, read_page_file, write_page_file
from textrec_cli.monitoring.records import make_record


def _page() -> Prediction:
    lines = [
        PageLine([(10, 20), (200, 18), (201, 60), (9, 61)], [(10, 55), (200, 54)], "Dear John,",
                 confidence=0.91234567),
        PageLine([(12, 80), (150, 80), (150, 120), (12, 120)], [], "how are you?",
                 confidence=None),
    ]  # fmt: skip
    return Prediction.of_page("scan.jpg", lines, "det+line")


def test_page_json_has_one_shape_and_reads_back() -> None:
    page = _page()
    data = page.to_dict()
    assert list(data) == ["file", "text", "confidence", "mode", "model_version", "alternatives",
                          "lines"]  # fmt: skip
    assert data["text"] == "Dear John,\nhow are you?" and data["mode"] == "page"
    assert data["confidence"] == round((0.91234567 + 0.0) / 2, 6)
    assert data["lines"][0] == {
        "text": "Dear John,", "confidence": 0.912346, "box": [9, 18, 201, 61],
        "polygon": [[10, 20], [200, 18], [201, 60], [9, 61]], "baseline": [[10, 55], [200, 54]],
    }  # fmt: skip
    assert data["lines"][1]["confidence"] == 0.0 and data["lines"][1]["baseline"] == []
    again = Prediction.from_dict(json.loads(json.dumps(data)))
    assert again.lines is not None and again.lines[0].polygon[0] == (10, 20)
    assert again.to_dict() == data


def test_line_and_char_json_have_no_lines() -> None:
    line = Prediction("a.png", "hello", 0.87654321, "line", "m1")
    assert line.to_dict() == {
        "file": "a.png", "text": "hello", "confidence": 0.876543, "mode": "line",
        "model_version": "m1", "alternatives": [],
    }  # fmt: skip
    assert Prediction.from_dict(line.to_dict()).to_dict() == line.to_dict()


def test_json_is_the_rest_schema() -> None:
    """The REST API's pydantic models document exactly what `to_dict` makes (no drift)."""
    from textrec_cli.serving.app import PredictResponse

    char = Prediction.top_k("c.png", np.array([0.1, 0.7, 0.2]), "abc", 3, "char-1")
    for prediction in (_page(), char):
        payload = {**prediction.to_dict(), "latency_ms": 1.5}
        schema = PredictResponse.model_validate(payload)
        assert schema.model_dump(mode="json", exclude_none=True) == payload


def test_top_k_is_the_classifier_reading() -> None:
    probs = np.array([0.05, 0.6, 0.04, 0.31], dtype=np.float32)
    p = Prediction.top_k("g.png", probs, ["a", "b", "c", "d"], 3, "char-1")
    assert (p.file, p.text, p.mode, p.model_version) == ("g.png", "b", "char", "char-1")
    assert p.confidence == pytest.approx(0.6)
    assert p.alternatives == [("d", pytest.approx(0.31)), ("a", pytest.approx(0.05))]
    assert Prediction.top_k("g.png", probs, "abcd", 1, "").alternatives == []


def test_any_reading_writes_as_a_page(tmp_path: Path) -> None:
    """A line reading is one line covering the image; a page reading keeps its own lines."""
    line = Prediction("dir/line.png", "hello", 0.75, "line")
    page = Page.of(line, (300, 40))
    assert (page.image, page.width, page.height) == ("line.png", 300, 40)
    [only] = page.lines
    assert (only.text, only.confidence, only.box) == ("hello", 0.75, (0, 0, 299, 39))
    assert line.lines is None  # the reading itself is left as it was
    back = read_page_file(write_page_file(page, tmp_path / "line.alto.xml", "alto"))
    assert [(ln.text, ln.confidence) for ln in back.lines] == [("hello", 0.75)]
    read = _page()
    assert Page.of(read, (400, 300)).lines is read.lines


def test_monitoring_record_takes_the_prediction() -> None:
    image = Image.new("L", (200, 40), 230)
    prediction = Prediction("x.png", "abc", 0.5, "line", "m1")
    record = make_record(image, prediction, 4.0, "cli")
    assert (record.text, record.mode, record.model_version, record.confidence) == (
        "abc", "line", "m1", 0.5,
    )  # fmt: skip
