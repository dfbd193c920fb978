"""The prediction store on SQLite (default) and PostgreSQL (a throwaway local cluster)."""

from __future__ import annotations

import time

import pytest
from monitoring_helpers import fake_records, line_image, postgres_cluster

from textrec_cli.errors import TextrecError
from textrec_cli.monitoring.features import CONTINUOUS_FEATURES
from textrec_cli.monitoring.records import make_record, png_bytes
from textrec_cli.monitoring.store import ImagePolicy, PredictionStore, store_url


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
        result = {"text": "x", "confidence": 0.5, "mode": "line", "model_version": "m"}
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
        assert removed == 3
        assert store.image_png(records[0].image_hash) is None
        assert store.image_png(records[5].image_hash) is not None
        assert len(store.recent(with_images=True, model_version="test-model")) == 3
        assert store.prune(now=time.time() + 2 * 86400) == 3  # past retention: all go


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
