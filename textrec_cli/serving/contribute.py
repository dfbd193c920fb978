"""`/contribute`: people write a prompt by hand (canvas or photo) and give it under a licence.

`GET /contribute` is the page, `GET /v1/contribute/prompt` a line to copy (a corpus sentence or a
packaged line rich in digits and punctuation, English or French), `POST /v1/contribute` stores a
sample in the prediction store's contributions (monitoring/store.py) with its prompt as the
provisional transcription. Every refusal is a 4xx `{"error": ...}` and stores nothing: no consent,
no licence, a blank canvas, an undecodable or oversized image, a client over its rate.
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from PIL import Image, ImageOps
from starlette.concurrency import run_in_threadpool

from textrec_cli import settings
from textrec_cli.data.charsets import LINE_CHARSET, normalize_text, unknown_chars
from textrec_cli.data.prompts import packaged_prompts
from textrec_cli.errors import InputError, LimitError
from textrec_cli.monitoring.records import png_bytes
from textrec_cli.monitoring.store import (
    CONTRIBUTION_LICENCES,
    MAX_PROMPT_CHARS,
    PredictionStore,
    StoreFullError,
    open_store,
)
from textrec_cli.serving.body import read_limited
from textrec_cli.serving.payload import ApiError, Limits, decode_image, json_object

STATIC_DIR = Path(__file__).resolve().parent / "static"
WEB_KINDS = ("canvas", "upload")  # "form" lines come from `textrec forms read`, not the page
MAX_STROKES = 2_000
MAX_STROKE_POINTS = 100_000  # all strokes together: minutes of pen input
MAX_UPLOAD_SIDE = 2400  # photos are stored downscaled to this (a line needs no 12 MP)
INK_LEVEL = 128  # a pixel darker than this (on white) is ink
MIN_INK_PIXELS = 40  # fewer dark pixels than this: nothing was written


@dataclass(frozen=True)
class ContributeLimits:
    """Bounds on one contribution and on how often one client may send one.

    A photo of a written line is a few MB; the canvas PNG tens of KB. `rate` posts per
    `per_s` seconds per client address allows one person writing fast and a small group
    behind one address, not a script; `clients` bounds the rate table's memory."""

    max_bytes: int = 12 * 1024 * 1024
    max_pixels: int = settings.MAX_IMAGE_PIXELS
    rate: int = 30
    per_s: float = 60.0
    clients: int = 10_000

    def image_limits(self) -> Limits:
        return Limits(max_bytes=self.max_bytes, max_pixels=self.max_pixels)


class RateLimiter:
    """Sliding-window limit per key (client address), in memory, least recently seen keys
    forgotten past `clients`: a flood from many addresses cannot grow it without bound."""

    def __init__(self, rate: int, per_s: float, clients: int = 10_000) -> None:
        self.rate, self.per_s, self.clients = rate, per_s, clients
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> float:
        """0 when `key` may go on (and counts it), else the seconds until it may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._seen.pop(key, None) or deque()
            while times and times[0] <= now - self.per_s:
                times.popleft()
            self._seen[key] = times
            if len(self._seen) > self.clients:
                self._seen.popitem(last=False)
            if len(times) >= self.rate:
                return times[0] + self.per_s - now
            times.append(now)
            return 0.0


class PromptSource:
    """Lines to copy: corpus sentences cut to a line (data/corpus.py, when a corpus is there)
    and packaged lines with digits and punctuation, so collected hands cover both."""

    def __init__(
        self,
        english: Sequence[str] | None = None,
        french: Sequence[str] | None = None,
        use_corpus: bool = True,
        seed: int | None = None,
    ) -> None:
        self.lines = {
            "en": list(english if english is not None else packaged_prompts("en")),
            "fr": list(french if french is not None else packaged_prompts("fr")),
        }
        self.use_corpus = use_corpus
        self._sampler: Any = None
        self._loaded = False
        self._lock = threading.Lock()
        self.rng = np.random.default_rng(seed)

    def _corpus_sampler(self) -> Any:
        """A TextSampler over the openly licensed English corpora, loaded once; None without."""
        with self._lock:
            if not self._loaded:
                self._loaded = True
                from textrec_cli.data.corpus import (
                    TextSampler,
                    corpus_dir,
                    corpus_zips,
                    load_sentences,
                )

                try:
                    folder = corpus_dir()
                    if folder is not None:
                        sentences = load_sentences(corpus_zips(folder))
                        self._sampler = TextSampler(sentences, min_chars=20, max_chars=50)
                except InputError:  # an unreadable corpus: the packaged lines still serve
                    self._sampler = None
            return self._sampler

    def prompt(self, lang: str = "any") -> dict[str, str]:
        """{"prompt", "lang", "source"} for `lang` en, fr or any."""
        if lang == "any":
            lang = "en" if self.rng.random() < 0.5 else "fr"
        if lang not in self.lines:
            raise ApiError(422, f"lang must be en, fr or any, got {lang!r}")
        sampler = self._corpus_sampler() if lang == "en" and self.use_corpus else None
        if sampler is not None and self.rng.random() < 0.6:
            text = sampler.sample(self.rng)
            if text:
                return {"prompt": text, "lang": lang, "source": "corpus"}
        lines = self.lines[lang]
        return {
            "prompt": lines[int(self.rng.integers(len(lines)))],
            "lang": lang,
            "source": "packaged",
        }


def contribute_router(
    observers: Sequence[Any] = (),
    store: PredictionStore | None = None,
    limits: ContributeLimits | None = None,
    prompts: PromptSource | None = None,
) -> APIRouter:
    """The /contribute routes. Samples go to `store`, else to the store of the first observer
    that has one (the served predictions' store), else to the default store, opened on the first
    sample. Errors are answered here, so the router works in any FastAPI app."""
    limits = limits or ContributeLimits()
    prompts = prompts or PromptSource()
    limiter = RateLimiter(limits.rate, limits.per_s, limits.clients)
    router = APIRouter()
    opened: list[PredictionStore] = [store] if store is not None else []
    opening = threading.Lock()

    def target_store() -> PredictionStore:
        with opening:
            if not opened:
                found = [
                    o.store
                    for o in observers
                    if isinstance(getattr(o, "store", None), PredictionStore)
                ]
                opened.append(found[0] if found else open_store())
            return opened[0]

    @router.get("/contribute", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((STATIC_DIR / "contribute.html").read_text(encoding="utf-8"))

    @router.get("/v1/contribute/prompt")
    async def prompt(
        lang: str = Query("any", description="en, fr or any"),
    ) -> JSONResponse:
        """A line for the writer to copy."""
        try:
            return JSONResponse(await run_in_threadpool(prompts.prompt, lang))
        except ApiError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)

    @router.post("/v1/contribute", status_code=201)
    async def contribute(request: Request) -> JSONResponse:
        """Store one handwritten sample: JSON {"image": base64 or data: URL, "prompt",
        "kind": canvas|upload, "licence": CC-BY-4.0|CC0-1.0, "consent": true,
        "writer_id"?, "strokes"?}; 201 with its id."""
        client = request.client.host if request.client else "unknown"
        wait = limiter.allow(client)
        if wait:
            return JSONResponse(
                {"error": f"too many contributions from {client}: wait {math.ceil(wait)} s"},
                status_code=429,
                headers={"Retry-After": str(math.ceil(wait))},
            )
        try:
            body = await read_limited(request, limits.max_bytes, settings.SERVE_BODY_TIMEOUT_S)
            sample = await run_in_threadpool(parse_contribution, body, limits)
            sample_id = await run_in_threadpool(_store, target_store(), sample)
        except ApiError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        fields = ("prompt", "kind", "licence", "writer_id")
        return JSONResponse({"id": sample_id, **{k: sample[k] for k in fields}}, status_code=201)

    return router


def _store(store: PredictionStore, sample: dict[str, Any]) -> int:
    try:
        return store.add_contribution(
            sample["png"],
            sample["prompt"],
            kind=sample["kind"],
            licence=sample["licence"],
            writer_id=sample["writer_id"],
            strokes=sample["strokes"],
        )
    except StoreFullError as exc:
        raise ApiError(507, str(exc)) from None
    except LimitError as exc:
        raise ApiError(413, str(exc)) from None
    except InputError as exc:
        raise ApiError(422, str(exc)) from None


def parse_contribution(body: bytes, limits: ContributeLimits) -> dict[str, Any]:
    """Validate a POST body into what the store takes (the image re-encoded as a grayscale PNG);
    ApiError 4xx on the first problem. Cheap checks first: no image is decoded without consent."""
    if not body:
        raise ApiError(400, "empty request body: send the sample as JSON")
    payload = json_object(body, "the body must be a JSON object")
    if payload.get("consent") is not True:
        raise ApiError(
            422, "consent is required: tick the box to give the sample under its licence"
        )
    licence = payload.get("licence")
    if licence not in CONTRIBUTION_LICENCES:
        raise ApiError(422, f"choose a licence: {' or '.join(CONTRIBUTION_LICENCES)}")
    kind = payload.get("kind")
    if kind not in WEB_KINDS:
        raise ApiError(422, f"kind must be {' or '.join(WEB_KINDS)}")
    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not normalize_text(prompt):
        raise ApiError(422, "missing the prompt (the text that was written)")
    prompt = normalize_text(prompt)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ApiError(422, f"the prompt is over {MAX_PROMPT_CHARS} characters")
    unknown = unknown_chars(prompt, set(LINE_CHARSET))
    if unknown:
        raise ApiError(422, f"the prompt has characters textrec cannot read: {''.join(unknown)}")
    writer_id = payload.get("writer_id") or None
    if writer_id is not None and not isinstance(writer_id, str):
        raise ApiError(422, "writer_id must be a string")
    strokes = _checked_strokes(payload.get("strokes")) if kind == "canvas" else None
    image = decode_image(_image_bytes(payload.get("image")), kind, limits.image_limits())
    gray = _on_white(image)
    if kind == "upload" and max(gray.size) > MAX_UPLOAD_SIDE:
        gray.thumbnail((MAX_UPLOAD_SIDE, MAX_UPLOAD_SIDE), Image.Resampling.LANCZOS)
    if is_blank(gray):
        raise ApiError(422, "nothing is written: the image is blank (write the prompt first)")
    return {
        "png": png_bytes(gray),
        "prompt": prompt,
        "kind": kind,
        "licence": licence,
        "writer_id": writer_id,
        "strokes": strokes,
    }


def _image_bytes(encoded: Any) -> bytes:
    if not isinstance(encoded, str) or not encoded:
        raise ApiError(422, 'missing field "image" (base64 or a data: URL)')
    if encoded.startswith("data:") and "," in encoded:
        encoded = encoded.split(",", 1)[1]
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, 'field "image" is not valid base64') from None


def _on_white(image: Image.Image) -> Image.Image:
    """Grayscale with any transparency flattened onto white (a canvas may be transparent)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    return ImageOps.grayscale(image) if image.mode != "L" else image


def is_blank(gray: Image.Image) -> bool:
    """No ink: fewer than MIN_INK_PIXELS pixels clearly darker than the page. The page level is
    the image's median, so a photo of blank (grey-lit) paper counts as blank too."""
    pixels = np.asarray(gray, dtype=np.int16)
    level = min(INK_LEVEL, int(np.median(pixels)) - 60)
    return int((pixels < level).sum()) < MIN_INK_PIXELS


def _checked_strokes(strokes: Any) -> list | None:
    """Pointer strokes as [{"type": pen|touch|mouse, "points": [[x, y, t_ms, pressure], ...]}]:
    numbers only, bounded in count (the store bounds their bytes)."""
    if strokes is None:
        return None
    if not isinstance(strokes, list) or len(strokes) > MAX_STROKES:
        raise ApiError(422, f"strokes must be a list of at most {MAX_STROKES} strokes")
    points = 0
    clean = []
    for stroke in strokes:
        if not isinstance(stroke, dict) or not isinstance(stroke.get("points"), list):
            raise ApiError(422, 'each stroke must be {"type": ..., "points": [[x, y, t, p], ...]}')
        kind = stroke.get("type", "")
        if kind not in ("pen", "touch", "mouse", ""):
            raise ApiError(422, "a stroke's type is pen, touch or mouse")
        points += len(stroke["points"])
        if points > MAX_STROKE_POINTS:
            raise ApiError(413, f"strokes have over {MAX_STROKE_POINTS} points")
        for point in stroke["points"]:
            if (
                not isinstance(point, list)
                or not 2 <= len(point) <= 4
                or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in point
                )
            ):
                raise ApiError(422, "a stroke point is [x, y] or [x, y, t_ms, pressure] numbers")
        clean.append({"type": kind, "points": stroke["points"]})
    return clean
