"""Whole pages through serving: the detector's LiteRT export, the REST API, Lambda (page mode)."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from page_fixture import blank, render_page
from PIL import Image
from serving_helpers import bundled_exports, detector_export, example_bytes, png_bytes
from test_serving_lambda import call, v2

from textrec_cli import settings
from textrec_cli.errors import TextrecError
from textrec_cli.models.store import load_model
from textrec_cli.serving import export, lambda_handler
from textrec_cli.serving.app import create_app
from textrec_cli.serving.payload import Limits
from textrec_cli.serving.runtime import PageRuntime, ServingRecognizer, load_exported
from textrec_cli.stems.page import page_stem

REAL_PAGE = Path(__file__).resolve().parents[2] / "shared/data/copiste/pages/images"
REAL_PAGE = REAL_PAGE / "imp_wikitexte_0022.jpg"


@pytest.fixture(scope="module")
def recognizer() -> ServingRecognizer:
    return ServingRecognizer.from_paths([*bundled_exports(), detector_export()])


@pytest.fixture(scope="module")
def client(recognizer: ServingRecognizer) -> TestClient:
    return TestClient(create_app(recognizer, Limits()), raise_server_exceptions=False)


def _page_png() -> bytes:
    image, _ = render_page()
    return png_bytes(image)


def test_detector_export_agrees_with_keras_at_any_width() -> None:
    runtime = load_exported(detector_export())
    assert isinstance(runtime, PageRuntime) and runtime.dynamic
    meta = runtime.metadata
    assert meta["export"]["files"][0]["input_shape"] == [None, 512, None, 1]
    assert meta["task"] == "line_detector" and set(meta["band_ratios"]) == {"above", "below"}
    assert meta["output_stride"] == 2
    ops = {op["op_name"] for op in runtime.graphs[0].interpreter._get_ops_details()}
    assert "RESIZE_BILINEAR" in ops and not any(op.startswith("Flex") for op in ops)
    keras_model = load_model(settings.BUNDLED_DETECTOR).model
    image, _ = render_page()
    stem, _ = page_stem(image)
    noise = np.random.default_rng(0).integers(0, 256, (512, 640), dtype=np.uint8)
    for x in (stem[None, :, :, None], noise[None, :, :, None]):
        out = runtime.graphs[0].run(x)
        assert out.shape == (1, 256, x.shape[2] // 2, 1)
        np.testing.assert_allclose(out, np.asarray(keras_model(x, training=False)), atol=1e-4)


def test_bundled_exports_include_the_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "cached_export", lambda path, lm=None: path)
    assert settings.BUNDLED_DETECTOR in export.bundled_exports()


def test_page_multipart_reads_lines_inside_the_image(client: TestClient) -> None:
    files = {"file": ("page.png", _page_png(), "image/png")}
    response = client.post("/v1/predict", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "page" and body["file"] == "page.png"
    version = body["model_version"]
    assert version.startswith("line_detector") and f"+{settings.BUNDLED_LINE_MODEL.name}" in version
    assert len(body["lines"]) >= 1
    assert body["text"] == "\n".join(line["text"] for line in body["lines"])
    for line in body["lines"]:
        x0, y0, x1, y1 = line["box"]
        assert 0 <= x0 < x1 < 420 and 0 <= y0 < y1 < 560  # render_page's size
        assert all(0 <= x < 420 and 0 <= y < 560 for x, y in line["polygon"])
        assert 0.0 <= line["confidence"] <= 1.0
    health = client.get("/healthz").json()
    assert set(health["models"]) == {"char", "line", "page"}
    assert client.get("/v1/model").json()["limits"]["max_bytes"] == 20 * 1024 * 1024


def test_auto_mode_keeps_chars_and_lines(client: TestClient) -> None:
    for name, mode in (("char_A.png", "char"), ("line_ms.png", "line")):
        files = {"file": (name, example_bytes(name), "image/png")}
        assert client.post("/v1/predict", files=files).json()["mode"] == mode


def test_blank_page_is_a_page_without_lines(client: TestClient) -> None:
    raw = png_bytes(blank())
    body = client.post("/v1/predict", content=raw, headers={"content-type": "image/png"}).json()
    assert (body["mode"], body["lines"], body["text"], body["confidence"]) == ("page", [], "", 0.0)


def test_oversized_page_photo_is_413_json(client: TestClient) -> None:
    huge = png_bytes(Image.new("L", (8000, 6000), 255))  # 48 MP, over the 40 MP default
    response = client.post("/v1/predict", content=huge, headers={"content-type": "image/jpeg"})
    assert response.status_code == 413 and "pixel" in response.json()["error"]


@pytest.mark.skipif(not REAL_PAGE.is_file(), reason="copiste pages not available")
def test_real_page_photo(client: TestClient) -> None:
    image = Image.open(REAL_PAGE)
    files = {"file": (REAL_PAGE.name, REAL_PAGE.read_bytes(), "image/jpeg")}
    body = client.post("/v1/predict", files=files).json()
    assert body["mode"] == "page" and len(body["lines"]) >= 15  # the ALTO has 22 lines
    assert all(0 <= line["box"][2] <= image.width for line in body["lines"])


def test_page_without_detector_is_4xx_json() -> None:
    no_pages = TestClient(create_app(ServingRecognizer.from_paths(list(bundled_exports()))))
    response = no_pages.post(
        "/v1/predict?mode=page", content=_page_png(), headers={"content-type": "image/png"}
    )
    assert response.status_code == 422 and "no page model" in response.json()["error"]
    auto = no_pages.post("/v1/predict", content=_page_png(), headers={"content-type": "image/png"})
    assert auto.status_code == 200 and auto.json()["mode"] == "char"  # as before pages


def test_detector_needs_a_line_model() -> None:
    char, _ = bundled_exports()
    with pytest.raises(TextrecError, match="line model"):
        ServingRecognizer.from_paths([char, detector_export()])


def test_lambda_v2_page_event(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [*bundled_exports(), detector_export()]
    monkeypatch.setenv("TEXTREC_SERVE_MODELS", os.pathsep.join(map(str, paths)))
    monkeypatch.setenv("TEXTREC_MONITOR", "0")
    monkeypatch.setattr(lambda_handler, "_recognizer", None)
    status, body = call(v2(_page_png()))
    assert status == 200 and body["mode"] == "page" and len(body["lines"]) >= 1
    event = v2(png_bytes(blank()))
    event["queryStringParameters"] = {"mode": "page"}
    status, body = call(event)
    assert status == 200 and body["lines"] == []
    assert lambda_handler.LIMITS.max_bytes * 4 / 3 < 6 * 1024 * 1024  # base64 fits Lambda's 6 MB


def test_page_path_never_imports_tensorflow_keras_lxml_or_h5py() -> None:
    paths = [str(p) for p in (*bundled_exports(), detector_export())]
    buffer = io.BytesIO()
    render_page()[0].save(buffer, format="PNG")
    script = f"""
import base64, sys
from fastapi.testclient import TestClient
from textrec_cli.serving.app import create_app
from textrec_cli.serving.runtime import ServingRecognizer
client = TestClient(create_app(ServingRecognizer.from_paths({paths!r})))
data = base64.b64decode({base64.b64encode(buffer.getvalue()).decode()!r})
r = client.post("/v1/predict", content=data, headers={{"content-type": "image/png"}})
assert r.status_code == 200 and r.json()["mode"] == "page", r.text
heavy = ("tensorflow", "keras", "tf_keras", "lxml", "h5py")
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"')) == []
