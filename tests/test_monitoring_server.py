"""The serving hooks: the observer records each prediction, `/metrics` speaks Prometheus."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.testclient import TestClient
from monitoring_helpers import fake_records, line_image

from textrec_cli.containers import Prediction
from textrec_cli.monitoring.observer import server_monitoring
from textrec_cli.monitoring.reference import Reference


def _app(monitoring) -> FastAPI:
    """A stand-in for serving/app.py: calls its observers after each prediction."""
    app = FastAPI()
    observers = [monitoring.observer]

    @app.post("/predict")
    def predict(shade: int = 60) -> dict:
        image = line_image(shade=shade)
        result = Prediction("", "hello", 0.9, "line", "test-model")
        for observer in observers:
            observer(image, result, 12.5)
        return result.to_dict()

    monitoring.mount(app)
    return app


def test_observer_logs_requests_and_metrics_are_served(tmp_path):
    reference = Reference.from_records(fake_records(200), "test-model", "fake")
    reference.save(tmp_path / "reference.json")
    monitoring = server_monitoring(
        tmp_path / "p.sqlite", [tmp_path / "reference.json"], check_every=25, window=25,
        alert_file=tmp_path / "alert.json",
    )  # fmt: skip
    client = TestClient(_app(monitoring))
    for _ in range(25):
        assert client.post("/predict").status_code == 200
    store = monitoring.observer.store
    assert store.count() == 25
    kept = store.recent(with_images=True)
    assert len(kept) == 25 and {r.image_hash for r in kept} == {kept[0].image_hash}
    assert store.image_png(kept[0].image_hash).startswith(b"\x89PNG")  # kept once
    body = client.get("/metrics").text
    assert 'textrec_predictions_total{mode="line",model_version="test-model"} 25.0' in body
    assert "textrec_prediction_latency_seconds_bucket" in body
    assert 'textrec_prediction_confidence_bucket{le="0.9",mode="line"} 25.0' in body
    assert 'textrec_drift_score{feature="confidence",model_version="test-model"}' in body
    # the stand-in requests all repeat one image at confidence 0.9: far from the reference
    assert 'textrec_drift_alert{model_version="test-model"} 1.0' in body
    assert (tmp_path / "alert.json").is_file()


def test_observer_never_breaks_a_request(tmp_path, caplog):
    monitoring = server_monitoring(tmp_path / "p.sqlite")
    monitoring.observer.store.engine.dispose()
    (tmp_path / "p.sqlite").unlink()
    (tmp_path / "p.sqlite").mkdir()  # the store can no longer be written
    with caplog.at_level(logging.ERROR, logger="textrec.monitoring"):
        response = TestClient(_app(monitoring)).post("/predict")
    assert response.status_code == 200
    assert "could not record a prediction" in caplog.text


def test_monitoring_from_env(tmp_path, monkeypatch):
    from textrec_cli.monitoring.observer import monitoring_from_env

    Reference.from_records(fake_records(50), "test-model", "fake").save(tmp_path)
    monkeypatch.setenv("TEXTREC_MONITOR_STORE", str(tmp_path / "env.sqlite"))
    monkeypatch.setenv("TEXTREC_MONITOR_KEEP_IMAGES", "0")
    monitoring = monitoring_from_env("lambda", [tmp_path, tmp_path / "no-reference-here"])
    assert len(monitoring.drift_checks) == 1
    monitoring.observer(line_image(), Prediction("", "a", 0.5, "line"), 3.0)
    (record,) = monitoring.observer.store.recent()
    assert record.source == "lambda" and not record.image_kept
