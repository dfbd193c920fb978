"""`/contribute` and the contributions store: a good sample is stored with its prompt, writer,
kind and licence; every bad one (blank canvas, huge or undecodable upload, no consent, no licence,
a flood) is a 4xx and stores nothing; the store keeps contributions apart from predictions."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from monitoring_helpers import fake_records, postgres_cluster
from PIL import Image, ImageDraw

from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.errors import InputError, LimitError
from textrec_cli.monitoring.observer import PredictionObserver
from textrec_cli.monitoring.store import ImagePolicy, PredictionStore, StoreFullError, open_store
from textrec_cli.serving.contribute import (
    ContributeLimits,
    PromptSource,
    RateLimiter,
    contribute_router,
)

PROMPT = "Meet me at 7:45 on Platform 3, not 4!"


def png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def written(size: tuple[int, int] = (600, 100)) -> Image.Image:
    """A white canvas with a few dark strokes on it."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for x in range(40, size[0] - 40, 60):
        draw.line([(x, 20), (x + 30, size[1] - 20)], fill="black", width=5)
    return image


def body(image_bytes: bytes | None = None, **overrides: object) -> dict:
    """A good canvas sample as the page sends it; `overrides` change or (None) drop fields."""
    data = base64.b64encode(image_bytes or png(written())).decode()
    sample = {
        "image": f"data:image/png;base64,{data}",
        "prompt": PROMPT,
        "kind": "canvas",
        "licence": "CC-BY-4.0",
        "consent": True,
        "writer_id": "owl-4821",
        "strokes": [{"type": "pen", "points": [[40, 20, 0, 0.5], [70, 80, 16, 0.6]]}],
    }
    sample.update(overrides)
    return {k: v for k, v in sample.items() if v is not None}


@pytest.fixture
def store(tmp_path: Path) -> PredictionStore:
    with open_store(tmp_path / "store.sqlite") as opened:
        yield opened


def client_for(store: PredictionStore, limits: ContributeLimits | None = None) -> TestClient:
    app = FastAPI()
    prompts = PromptSource(use_corpus=False, seed=0)
    app.include_router(contribute_router(store=store, limits=limits, prompts=prompts))
    return TestClient(app)


def test_a_good_canvas_sample_is_stored_with_its_metadata(store: PredictionStore) -> None:
    client = client_for(store)
    answer = client.post("/v1/contribute", json=body())
    assert answer.status_code == 201, answer.text
    assert answer.json()["prompt"] == PROMPT
    [kept] = store.contributions(with_images=True, with_strokes=True)
    assert kept.id == answer.json()["id"]
    assert (kept.prompt, kept.kind, kept.licence, kept.writer_id) == (
        PROMPT, "canvas", "CC-BY-4.0", "owl-4821"
    )  # fmt: skip
    assert kept.strokes[0]["points"][1] == [70, 80, 16, 0.6]
    stored = Image.open(io.BytesIO(kept.png))
    assert stored.mode == "L" and stored.size == (600, 100)
    assert store.count() == 0  # not a prediction


def test_a_photo_upload_is_stored_grayscale_and_bounded(store: PredictionStore) -> None:
    photo = written((3000, 500)).convert("RGB")
    answer = client_for(store).post(
        "/v1/contribute",
        json=body(png(photo, "JPEG"), kind="upload", licence="CC0-1.0", writer_id=None),
    )
    assert answer.status_code == 201, answer.text
    [kept] = store.contributions(with_images=True, with_strokes=True)
    assert (kept.kind, kept.licence, kept.writer_id, kept.strokes) == (
        "upload", "CC0-1.0", None, None
    )  # fmt: skip
    assert max(Image.open(io.BytesIO(kept.png)).size) == 2400


BAD = {
    "blank canvas": (lambda: body(png(Image.new("RGB", (600, 100), "white"))), 422, "blank"),
    "transparent canvas": (lambda: body(png(Image.new("RGBA", (600, 100)))), 422, "blank"),
    "no consent": (lambda: body(consent=None), 422, "consent"),
    "consent not true": (lambda: body(consent="yes"), 422, "consent"),
    "no licence": (lambda: body(licence=None), 422, "licence"),
    "other licence": (lambda: body(licence="CC-BY-NC-4.0"), 422, "licence"),
    "undecodable image": (lambda: body(b"\x89PNG\r\n\x1a\nnot really"), 400, "corrupt"),
    "not base64": (lambda: {**body(), "image": "@@@"}, 400, "base64"),
    "an e-mail as writer": (lambda: body(writer_id="ann@example.org"), 422, "pseudonym"),
    "no prompt": (lambda: body(prompt=None), 422, "prompt"),
    "form kind": (lambda: body(kind="form"), 422, "kind"),
    "bad strokes": (lambda: body(strokes=[{"points": [["x", 1]]}]), 422, "stroke"),
    "nan strokes": (lambda: body(strokes=[{"points": [[float("nan"), 1]]}]), 422, "stroke"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_samples_are_4xx_and_store_nothing(store: PredictionStore, case: str) -> None:
    make, status, words = BAD[case]
    payload = json.dumps(make(), allow_nan=True)
    answer = client_for(store).post(
        "/v1/contribute", content=payload, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"].lower()
    assert store.contribution_count() == 0


def test_huge_and_malformed_bodies_are_refused(store: PredictionStore) -> None:
    client = client_for(store, ContributeLimits(max_bytes=50_000, max_pixels=4_000_000))
    big = client.post("/v1/contribute", json=body(png(written((2000, 2000)), "BMP")))
    assert big.status_code == 413 and "limit" in big.json()["error"]
    bomb = client.post("/v1/contribute", json=body(png(Image.new("1", (2500, 2500)))))
    assert bomb.status_code == 413 and "pixel" in bomb.json()["error"]
    empty = client.post("/v1/contribute", content=b"")
    assert empty.status_code == 400
    broken = client.post("/v1/contribute", content=b"{not json")
    assert broken.status_code == 400 and "json" in broken.json()["error"].lower()
    assert store.contribution_count() == 0


def test_flooding_gets_429_with_retry_after(store: PredictionStore) -> None:
    client = client_for(store, ContributeLimits(rate=3, per_s=60))
    codes = [client.post("/v1/contribute", json=body()).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    flooded = client.post("/v1/contribute", json=body())
    assert int(flooded.headers["retry-after"]) > 0 and "too many" in flooded.json()["error"]
    assert store.contribution_count() == 3


def test_rate_limiter_window_and_bounded_memory() -> None:
    limiter = RateLimiter(rate=2, per_s=10, clients=3)
    assert [limiter.allow("a", now) for now in (0, 1)] == [0, 0]
    assert limiter.allow("a", 2) == pytest.approx(8)
    assert limiter.allow("a", 10.5) == 0  # the first request left the window
    for key in "bcdef":
        limiter.allow(key, 11)
    assert len(limiter._seen) == 3


def test_prompts_are_english_or_french_in_the_line_charset() -> None:
    source = PromptSource(use_corpus=False, seed=1)
    charset = set(LINE_CHARSET)
    for lang in ("en", "fr"):
        for line in source.lines[lang]:
            assert set(line) <= charset, line
    assert sum(any(c.isdigit() for c in line) for line in source.lines["fr"]) > 20
    drawn = {source.prompt("any")["lang"] for _ in range(20)}
    assert drawn == {"en", "fr"}


def test_prompt_endpoint_and_page(store: PredictionStore) -> None:
    client = client_for(store)
    answer = client.get("/v1/contribute/prompt", params={"lang": "fr"})
    assert answer.status_code == 200 and answer.json()["lang"] == "fr"
    assert client.get("/v1/contribute/prompt", params={"lang": "de"}).status_code == 422
    page = client.get("/contribute")
    assert page.status_code == 200 and 'id="pad"' in page.text and "CC0" in page.text


def test_served_app_stores_in_the_monitoring_store(store: PredictionStore) -> None:
    """create_app routes /contribute to the store its monitoring observer writes predictions to."""
    from textrec_cli.serving.app import create_app
    from textrec_cli.serving.runtime import ServingRecognizer

    recognizer = ServingRecognizer.__new__(ServingRecognizer)
    recognizer.models = {}  # no model is needed to collect handwriting
    client = TestClient(create_app(recognizer, observers=[PredictionObserver(store)]))
    assert "/contribute" in client.get("/").text
    assert client.post("/v1/contribute", json=body()).status_code == 201
    assert store.contribution_count() == 1


@pytest.fixture(scope="module")
def postgres_url() -> str:
    with postgres_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "s.sqlite")
    return request.getfixturevalue("postgres_url")


def test_store_api_validates_and_caps(store_location: str) -> None:
    image = png(written())
    policy = ImagePolicy(max_contributions_mb=len(image) * 2.5 / 1024 / 1024)
    with open_store(store_location, policy) as store:
        add = store.add_contribution
        first = add(image, "one", kind="form", licence="CC0-1.0", writer_id=None, form_id="F-7",
                    created=1000.0)  # fmt: skip
        add(image, "two", kind="canvas", licence="CC-BY-4.0", writer_id="w1", created=2000.0)
        with pytest.raises(StoreFullError):
            add(image, "three", kind="canvas", licence="CC-BY-4.0", writer_id="w1")
        for bad in ({"kind": "fax"}, {"licence": "MIT"}, {"writer_id": "Ann Smith"}):
            args = {"kind": "canvas", "licence": "CC0-1.0", "writer_id": None, **bad}
            with pytest.raises(InputError):
                add(image, "x", **args)
        with pytest.raises(InputError):
            add(b"GIF89a", "x", kind="canvas", licence="CC0-1.0", writer_id=None)
        assert [c.prompt for c in store.contributions(form_id="F-7")] == ["one"]
        assert [c.id for c in store.contributions(after_id=first)] == [first + 1]
        assert [c.id for c in store.contributions(limit=1, after_id=0)] == [first]  # resumable
        assert [c.id for c in store.contributions(limit=1)] == [first + 1]  # the newest
        assert [c.prompt for c in store.contributions(since=1500)] == ["two"]
        assert store.contributions(limit=1)[0].png is None  # metadata only unless asked
        assert store.delete_contributions("w1") == 1 and store.contribution_count() == 1
        assert store.prune(now=10**10) == (0, 0)  # retention never touches contributions
        assert store.contribution_count() == 1
    assert issubclass(StoreFullError, LimitError)


def test_contributions_do_not_shrink_the_predictions_budget(tmp_path: Path) -> None:
    """SQLite counts every page in its size: contributions past the predictions' budget must not
    make the prune delete predictions (they have their own cap)."""
    noise = np.random.default_rng(0).integers(0, 255, (700, 700), dtype=np.uint8)
    policy = ImagePolicy(keep=True, max_store_mb=0.5, retention_days=0, prune_every=0)
    with open_store(tmp_path / "s.sqlite", policy) as store:
        for _ in range(2):
            store.add_contribution(png(Image.fromarray(noise)), "x", kind="upload",
                                   licence="CC0-1.0", writer_id=None)  # fmt: skip
        for record in fake_records(5):
            store.record(record)
        assert store.store_bytes() > 0.9 * 1024 * 1024  # the file is over the budget
        assert store.prune() == (0, 0)
        assert (store.count(), store.contribution_count()) == (5, 2)
