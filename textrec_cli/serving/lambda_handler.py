"""AWS Lambda entry point: API Gateway (REST v1, HTTP v2) and function URL events.

Routes match the REST API: `POST /v1/predict` (a character, line or page: raw image body,
base64-encoded by API Gateway, or JSON `{"image": base64}`, or multipart), `GET /healthz`,
`GET /v1/model`. Models load once per container, at import (the cold start), from
$TEXTREC_SERVE_MODELS (default: the exports baked into the image at /opt/models, the page
detector among them). No FastAPI, no TensorFlow.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from typing import Any

from textrec_cli.errors import InputError, LimitError
from textrec_cli.serving.payload import ApiError, Limits, parse_body
from textrec_cli.serving.runtime import MODELS_ENV, ServingRecognizer, model_paths_from_env

log = logging.getLogger("textrec.lambda")

DEFAULT_MODELS = "/opt/models"
# Lambda takes 6 MB of request (API Gateway 10 MB) and base64 adds a third: 4.4 MiB of image
# (a 12 MP page photo at JPEG quality ~90) leaves ~150 kB for the event's other fields.
LIMITS = Limits(max_bytes=int(os.environ.get("TEXTREC_SERVE_MAX_BYTES", int(4.4 * 1024 * 1024))))

_recognizer: ServingRecognizer | None = None
_monitoring: Any = None


def recognizer() -> ServingRecognizer:
    """The models, loaded on first use and kept for the container's life."""
    global _recognizer
    if _recognizer is None:
        os.environ.setdefault(MODELS_ENV, DEFAULT_MODELS)
        _recognizer = ServingRecognizer.from_paths(model_paths_from_env())
    return _recognizer


def monitoring_enabled() -> bool:
    """TEXTREC_MONITOR=0 turns the prediction log and drift checks off."""
    return os.environ.get("TEXTREC_MONITOR", "1") not in ("0", "false", "no")


def monitoring() -> Any:
    """Prediction log + drift checks configured by TEXTREC_MONITOR_* (use a PostgreSQL URL:
    Lambda's disk is temporary); loaded on first use, never fails a request."""
    global _monitoring
    if _monitoring is None:
        from textrec_cli.monitoring.observer import monitoring_from_env

        os.environ.setdefault(MODELS_ENV, DEFAULT_MODELS)
        _monitoring = monitoring_from_env("lambda", model_paths_from_env())
    return _monitoring


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """One API Gateway / function URL event -> an HTTP response dict."""
    try:
        method, path = _route(event)
        if method in ("GET", "HEAD") and path.endswith("/healthz"):
            models = {task: m.version for task, m in recognizer().models.items()}
            response = _response(200, {"status": "ok", "models": models})
            return {**response, "body": ""} if method == "HEAD" else response
        if method == "GET" and path.endswith("/v1/model"):
            return _response(200, {"models": recognizer().describe()})
        if path.endswith("/v1/predict"):
            if method != "POST":
                raise ApiError(405, "use POST for /v1/predict")
            return _response(200, predict(event))
        raise ApiError(404, f"no route for {method} {path}")
    except ApiError as exc:
        return _response(exc.status, {"error": exc.message})
    except Exception:
        log.exception("unexpected error")
        return _response(500, {"error": "internal error"})


def predict(event: dict[str, Any]) -> dict[str, Any]:
    start = time.perf_counter()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError:
            raise ApiError(400, "body is marked base64 but is not valid base64") from None
    else:
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    parsed = parse_body(raw, headers.get("content-type"), LIMITS)
    query = event.get("queryStringParameters") or {}
    mode = query.get("mode") or parsed.mode or "auto"
    try:
        prediction = recognizer().predict(parsed.image, mode, parsed.name)
    except LimitError as exc:  # over a size limit (a too-wide line): 413, as the REST API
        raise ApiError(413, str(exc)) from None
    except InputError as exc:
        raise ApiError(422, str(exc)) from None
    latency_ms = (time.perf_counter() - start) * 1000
    if monitoring_enabled():
        try:
            monitoring().observer(parsed.image, prediction, latency_ms)
        except Exception:  # noqa: BLE001 - monitoring must never fail a request
            log.exception("monitoring failed")
    return {**prediction.to_dict(), "latency_ms": round(latency_ms, 3)}


def _route(event: dict[str, Any]) -> tuple[str, str]:
    """(method, path) from a v1 (REST API) or v2 (HTTP API, function URL) event."""
    http = (event.get("requestContext") or {}).get("http")
    if http:  # payload format 2.0
        return http.get("method", "GET").upper(), event.get("rawPath") or http.get("path", "/")
    if "httpMethod" in event:  # payload format 1.0
        return event["httpMethod"].upper(), event.get("path") or "/"
    raise ApiError(400, "not an API Gateway or function URL event")


def _response(status: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(payload, ensure_ascii=False),
        "isBase64Encoded": False,
    }


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # in Lambda: load during init, not request 1
    recognizer()
    if monitoring_enabled():
        monitoring()
