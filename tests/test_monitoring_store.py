"""The prediction store on SQLite (default) and PostgreSQL (a throwaway local cluster)."""

from __future__ import annotations

import os
import time

import pytest
import sqlalchemy as sa
from monitoring_helpers import fake_records, line_image, postgres_cluster

from textrec_cli.containers import Prediction
from textrec_cli.errors import TextrecError
from textrec_cli.monitoring.features import CONTINUOUS_FEATURES
from textrec_cli.monitoring.records import make_record, png_bytes
from textrec_cli.monitoring.store import (
    MIB,
    ImagePolicy,
    PredictionStore,
    images_table,
    predictions_table,
    store_url,
)


@pytest.fixture(scope="module")
def postgres_url():
    with postgres_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "monitoring" / "predictions.sqlite")
    return request.getfixturevalue("postgres_url")


def test_store_round_trip_and_image_policy(store_location):
    policy = ImagePolicy(keep=True, max_image_bytes=5_000, retention_days=1, max_images=3)
    with PredictionStore(store_location, policy) as store:
        start = store.count()
        records = fake_records(6)
        for i, record in enumerate(records):
            record.timestamp = time.time() - (5 - i)  # oldest first
            store.record(record, png_bytes(line_image(240 + i)))
        result = Prediction("", "x", 0.5, "line", "m")
        big = make_record(line_image(3000, 600), result, 1.0)
        store.record(big, b"\0" * 6_000)  # over the size cap: features kept, image not
        assert store.count() == start + 7
        assert not big.image_kept
        back = store.recent(6, model_version="test-model")
        assert [r.image_hash for r in back] == [r.image_hash for r in records]
        assert back[-1].text == records[-1].text
        for name in CONTINUOUS_FEATURES:
            assert back[0].features[name] == pytest.approx(records[0].features[name])
        assert back[0].chars == records[0].chars
        assert store.image_png(records[0].image_hash).startswith(b"\x89PNG")

        removed = store.prune()  # count cap 3: the 3 oldest of 6 go
        assert removed.images == 3
        assert store.image_png(records[0].image_hash) is None
        assert store.image_png(records[5].image_hash) is not None
        assert len(store.recent(with_images=True, model_version="test-model")) == 3
        assert store.prune(now=time.time() + 2 * 86400).images == 3  # past retention: all go


def test_default_store_is_a_sqlite_file(tmp_path):
    assert store_url(tmp_path / "a" / "p.sqlite") == f"sqlite:///{tmp_path}/a/p.sqlite"
    assert store_url("postgresql://u@h:5/db") == "postgresql+psycopg://u@h:5/db"


@pytest.mark.parametrize(
    "url, message",
    [
        ("nosuchdb://x/y", "bad prediction store"),
        ("postgresql://nobody:secret@127.0.0.1:1/none", "cannot open prediction store"),
    ],
)
def test_bad_store_url_is_one_clear_error(url, message):
    with pytest.raises(TextrecError, match=message) as info:
        PredictionStore(url)
    assert "secret" not in str(info.value)


# retention: age, size budget, periodic pruning (issue 17, item 12) ---------------------------

DAY = 86400.0


def empty_store(location: str, policy: ImagePolicy) -> PredictionStore:
    """The store at `location`, emptied (the PostgreSQL cluster is shared by this module)."""
    store = PredictionStore(location, policy)
    with store.engine.begin() as conn:
        conn.execute(images_table.delete())
        conn.execute(predictions_table.delete())
    return store


def backfill(
    store: PredictionStore, times: list[float], image_bytes: int = 0, text_len: int = 40
) -> list[str]:
    """Insert one backdated row per timestamp (and an incompressible image of `image_bytes`),
    in one transaction, as months of traffic would have left them; returns the image hashes."""
    hashes = [os.urandom(32).hex() for _ in times]
    rows = [
        {"created_at": t, "model_version": "old-model", "mode": "line", "source": "rest",
         "image_hash": h, "text": "x" * text_len, "char_histogram": "{}", "latency_ms": 1.0,
         **{name: 0.0 for name in CONTINUOUS_FEATURES}}
        for t, h in zip(times, hashes, strict=True)
    ]  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(predictions_table.insert(), rows)
        if image_bytes:
            images = [
                {"image_hash": h, "created_at": t, "size_bytes": image_bytes,
                 "png": os.urandom(image_bytes)}
                for t, h in zip(times, hashes, strict=True)
            ]  # fmt: skip
            conn.execute(images_table.insert(), images)
    return hashes


def stored(store: PredictionStore, table: sa.Table) -> list[float]:
    with store.engine.connect() as conn:
        return sorted(r[0] for r in conn.execute(sa.select(table.c.created_at)))


def test_prune_by_age_drops_old_images_and_rows(store_location: str) -> None:
    now = time.time()
    policy = ImagePolicy(keep=True, retention_days=30, max_store_mb=0, prune_every=0)
    with empty_store(store_location, policy) as store:
        old = [now - 60 * DAY + i for i in range(700)]  # over one delete batch
        recent = [now - 29 * DAY + i for i in range(300)]
        backfill(store, old + recent, image_bytes=200)
        assert store.prune(now=now) == (700, 700)
        assert stored(store, predictions_table) == recent
        assert stored(store, images_table) == recent
        assert store.prune(now=now) == (0, 0)
    forever = ImagePolicy(retention_days=0, max_store_mb=0, prune_every=0)
    with PredictionStore(store_location, forever) as store:
        assert store.prune(now=now + 365 * DAY) == (0, 0)  # 0 = no age limit
        assert store.count() == 300


def test_prune_runs_every_n_writes_without_blocking_the_write(store_location: str) -> None:
    policy = ImagePolicy(retention_days=30, max_store_mb=0, prune_every=50)
    with empty_store(store_location, policy) as store:
        backfill(store, [time.time() - 90 * DAY + i for i in range(200)])
        records = fake_records(50)
        for record in records[:49]:
            store.record(record)
        store.wait_for_prune()
        assert store.count() == 249  # not due yet
        store.record(records[49])  # the 50th write starts a prune in a background thread
        store.wait_for_prune()
        assert store.count() == 50
        assert [r.image_hash for r in store.recent()] == [r.image_hash for r in records]


def test_size_budget_drops_oldest_images_then_oldest_rows(store_location: str) -> None:
    cap_mb = 1.0
    policy = ImagePolicy(keep=True, retention_days=0, max_store_mb=cap_mb, prune_every=0)
    now = time.time()
    with empty_store(store_location, policy) as store:
        times = [now - 100 + i for i in range(100)]
        hashes = backfill(store, times, image_bytes=20_000)  # ~2 MB of images
        assert store.store_bytes() > 1.5 * cap_mb * MIB
        pruned = store.prune(now=now)
        assert pruned.rows == 0 and 40 <= pruned.images <= 70, pruned
        assert store.store_bytes() <= cap_mb * MIB
        kept = stored(store, images_table)
        assert kept == times[-len(kept) :]  # the newest images stayed
        assert store.image_png(hashes[-1]) is not None and store.image_png(hashes[0]) is None
        assert store.count() == 100  # images alone were enough

        later = [now + i for i in range(5000)]
        backfill(store, later, text_len=200)  # rows alone now exceed the budget
        assert store.store_bytes() > 1.5 * cap_mb * MIB
        pruned = store.prune(now=now + 5000)
        assert pruned.images == len(kept) and pruned.rows > 100, pruned  # images went first
        assert store.store_bytes() <= cap_mb * MIB
        rows = stored(store, predictions_table)
        assert rows == later[-len(rows) :] and len(rows) > 500  # the newest rows stayed
        if store.sqlite:  # and the file itself shrank (new stores vacuum incrementally)
            assert os.path.getsize(store.engine.url.database) <= cap_mb * MIB


def test_bad_policy_is_one_clear_error() -> None:
    with pytest.raises(TextrecError, match="max_store_mb must be >= 0"):
        ImagePolicy(max_store_mb=-1)
