"""Where served predictions are kept: SQLite by default, PostgreSQL for a real deployment.

SQLAlchemy Core (no ORM) with one schema for both; images are optional, deduplicated by content
hash, capped in size and pruned by age and count so the store cannot grow without bound.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from textrec_cli import settings
from textrec_cli.errors import TextrecError
from textrec_cli.monitoring.features import CONTINUOUS_FEATURES
from textrec_cli.monitoring.records import PredictionRecord

_metadata = sa.MetaData()
predictions_table = sa.Table(
    "predictions",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),  # unix seconds
    sa.Column("model_version", sa.String(200), nullable=False, index=True),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("image_hash", sa.String(64), nullable=False, index=True),
    *[sa.Column(name, sa.Float, nullable=False) for name in CONTINUOUS_FEATURES],
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("char_histogram", sa.Text, nullable=False),  # JSON {char: count}
    sa.Column("latency_ms", sa.Float, nullable=False),
)
images_table = sa.Table(
    "images",
    _metadata,
    sa.Column("image_hash", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("size_bytes", sa.Integer, nullable=False),
    sa.Column("png", sa.LargeBinary, nullable=False),
)


@dataclass(frozen=True)
class ImagePolicy:
    """Which images are kept, and for how long (the server keeps them by default)."""

    keep: bool = False
    max_image_bytes: int = 2 * 1024 * 1024  # larger PNGs are not kept (the features still are)
    retention_days: float = 30.0
    max_images: int = 20_000
    prune_every: int = 200  # records between two prunes


def default_store() -> str:
    """$TEXTREC_MONITOR_STORE, else DATA_DIR/monitoring/predictions.sqlite."""
    return os.environ.get("TEXTREC_MONITOR_STORE") or str(
        settings.data_dir() / "monitoring" / "predictions.sqlite"
    )


def store_url(url_or_path: str | Path) -> str:
    """A SQLAlchemy URL: a plain path is a SQLite file; postgresql:// uses psycopg 3."""
    text = str(url_or_path)
    if "://" not in text:
        path = Path(text).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    for prefix in ("postgresql://", "postgres://"):
        if text.startswith(prefix):
            return "postgresql+psycopg://" + text[len(prefix) :]
    return text


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


class PredictionStore:
    """Append-only log of prediction records (+ kept images); thread-safe through the engine."""

    def __init__(self, url_or_path: str | Path, policy: ImagePolicy | None = None) -> None:
        self.url = store_url(url_or_path)
        self.policy = policy or ImagePolicy()
        self._since_prune = 0
        self._lock = threading.Lock()
        try:
            kwargs = {"connect_args": {"timeout": 30}} if self.url.startswith("sqlite") else {}
            self.engine: Engine = sa.create_engine(self.url, pool_pre_ping=True, **kwargs)
            _metadata.create_all(self.engine)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
            raise TextrecError(
                f"bad prediction store {_redacted(self.url)!r}: give a file path, "
                f"sqlite:///PATH or postgresql://USER@HOST:PORT/DB ({exc})"
            ) from None
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise TextrecError(
                f"cannot open prediction store {_redacted(self.url)}: {reason}"
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> PredictionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, record: PredictionRecord, png: bytes | None = None) -> int:
        """Store one record (and its image when the policy keeps it); returns the record id."""
        keep = png is not None and self.policy.keep and len(png) <= self.policy.max_image_bytes
        row = {
            "created_at": record.timestamp, "model_version": record.model_version,
            "mode": record.mode, "source": record.source, "image_hash": record.image_hash,
            "text": record.text, "latency_ms": record.latency_ms,
            "char_histogram": json.dumps(record.chars, ensure_ascii=False, sort_keys=True),
            **{name: float(record.features.get(name, 0.0)) for name in CONTINUOUS_FEATURES},
        }  # fmt: skip
        with self.engine.begin() as conn:
            inserted = conn.execute(predictions_table.insert().values(**row))
            record.id = int(inserted.inserted_primary_key[0])
            if keep:
                exists = conn.execute(
                    sa.select(images_table.c.image_hash).where(
                        images_table.c.image_hash == record.image_hash
                    )
                ).first()
                if exists is None:
                    conn.execute(
                        images_table.insert().values(
                            image_hash=record.image_hash,
                            created_at=record.timestamp,
                            size_bytes=len(png),
                            png=png,
                        )  # fmt: skip
                    )
        record.image_kept = keep
        with self._lock:
            self._since_prune += 1
            due = self._since_prune >= self.policy.prune_every
            if due:
                self._since_prune = 0
        if due:
            self.prune()
        return record.id

    def prune(self, now: float | None = None) -> int:
        """Drop images past the retention age, then the oldest beyond the count cap."""
        now = time.time() if now is None else now
        cutoff = now - self.policy.retention_days * 86400
        with self.engine.begin() as conn:
            deleted = conn.execute(
                images_table.delete().where(images_table.c.created_at < cutoff)
            ).rowcount
            total = conn.execute(sa.select(sa.func.count()).select_from(images_table)).scalar()
            excess = int(total or 0) - self.policy.max_images
            if excess > 0:
                oldest = (
                    sa.select(images_table.c.image_hash)
                    .order_by(images_table.c.created_at, images_table.c.image_hash)
                    .limit(excess)
                )
                hashes = [r[0] for r in conn.execute(oldest)]
                deleted += conn.execute(
                    images_table.delete().where(images_table.c.image_hash.in_(hashes))
                ).rowcount
        return int(deleted or 0)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(predictions_table)).scalar()
            )

    def recent(
        self,
        limit: int | None = None,
        since: float | None = None,
        model_version: str | None = None,
        with_images: bool = False,
    ) -> list[PredictionRecord]:
        """The newest records (at most `limit`, from `since` on), returned oldest first."""
        kept = sa.select(images_table.c.image_hash)
        query = sa.select(predictions_table, predictions_table.c.image_hash.in_(kept))
        if since is not None:
            query = query.where(predictions_table.c.created_at >= since)
        if model_version:
            query = query.where(predictions_table.c.model_version == model_version)
        if with_images:
            query = query.where(predictions_table.c.image_hash.in_(kept))
        query = query.order_by(predictions_table.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_to_record(row) for row in reversed(rows)]

    def image_png(self, image_hash: str) -> bytes | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(images_table.c.png).where(images_table.c.image_hash == image_hash)
            ).first()
        return bytes(row[0]) if row else None


def _to_record(row: sa.Row) -> PredictionRecord:
    data = row._mapping
    return PredictionRecord(
        id=int(data["id"]),
        timestamp=float(data["created_at"]),
        model_version=data["model_version"],
        mode=data["mode"],
        source=data["source"],
        image_hash=data["image_hash"],
        features={name: float(data[name]) for name in CONTINUOUS_FEATURES},
        text=data["text"],
        chars=json.loads(data["char_histogram"]),
        latency_ms=float(data["latency_ms"]),
        image_kept=bool(row[-1]),
    )


def open_store(
    url_or_path: str | Path | None = None, policy: ImagePolicy | None = None
) -> PredictionStore:
    """The store at a URL or path (default: default_store())."""
    return PredictionStore(url_or_path or default_store(), policy)
