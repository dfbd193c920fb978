"""REST API contract: happy paths for char and line images, and every bad input -> 4xx JSON."""

from __future__ import annotations

import base64
import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serving_helpers import bundled_exports, example_bytes, png_bytes

from textrec_cli import settings
from textrec_cli.serving.app import create_app
from textrec_cli.serving.payload import Limits
from textrec_cli.serving.runtime import ServingRecognizer


@pytest.fixture(scope="module")
def recognizer() -> ServingRecognizer:
    return ServingRecognizer.from_paths(list(bundled_exports()))


@pytest.fixture(scope="module")
def client(recognizer: ServingRecognizer) -> TestClient:
    limits = Limits(max_bytes=200_000, max_pixels=2_000_000)
    return TestClient(create_app(recognizer, limits), raise_server_exceptions=False)


def test_health_model_page_and_docs(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and set(health["models"]) == {"char", "line"}
    info = client.get("/v1/model").json()
    assert info["models"]["char"]["labels"] == 62
    assert info["models"]["line"]["files"][0]["input_shape"] == [None, 40, None, 1]  # conv-only
    assert info["models"]["line"]["preprocessing"] == "textrec_cli.stems.line.line_stem"
    assert info["limits"]["max_bytes"] == 200_000
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "/v1/predict" in page.text
    schema = client.get("/openapi.json").json()
    assert "multipart/form-data" in schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 200


def test_predict_char_multipart(client: TestClient) -> None:
    files = {"file": ("char_A.png", example_bytes("char_A.png"), "image/png")}
    body = client.post("/v1/predict", files=files).json()
    assert body["text"] == "A" and body["mode"] == "char" and body["file"] == "char_A.png"
    assert body["model_version"] == "char_cnn-2026-11-26"
    assert 0.5 < body["confidence"] <= 1 and body["latency_ms"] > 0
    assert len(body["alternatives"]) == 2


def test_predict_line_json_base64(client: TestClient) -> None:
    encoded = base64.b64encode(example_bytes("line_ms.png")).decode()
    body = client.post("/v1/predict", json={"image": encoded}).json()
    assert body["mode"] == "line" and body["model_version"].startswith(
        settings.BUNDLED_LINE_MODEL.name
    )
    assert "at noon" in body["text"]  # the bundled model: "Heet me at the station at noon."
    data_url = client.post("/v1/predict", json={"image": "data:image/png;base64," + encoded})
    assert data_url.json()["text"] == body["text"]


def test_predict_raw_body_and_mode_override(client: TestClient) -> None:
    raw = example_bytes("char_7.png")
    body = client.post("/v1/predict", content=raw, headers={"content-type": "image/png"}).json()
    assert body["text"] == "7"
    forced = client.post(
        "/v1/predict?mode=line", content=raw, headers={"content-type": "image/png"}
    ).json()
    assert forced["mode"] == "line"
    via_json = client.post(
        "/v1/predict", json={"image": base64.b64encode(raw).decode(), "mode": "line"}
    )
    assert via_json.json()["mode"] == "line"


def _truncated_png() -> bytes:
    data = example_bytes("line_ms.png")
    return data[: len(data) // 2]


def _ico() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(buffer, format="ICO")
    return buffer.getvalue()


PNG = "image/png"
BAD_INPUTS = {
    "corrupt image": dict(content=b"not an image at all", headers={"content-type": PNG}),
    "truncated image": dict(content=_truncated_png(), headers={"content-type": PNG}),
    "format not allowed": dict(content=_ico(), headers={"content-type": "image/x-icon"}),
    "empty body": dict(content=b"", headers={"content-type": PNG}),
    "wrong content type": dict(content=b"hello", headers={"content-type": "text/plain"}),
    "no content type": dict(content=b"hello", headers={"content-type": ""}),
    "too many bytes": dict(content=b"\x89PNG" + bytes(300_000), headers={"content-type": PNG}),
    "too many pixels": dict(
        content=png_bytes(Image.new("L", (2000, 1500), 255)), headers={"content-type": PNG}
    ),
    "bad base64": dict(json={"image": "%%% not base64 %%%"}),
    "base64 of garbage": dict(json={"image": base64.b64encode(b"garbage").decode()}),
    "malformed json": dict(content=b'{"image": ', headers={"content-type": "application/json"}),
    "json not an object": dict(json=["image"]),
    "missing field": dict(json={"picture": "AAAA"}),
    "field not a string": dict(json={"image": 42}),
    "multipart without file": dict(files={"image": (None, b"not a file")}),
    "multipart without boundary": dict(
        content=b"x", headers={"content-type": "multipart/form-data"}
    ),
    "unknown mode": dict(
        json={"image": base64.b64encode(example_bytes("char_A.png")).decode(), "mode": "page"}
    ),
}
EXPECTED = {
    **dict.fromkeys(["wrong content type", "no content type"], 415),
    **dict.fromkeys(["too many bytes", "too many pixels"], 413),
    **dict.fromkeys(
        ["missing field", "json not an object", "field not a string", "multipart without file",
         "unknown mode"],
        422,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_4xx_json(client: TestClient, case: str) -> None:
    response = client.post("/v1/predict", **BAD_INPUTS[case])
    assert response.status_code == EXPECTED.get(case, 400), response.text
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["error"], str) and response.json()["error"]


def test_declared_length_over_limit_is_refused_unread(client: TestClient) -> None:
    headers = {"content-type": PNG, "content-length": str(10**9)}
    response = client.post("/v1/predict", content=b"x", headers=headers)
    assert response.status_code == 413 and "limit" in response.json()["error"]


def test_wrong_method_and_route_are_json(client: TestClient) -> None:
    assert client.get("/v1/predict").status_code == 405
    assert "error" in client.get("/v1/predict").json()
    assert client.get("/nope").status_code == 404 and "error" in client.get("/nope").json()


def test_observers_get_each_prediction_and_failures_are_contained(
    recognizer: ServingRecognizer, caplog: pytest.LogCaptureFixture
) -> None:
    seen = []

    def broken(image, prediction, latency_ms):
        raise RuntimeError("monitoring store is down")

    def record(image, prediction, latency_ms):  # the Prediction itself, not its JSON
        seen.append((image.size, prediction.text, latency_ms))

    client = TestClient(create_app(recognizer, observers=[broken, record]))
    files = {"file": ("a.png", example_bytes("char_A.png"), "image/png")}
    response = client.post("/v1/predict", files=files)
    assert response.status_code == 200 and response.json()["text"] == "A"
    assert seen == [((120, 140), "A", pytest.approx(response.json()["latency_ms"], abs=0.01))]
    assert "monitoring store is down" in caplog.text
    client.post("/v1/predict", content=b"junk", headers={"content-type": PNG})
    assert len(seen) == 1  # failed requests are not observed


def test_container_app_logs_predictions_and_serves_metrics(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """The Docker CMD's factory wires the prediction log and /metrics from the environment."""
    import os

    from textrec_cli.monitoring.store import open_store
    from textrec_cli.serving.app import app_from_env

    store = tmp_path / "monitor.db"
    monkeypatch.setenv("TEXTREC_SERVE_MODELS", os.pathsep.join(map(str, bundled_exports())))
    monkeypatch.setenv("TEXTREC_MONITOR_STORE", str(store))
    client = TestClient(app_from_env(), raise_server_exceptions=False)
    files = {"file": ("A.png", example_bytes("char_A.png"), "image/png")}
    assert client.post("/v1/predict", files=files).status_code == 200
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "textrec" in metrics.text
    with open_store(store) as opened:
        assert opened.count() == 1
