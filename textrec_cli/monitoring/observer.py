"""The hook serving calls after every prediction: `observer(image, prediction, latency_ms)`.

It records the request in the store, updates the Prometheus metrics and, every `check_every`
requests (or on a timer), runs the drift check. It never raises: monitoring trouble is logged,
the user still gets their reading.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from textrec_cli import settings
from textrec_cli.containers import Prediction
from textrec_cli.errors import TextrecError
from textrec_cli.monitoring.accuracy import (
    DEFAULT_MARGIN,
    Calibration,
    estimate_cer,
    load_calibration,
)
from textrec_cli.monitoring.alerts import fire_alert
from textrec_cli.monitoring.describe import summary_sentence
from textrec_cli.monitoring.drift import DriftReport, detect_drift
from textrec_cli.monitoring.metrics import MonitoringMetrics, mount_metrics
from textrec_cli.monitoring.records import make_record, png_bytes
from textrec_cli.monitoring.reference import Reference, load_reference, reference_path
from textrec_cli.monitoring.store import ImagePolicy, PredictionStore, open_store

log = logging.getLogger("textrec.monitoring")


def reference_version(reference: Reference) -> str | None:
    """The model version to compare against (None when the reference mixes several)."""
    versions = [v for v in reference.model_version.split(",") if v]
    return versions[0] if len(versions) == 1 else None


@dataclass
class DriftCheck:
    """Compare the last `window` stored predictions with the reference; alert when drifted."""

    store: PredictionStore
    reference: Reference
    window: int = 200
    check_every: int = 100
    alpha: float = 0.01
    min_effect: float = 0.1
    alert_file: str | Path | None = None
    webhook_url: str | None = None
    metrics: MonitoringMetrics | None = None
    calibration: Calibration | None = None  # confidence -> CER, for the estimated CER
    cer_margin: float = DEFAULT_MARGIN
    last_report: DriftReport | None = None
    _served: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> DriftReport | None:
        """One check; None while the store holds fewer than 20 predictions of this model."""
        records = self.store.recent(self.window, model_version=reference_version(self.reference))
        if len(records) < min(20, self.window):
            return None
        report = detect_drift(self.reference, records, self.alpha, self.min_effect)
        if self.calibration is not None:
            report.accuracy = estimate_cer(self.calibration, records, self.cer_margin)
            report.summary = summary_sentence(report)
        if self.metrics is not None:
            self.metrics.observe_drift(report)
        if report.alerted:
            fire_alert(report, self.alert_file, self.webhook_url)
        self.last_report = report
        return report

    def tick(self) -> DriftReport | None:
        """Count one request; run the check on every `check_every`-th."""
        with self._lock:
            self._served += 1
            due = self._served % self.check_every == 0
        return self.run() if due else None

    def start_background(self, interval_s: float) -> threading.Event:
        """Run the check every `interval_s` seconds in a daemon thread; set the event to stop."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval_s):
                try:
                    self.run()
                except Exception:  # noqa: BLE001 - a failed check must not kill the thread
                    log.exception("scheduled drift check failed")

        threading.Thread(target=loop, name="textrec-drift-check", daemon=True).start()
        return stop


@dataclass
class PredictionObserver:
    """Callable `(image, prediction, latency_ms) -> None` for serving's `observers=[...]`."""

    store: PredictionStore
    metrics: MonitoringMetrics | None = None
    drift_checks: tuple[DriftCheck, ...] = ()  # one per served model with a reference
    source: str = "rest"

    def __call__(self, image: Image.Image, prediction: Prediction, latency_ms: float) -> None:
        try:
            if self.metrics is not None:
                self.metrics.observe_prediction(prediction, latency_ms)
            record = make_record(image, prediction, latency_ms, self.source)
            self.store.record(record, png_bytes(image) if self.store.policy.keep else None)
            for check in self.drift_checks:
                check.tick()
        except Exception:  # noqa: BLE001 - monitoring must never fail a served request
            log.exception("could not record a prediction for monitoring")


@dataclass
class ServerMonitoring:
    observer: PredictionObserver
    metrics: MonitoringMetrics
    drift_checks: tuple[DriftCheck, ...]

    def mount(self, app: Any) -> None:
        """Add `/metrics` to a FastAPI/Starlette app."""
        mount_metrics(app, self.metrics)


def server_monitoring(
    store: str | Path | None = None,
    references: Sequence[str | Path] = (),
    keep_images: bool = True,
    source: str = "rest",
    check_every: int = 100,
    window: int = 200,
    alert_file: str | Path | None = None,
    webhook_url: str | None = None,
    policy: ImagePolicy | None = None,
) -> ServerMonitoring:
    """Everything a server needs: the store (default SQLite), metrics, and one drift check per
    reference (a model folder holding reference.json, or the file itself)."""
    policy = policy or ImagePolicy(keep=keep_images)
    opened = open_store(store, policy)
    metrics = MonitoringMetrics()
    checks = tuple(
        DriftCheck(
            opened,
            load_reference(reference),
            window=window,
            check_every=check_every,
            alert_file=alert_file,
            webhook_url=webhook_url,
            metrics=metrics,
            calibration=load_calibration(reference_path(reference).parent),
        )  # fmt: skip
        for reference in references
    )
    observer = PredictionObserver(opened, metrics, checks, source)
    return ServerMonitoring(observer, metrics, checks)


def log_predictions(
    store: PredictionStore,
    items: list[tuple[str, Image.Image]],
    predictions: list[Prediction],
    latency_ms: float,
    source: str = "cli",
) -> int:
    """Record a batch read by `predict --log` (each image gets the batch's mean latency)."""
    for (_, image), prediction in zip(items, predictions, strict=True):
        record = make_record(image, prediction, latency_ms, source)
        store.record(record, png_bytes(image) if store.policy.keep else None)
    return len(predictions)


def monitoring_from_env(
    source: str = "lambda", model_dirs: Sequence[str | Path] = ()
) -> ServerMonitoring:
    """server_monitoring configured by environment (for Lambda and containers):
    TEXTREC_MONITOR_STORE (URL or path), the store policy (policy_from_env),
    TEXTREC_MONITOR_ALERT_URL, TEXTREC_MONITOR_ALERT_FILE, TEXTREC_MONITOR_CHECK_EVERY; a drift
    check for each of `model_dirs` that holds a reference.json. Prunes once at start."""
    import os

    from textrec_cli.monitoring.reference import REFERENCE_FILE

    env = os.environ.get
    references = [Path(d) for d in model_dirs if (Path(d) / REFERENCE_FILE).is_file()]
    monitoring = server_monitoring(
        env("TEXTREC_MONITOR_STORE") or None, references,
        source=source, check_every=int(env("TEXTREC_MONITOR_CHECK_EVERY", "100")),
        alert_file=env("TEXTREC_MONITOR_ALERT_FILE") or None,
        webhook_url=env("TEXTREC_MONITOR_ALERT_URL") or None,
        policy=policy_from_env(),
    )  # fmt: skip
    monitoring.observer.store.prune_in_background()  # a store left past its limits
    return monitoring


def policy_from_env() -> ImagePolicy:
    """The store policy from TEXTREC_MONITOR_KEEP_IMAGES (1/0, default 1),
    TEXTREC_MONITOR_MAX_STORE_MB and TEXTREC_MONITOR_RETENTION_DAYS (0 = no limit; defaults
    settings.STORE_MAX_MB and STORE_RETENTION_DAYS): the same knobs as `textrec serve`."""
    import os

    env = os.environ.get
    values = {}
    for name, var, default in (
        ("max_store_mb", "TEXTREC_MONITOR_MAX_STORE_MB", settings.STORE_MAX_MB),
        ("retention_days", "TEXTREC_MONITOR_RETENTION_DAYS", settings.STORE_RETENTION_DAYS),
    ):
        try:
            values[name] = float(env(var) or default)
        except ValueError:
            raise TextrecError(f"${var} must be a number, got {env(var)!r}") from None
    keep = env("TEXTREC_MONITOR_KEEP_IMAGES", "1") not in ("0", "false", "no")
    return ImagePolicy(keep=keep, **values)
