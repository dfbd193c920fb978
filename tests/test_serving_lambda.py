"""The Lambda handler on real API Gateway event shapes: REST API (v1), HTTP API / URL (v2)."""

from __future__ import annotations

import base64
import copy
import json
import os

import pytest
from serving_helpers import bundled_exports, example_bytes

from textrec_cli import settings
from textrec_cli.serving import lambda_handler

# Trimmed from AWS's documented sample events; every field the handler reads is as AWS sends it.
HTTP_API_V2 = {
    "version": "2.0",
    "routeKey": "POST /v1/predict",
    "rawPath": "/v1/predict",
    "rawQueryString": "",
    "headers": {"content-type": "image/png", "host": "abc123.execute-api.us-east-1.amazonaws.com"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "abc123",
        "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
        "http": {
            "method": "POST",
            "path": "/v1/predict",
            "protocol": "HTTP/1.1",
            "sourceIp": "192.0.2.1",
            "userAgent": "curl/8.5.0",
        },
        "requestId": "JKJaXmPLvHcESHA=",
        "routeKey": "POST /v1/predict",
        "stage": "$default",
        "time": "10/Mar/2026:00:03:59 +0000",
        "timeEpoch": 1773101039000,
    },
    "isBase64Encoded": True,
}
REST_API_V1 = {
    "resource": "/v1/predict",
    "path": "/v1/predict",
    "httpMethod": "POST",
    "headers": {"Content-Type": "application/json", "Host": "abc123.execute-api.amazonaws.com"},
    "multiValueHeaders": {"Content-Type": ["application/json"]},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "stageVariables": None,
    "requestContext": {
        "resourceId": "2gxmpl",
        "resourcePath": "/v1/predict",
        "httpMethod": "POST",
        "path": "/Prod/v1/predict",
        "accountId": "123456789012",
        "protocol": "HTTP/1.1",
        "stage": "Prod",
        "requestId": "e6c4a6d7-xmpl",
        "apiId": "abc123",
    },
    "isBase64Encoded": False,
}


@pytest.fixture(autouse=True)
def models(monkeypatch: pytest.MonkeyPatch) -> None:
    char, line = bundled_exports()
    monkeypatch.setenv("TEXTREC_SERVE_MODELS", os.pathsep.join([str(char), str(line)]))
    monkeypatch.setattr(lambda_handler, "_recognizer", None)


def v2(body: bytes | str, method: str = "POST", path: str = "/v1/predict", **headers) -> dict:
    event = copy.deepcopy(HTTP_API_V2)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["headers"].update(headers)
    if isinstance(body, bytes):
        event["body"] = base64.b64encode(body).decode()
    else:
        event["body"], event["isBase64Encoded"] = body, False
    return event


def call(event: dict) -> tuple[int, dict]:
    response = lambda_handler.handler(event, None)
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def test_http_api_v2_binary_line_image() -> None:
    status, body = call(v2(example_bytes("line_ms.png")))
    assert status == 200 and body["mode"] == "line" and "at noon" in body["text"]
    assert body["latency_ms"] > 0 and body["model_version"].startswith(
        settings.BUNDLED_LINE_MODEL.name
    )


def test_rest_api_v1_json_char_image() -> None:
    event = copy.deepcopy(REST_API_V1)
    event["body"] = json.dumps({"image": base64.b64encode(example_bytes("char_A.png")).decode()})
    status, body = call(event)
    assert status == 200 and body["text"] == "A" and body["mode"] == "char"


def test_query_mode_and_function_url_stage_path() -> None:
    event = v2(example_bytes("char_7.png"), path="/prod/v1/predict")
    event["queryStringParameters"] = {"mode": "line"}
    status, body = call(event)
    assert status == 200 and body["mode"] == "line"


def test_health_and_model_routes() -> None:
    status, body = call(v2("", method="GET", path="/healthz"))
    assert status == 200 and set(body["models"]) == {"char", "line"}
    status, body = call(v2("", method="GET", path="/v1/model"))
    assert status == 200 and body["models"]["line"]["task"] == "line"


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (v2(b""), 400),  # empty body
        (v2(b"not an image"), 400),  # corrupt image
        (v2(b"\x89PNG" + bytes(5 * 1024 * 1024)), 413),  # over the Lambda byte limit
        (v2("%%%", **{"content-type": "image/png"}) | {"isBase64Encoded": True}, 400),
        (v2('{"image": 1', **{"content-type": "application/json"}), 400),  # malformed JSON
        (v2('{"img": "AAAA"}', **{"content-type": "application/json"}), 422),  # missing field
        (v2("hello", **{"content-type": "text/plain"}), 415),
        (v2("", method="GET"), 405),
        (v2("", method="GET", path="/nope"), 404),
        ({"source": "aws.events", "detail": {}}, 400),  # not an HTTP event
    ],
)
def test_bad_events_are_4xx_json(event: dict, status: int) -> None:
    got, body = call(event)
    assert got == status and body["error"]
