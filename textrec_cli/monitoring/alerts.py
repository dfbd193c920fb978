"""Tell someone when traffic drifts: a log line always, a JSON file, and optionally a webhook.

The webhook is best effort with a short timeout: a dead alert endpoint must never take the
server (or the monitor run) down with it.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from textrec_cli.fileio import write_json
from textrec_cli.monitoring.drift import DriftReport

log = logging.getLogger("textrec.monitoring")


def alert_payload(report: DriftReport) -> dict[str, Any]:
    return {
        "event": "textrec.drift",
        "fired_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model_version": report.model_version,
        "summary": report.summary,
        "drifted_features": report.drifted_features,
        "changes": {f.feature: f.change for f in report.features if f.drifted},
        "estimated_cer": report.accuracy,
        "scores": {k: round(v, 4) for k, v in report.scores().items()},
        "report": report.to_dict(),
    }


def post_webhook(url: str, payload: dict[str, Any], timeout: float = 5.0) -> str:
    """POST the payload as JSON; returns "sent (HTTP 200)" or why it failed (never raises)."""
    if not url.startswith(("http://", "https://")):
        return f"not sent: {url!r} is not an http(s) URL"
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "textrec-monitor"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return f"sent (HTTP {response.status})"
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return f"failed: {getattr(exc, 'reason', exc)}"


def fire_alert(
    report: DriftReport,
    alert_file: str | Path | None = None,
    webhook_url: str | None = None,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """Log one warning line, write the alert JSON atomically, POST it; returns the payload."""
    payload = alert_payload(report)
    log.warning(
        "drift alert: model %s, %d requests: %s",
        report.model_version,
        report.window,
        report.summary,
    )
    if alert_file:
        payload["alert_file"] = str(alert_file)
        write_json(alert_file, payload)
    if webhook_url:
        payload["webhook"] = post_webhook(webhook_url, payload, timeout)
        if not payload["webhook"].startswith("sent"):
            log.warning("drift alert webhook %s", payload["webhook"])
    return payload
