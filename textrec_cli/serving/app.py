"""The REST API: `POST /v1/predict`, `GET /healthz`, `GET /v1/model`, a web page at `/`.

`create_app` takes a loaded ServingRecognizer; `app_from_env` is the factory the Docker image
runs (`uvicorn --factory textrec_cli.serving.app:app_from_env`). Every client mistake answers
4xx with `{"error": "..."}`; an observer that fails is logged and never fails the request.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from textrec_cli import __version__, settings
from textrec_cli.containers import Prediction
from textrec_cli.errors import InputError, LimitError
from textrec_cli.serving.body import read_limited
from textrec_cli.serving.contribute import contribute_router
from textrec_cli.serving.payload import ApiError, Limits, parse_body
from textrec_cli.serving.runtime import ServingRecognizer, model_paths_from_env

log = logging.getLogger("textrec.serving")

# Called after each successful prediction (monitoring, drift, logging), BEFORE the response is
# sent: a prediction the client received is already in the store (a kill -9 cannot lose it).
Observer = Callable[[Image.Image, Prediction, float], None]

STATIC_DIR = Path(__file__).resolve().parent / "static"


class LineResponse(BaseModel):
    """One line of a page, in the uploaded image's pixels."""

    text: str
    confidence: float
    box: tuple[int, int, int, int]
    polygon: list[tuple[int, int]]
    baseline: list[tuple[int, int]]


class PredictResponse(BaseModel):
    file: str
    text: str
    confidence: float
    mode: str
    model_version: str
    alternatives: list[tuple[str, float]]
    lines: list[LineResponse] | None = None  # page mode only; `text` joins them with newlines
    latency_ms: float


class ErrorResponse(BaseModel):
    error: str


_ERRORS = {code: {"model": ErrorResponse} for code in (400, 408, 413, 415, 422)}
_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {"type": "string", "format": "byte"},
                        "mode": {"type": "string", "enum": ["auto", "char", "line", "page"]},
                    },
                    "required": ["image"],
                }
            },
            "image/png": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def create_app(
    recognizer: ServingRecognizer,
    limits: Limits | None = None,
    observers: Sequence[Observer] = (),
    body_timeout: float | None = None,
) -> FastAPI:
    """A FastAPI app serving `recognizer` under `limits`, notifying `observers` before each
    answer; a body not received within `body_timeout` s (settings.SERVE_BODY_TIMEOUT_S) is 408."""
    limits = limits or Limits()
    body_timeout = body_timeout or settings.SERVE_BODY_TIMEOUT_S
    observers = tuple(observers)
    app = FastAPI(
        title="textrec",
        version=__version__,
        description="Handwriting recognition: characters, lines and pages, LiteRT models.",
    )
    _install_error_handlers(app)
    app.include_router(contribute_router(observers))  # /contribute: people give handwriting

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    @app.api_route("/healthz", methods=["GET", "HEAD"])  # load balancers probe with HEAD
    def healthz() -> dict[str, Any]:
        versions = {task: model.version for task, model in recognizer.models.items()}
        return {"status": "ok", "models": versions}

    @app.get("/v1/model")
    def model_info() -> dict[str, Any]:
        limit_info = {"max_bytes": limits.max_bytes, "max_pixels": limits.max_pixels}
        return {
            "models": recognizer.describe(),
            "limits": {**limit_info, "formats": list(limits.formats)},
        }

    @app.post(
        "/v1/predict", response_model=PredictResponse, responses=_ERRORS, openapi_extra=_BODY_DOC
    )
    async def predict(
        request: Request,
        mode: str | None = Query(None, description="auto (by shape), char, line or page"),
    ) -> JSONResponse:
        """Read one image: multipart file, JSON {"image": base64}, or a raw image body."""
        body = await read_limited(request, limits.max_bytes, body_timeout)
        start = time.perf_counter()
        content_type = request.headers.get("content-type")
        parsed = await run_in_threadpool(parse_body, body, content_type, limits)
        try:
            prediction = await run_in_threadpool(
                recognizer.predict, parsed.image, mode or parsed.mode or "auto", parsed.name
            )
        except LimitError as exc:
            raise ApiError(413, str(exc)) from None
        except InputError as exc:
            raise ApiError(422, str(exc)) from None
        latency_ms = (time.perf_counter() - start) * 1000
        if observers:  # write before answer: the row is committed when the client reads it
            await run_in_threadpool(notify, observers, parsed.image, prediction, latency_ms)
        return JSONResponse({**prediction.to_dict(), "latency_ms": round(latency_ms, 3)})

    return app


def notify(
    observers: Sequence[Observer], image: Image.Image, prediction: Prediction, latency_ms: float
) -> None:
    """Call each observer; one that raises is logged and the others still run."""
    for observer in observers:
        try:
            observer(image, prediction, latency_ms)
        except Exception:
            log.exception("prediction observer %r failed", observer)


def _install_error_handlers(app: FastAPI) -> None:
    """One JSON shape for every error: {"error": "..."}."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, status_code=422)

    @app.exception_handler(ClientDisconnect)
    async def _client_left(request: Request, _: ClientDisconnect) -> Response:
        """A client that hangs up mid-upload is routine: one log line, no traceback."""
        client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
        log.info("%s disconnected before sending its whole request (%s)", client, request.url.path)
        return Response(status_code=499)  # nobody is listening; nginx's "client closed request"

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse({"error": "internal error"}, status_code=500)


def limits_from_env() -> Limits:
    """TEXTREC_SERVE_MAX_BYTES / TEXTREC_SERVE_MAX_PIXELS override the defaults."""
    defaults = Limits()
    return Limits(
        max_bytes=int(os.environ.get("TEXTREC_SERVE_MAX_BYTES", defaults.max_bytes)),
        max_pixels=int(os.environ.get("TEXTREC_SERVE_MAX_PIXELS", defaults.max_pixels)),
    )


def app_from_env() -> FastAPI:
    """The app the container runs: models and limits from the environment, no TensorFlow."""
    logging.basicConfig(level=logging.INFO)
    from textrec_cli.monitoring.observer import monitoring_from_env

    paths = model_paths_from_env()
    monitoring = monitoring_from_env("rest", paths)
    app = create_app(
        ServingRecognizer.from_paths(paths), limits_from_env(), observers=[monitoring.observer]
    )
    monitoring.mount(app)
    return app
