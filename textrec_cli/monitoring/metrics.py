"""Prometheus metrics for the server: requests, latency, confidence, drift score per feature.

Each MonitoringMetrics owns its registry (not the global one), so tests and several apps in one
process never collide; `mount_metrics` serves it as `/metrics` on a FastAPI/Starlette app.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from textrec_cli.containers import Prediction
from textrec_cli.monitoring.drift import DriftReport

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


class MonitoringMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "textrec_predictions", "Predictions served.", ["mode", "model_version"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "textrec_prediction_latency_seconds", "Time to read one image.", ["mode"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.confidence = Histogram(
            "textrec_prediction_confidence", "Model confidence of served predictions.", ["mode"],
            buckets=CONFIDENCE_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.drift_score = Gauge(
            "textrec_drift_score", "Drift of the last window: KS distance or Cramér's V.",
            ["model_version", "feature"], registry=self.registry,
        )  # fmt: skip
        self.drift_p_value = Gauge(
            "textrec_drift_p_value", "p-value of the last drift test.",
            ["model_version", "feature"], registry=self.registry,
        )  # fmt: skip
        self.drift_alert = Gauge(
            "textrec_drift_alert", "1 when the last drift check found significant drift.",
            ["model_version"], registry=self.registry,
        )  # fmt: skip
        self.estimated_cer = Gauge(
            "textrec_estimated_cer", "CER of the last window, estimated from confidences.",
            ["model_version"], registry=self.registry,
        )  # fmt: skip

    def observe_prediction(self, prediction: Prediction, latency_ms: float) -> None:
        mode = prediction.mode
        self.requests.labels(mode, prediction.model_version).inc()
        self.latency.labels(mode).observe(latency_ms / 1000.0)
        self.confidence.labels(mode).observe(float(prediction.confidence))

    def observe_drift(self, report: DriftReport) -> None:
        version = report.model_version
        for feature in report.features:
            self.drift_score.labels(version, feature.feature).set(feature.effect)
            self.drift_p_value.labels(version, feature.feature).set(feature.p_value)
        self.drift_alert.labels(version).set(1.0 if report.drifted else 0.0)
        if report.accuracy:
            self.estimated_cer.labels(version).set(report.accuracy["estimated_cer"])

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def mount_metrics(app: Any, metrics: MonitoringMetrics, path: str = "/metrics") -> None:
    """Serve `metrics` in the Prometheus text format at `path` on a FastAPI/Starlette app."""
    from starlette.requests import Request
    from starlette.responses import Response

    async def endpoint(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_route(path, endpoint, methods=["GET"], include_in_schema=False)
