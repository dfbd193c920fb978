"""Serving without TensorFlow: with only requirements-serve.txt (+ textrec `--no-deps`) installed,
import the REST app and the Lambda handler, load the exported models ($TEXTREC_SERVE_MODELS) and
answer API Gateway (REST v1) events for a line, a page and garbage.

Run by `nox -s serve_minimal` (a fresh venv) and `nox -s docker` (inside the Lambda image).
    python scripts/serve_smoke.py LINE_IMAGE PAGE_IMAGE
Prints one JSON object; exits 1 with the reasons when a check fails.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

# none of these may load on the serving path (the images do not install them)
FORBIDDEN = ("tensorflow", "keras", "h5py", "jax", "torch")


def rest_v1_event(body: bytes, mode: str | None = None) -> dict[str, Any]:
    """A `POST /v1/predict` event as API Gateway's REST API (payload 1.0) sends a binary body."""
    return {
        "resource": "/v1/predict",
        "path": "/v1/predict",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/octet-stream", "Host": "abc.execute-api"},
        "queryStringParameters": {"mode": mode} if mode else None,
        "pathParameters": None,
        "requestContext": {"httpMethod": "POST", "path": "/Prod/v1/predict", "stage": "Prod"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def main(line_image: str, page_image: str) -> int:
    start = time.perf_counter()
    from textrec_cli.serving import app as rest_app
    from textrec_cli.serving import lambda_handler

    rest_app.app_from_env()  # what the serving image's uvicorn factory builds
    load_s = time.perf_counter() - start
    answers = {
        "line": lambda_handler.handler(rest_v1_event(Path(line_image).read_bytes())),
        "page": lambda_handler.handler(rest_v1_event(Path(page_image).read_bytes(), "page")),
        "garbage": lambda_handler.handler(rest_v1_event(b"not an image at all")),
    }
    bodies = {name: json.loads(answer["body"]) for name, answer in answers.items()}
    status = {name: answer["statusCode"] for name, answer in answers.items()}
    loaded = sorted(name for name in FORBIDDEN if name in sys.modules)
    problems = []
    if status["line"] != 200 or not bodies["line"].get("text"):
        problems.append(f"line: {status['line']} {bodies['line']}")
    if status["page"] != 200 or len(bodies["page"].get("lines") or []) < 5:
        problems.append(f"page: {status['page']} {str(bodies['page'])[:300]}")
    if not 400 <= status["garbage"] < 500 or "error" not in bodies["garbage"]:
        problems.append(f"garbage: {status['garbage']} {bodies['garbage']}")
    if loaded:
        problems.append(f"the serving path loaded {', '.join(loaded)}")
    import textrec_cli

    report = {
        "textrec_cli": str(Path(textrec_cli.__file__).parent),  # installed, not the checkout
        "load_s": round(load_s, 2),
        "status": status,
        "line_text": bodies["line"].get("text"),
        "page_lines": len(bodies["page"].get("lines") or []),
        "page_boxes": [line["box"] for line in bodies["page"].get("lines") or []][:3],
        "garbage_error": bodies["garbage"].get("error"),
        "forbidden_modules_loaded": loaded,
        "problems": problems,
    }
    print(json.dumps(report, ensure_ascii=False))
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
