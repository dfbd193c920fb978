"""Where served predictions are kept: SQLite by default, PostgreSQL for a real deployment.

SQLAlchemy Core (no ORM) with one schema for both; images are optional, deduplicated by content
hash and capped in size. Images and rows are pruned by age, images also by count, and past a size
budget the oldest images go first, then the oldest rows, so the store cannot grow without bound.

The same store keeps *contributions* (handwriting people gave on purpose, with consent to a
licence: `/contribute`, paper forms). They are never pruned (they are the point, not a log), do
not count against the predictions' size budget, and have their own cap: past it a new one is
refused (StoreFullError) instead of an old one deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from textrec_cli import settings
from textrec_cli.errors import InputError, LimitError, TextrecError
from textrec_cli.monitoring.features import CONTINUOUS_FEATURES
from textrec_cli.monitoring.records import PredictionRecord

log = logging.getLogger("textrec.monitoring")

MIB = 1024 * 1024
# Rows per DELETE: short transactions, so request writes interleave with a long prune.
PRUNE_BATCH = 500
# Size pruning stops this far under the cap, so the next writes do not trigger it again at once.
PRUNE_TARGET = 0.9
# Bounded work per prune: at most this many batches for the size budget (the rest next time).
PRUNE_ROUNDS = 40
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
contributions_table = sa.Table(
    "contributions",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),  # unix seconds
    sa.Column("kind", sa.String(16), nullable=False),  # canvas | upload | form
    sa.Column("licence", sa.String(16), nullable=False),  # SPDX: CC-BY-4.0 | CC0-1.0
    sa.Column("writer_id", sa.String(64), nullable=True, index=True),  # pseudonymous
    sa.Column("form_id", sa.String(64), nullable=True, index=True),
    sa.Column("prompt", sa.Text, nullable=False),  # the provisional transcription
    sa.Column("image_hash", sa.String(64), nullable=False, index=True),
    sa.Column("size_bytes", sa.Integer, nullable=False),  # png + strokes JSON
    sa.Column("png", sa.LargeBinary, nullable=False),
    sa.Column("strokes", sa.Text, nullable=True),  # JSON, canvas only
)

CONTRIBUTION_KINDS = ("canvas", "upload", "form")
CONTRIBUTION_LICENCES = ("CC-BY-4.0", "CC0-1.0")  # SPDX ids, as data/corpus.py names licences
# a pseudonym: letters, digits, `_ . -`; no `@` or spaces, so an e-mail or a full name cannot be
# stored by mistake
WRITER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_PROMPT_CHARS = 300  # a line of text to copy; far over any prompt textrec hands out
MAX_CONTRIBUTION_PNG_BYTES = 8 * MIB
MAX_STROKES_JSON_BYTES = 2 * MIB
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class StoreFullError(LimitError):
    """The contributions' own size cap is reached: nothing is deleted to make room."""


@dataclass
class Contribution:
    """One stored contribution; `png` and `strokes` are loaded only when asked for."""

    id: int
    created_at: float
    kind: str
    licence: str
    writer_id: str | None
    form_id: str | None
    prompt: str
    image_hash: str
    size_bytes: int
    png: bytes | None = None
    strokes: list | None = None

    def to_dict(self) -> dict:
        """JSON-ready metadata (no image bytes)."""
        fields = ("id", "created_at", "kind", "licence", "writer_id", "form_id", "prompt",
                  "image_hash", "size_bytes")  # fmt: skip
        return {name: getattr(self, name) for name in fields}


@dataclass(frozen=True)
class ImagePolicy:
    """What the store keeps and for how long (the server keeps images by default).

    Images and rows older than `retention_days` are deleted; past `max_store_mb` the oldest
    images are deleted, then the oldest rows. 0 turns either limit off."""

    keep: bool = False
    max_image_bytes: int = 2 * 1024 * 1024  # larger PNGs are not kept (the features still are)
    retention_days: float = settings.STORE_RETENTION_DAYS
    max_images: int = 20_000
    max_store_mb: float = settings.STORE_MAX_MB
    prune_every: int = settings.STORE_PRUNE_EVERY  # records between two (background) prunes
    max_contributions_mb: float = 4096.0  # contributions' own cap (0 = none); never pruned

    def __post_init__(self) -> None:
        names = ("retention_days", "max_store_mb", "max_images", "prune_every",
                 "max_contributions_mb")  # fmt: skip
        for name in names:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise TextrecError(f"store policy: {name} must be >= 0, got {value!r}")


class Pruned(NamedTuple):
    """What one prune deleted."""

    images: int
    rows: int


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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. a container user that cannot write its working dir
            raise TextrecError(
                f"cannot create the prediction store's folder {path.parent}: {exc.strerror}; "
                "set TEXTREC_MONITOR_STORE (a writable path or a postgresql:// URL) or "
                "TEXTREC_DATA_DIR"
            ) from exc
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
        self._pruning = threading.Lock()  # one prune at a time
        self._contributing = threading.Lock()  # one contribution write at a time (its cap)
        self._prune_thread: threading.Thread | None = None
        self.sqlite = self.url.startswith("sqlite")
        try:
            kwargs = {"connect_args": {"timeout": 30}} if self.sqlite else {}
            self.engine: Engine = sa.create_engine(self.url, pool_pre_ping=True, **kwargs)
            if self.sqlite:
                sa.event.listen(self.engine, "connect", _sqlite_incremental_vacuum)
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
        self.wait_for_prune()
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
            due = self.policy.prune_every > 0 and self._since_prune >= self.policy.prune_every
            if due:
                self._since_prune = 0
        if due:
            self.prune_in_background()
        return record.id

    def prune_in_background(self) -> bool:
        """Start a prune in a daemon thread (the request that triggered it does not wait);
        False when one is already running."""
        if not self._pruning.acquire(blocking=False):
            return False

        def run() -> None:
            try:
                self._prune_locked()
            except Exception:  # noqa: BLE001 - pruning must not kill serving; next time retries
                log.exception("pruning the prediction store failed")
            finally:
                self._pruning.release()

        self._prune_thread = threading.Thread(target=run, name="textrec-store-prune", daemon=True)
        self._prune_thread.start()
        return True

    def wait_for_prune(self, timeout: float | None = 60) -> None:
        """Wait for a background prune to finish (tests, and close())."""
        thread = self._prune_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def prune(self, now: float | None = None) -> Pruned:
        """Apply the policy now: age first (images and rows), then the image count cap, then the
        size budget (oldest images, then oldest rows). Deletes in batches; returns the counts."""
        with self._pruning:
            return self._prune_locked(now)

    def _prune_locked(self, now: float | None = None) -> Pruned:
        now = time.time() if now is None else now
        policy = self.policy
        images = rows = 0
        if policy.retention_days > 0:
            cutoff = now - policy.retention_days * 86400
            images += self._delete_oldest(images_table, images_table.c.created_at < cutoff)
            rows += self._delete_oldest(predictions_table, predictions_table.c.created_at < cutoff)
        with self.engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(images_table)).scalar()
        if policy.max_images and int(total or 0) > policy.max_images:
            images += self._delete_oldest(images_table, limit=int(total) - policy.max_images)
        if policy.max_store_mb > 0:
            more_images, more_rows = self._fit_size(policy.max_store_mb * MIB)
            images, rows = images + more_images, rows + more_rows
        if (images or rows) and self.sqlite:  # give the freed pages back to the file system
            raw = self.engine.raw_connection()
            try:  # executescript steps the pragma to the end (one step frees one page)
                raw.driver_connection.executescript("PRAGMA incremental_vacuum;")
            finally:
                raw.close()
        if images or rows:
            log.info(
                "pruned %d images and %d predictions (store now %.1f MB)",
                images, rows, self.store_bytes() / MIB,
            )  # fmt: skip
        return Pruned(images, rows)

    def _fit_size(self, cap: float) -> tuple[int, int]:
        """Oldest images, then oldest rows, until the store is under PRUNE_TARGET x `cap`."""
        images = rows = 0
        size = self._prunable_bytes()
        if size <= cap:
            return 0, 0
        for _ in range(PRUNE_ROUNDS):
            excess = size - PRUNE_TARGET * cap
            if excess <= 0:
                break
            with self.engine.connect() as conn:
                oldest = conn.execute(
                    sa.select(images_table.c.image_hash, images_table.c.size_bytes)
                    .order_by(images_table.c.created_at, images_table.c.image_hash)
                    .limit(PRUNE_BATCH)
                ).all()
                n_rows = int(
                    conn.execute(sa.select(sa.func.count()).select_from(predictions_table)).scalar()
                    or 0
                )
            if oldest:
                hashes, freed = [], 0
                for image_hash, size_bytes in oldest:
                    hashes.append(image_hash)
                    freed += int(size_bytes)
                    if freed >= excess:
                        break
                with self.engine.begin() as conn:
                    images += conn.execute(
                        images_table.delete().where(images_table.c.image_hash.in_(hashes))
                    ).rowcount
            elif n_rows:
                per_row = max(1.0, size / n_rows)  # no images left: the rows are the store
                limit = min(n_rows, 10 * PRUNE_BATCH, math.ceil(excess / per_row))
                rows += self._delete_oldest(predictions_table, limit=max(1, limit))
            else:
                break
            size = self._prunable_bytes()
        return images, rows

    def _prunable_bytes(self) -> int:
        """store_bytes() less the contributions (SQLite counts them in its pages): they are
        never pruned, so they must not make the predictions' budget shrink."""
        if not self.sqlite:
            return self.store_bytes()  # the estimate there counts predictions and images only
        return max(0, self.store_bytes() - self.contribution_bytes())

    def _delete_oldest(
        self, table: sa.Table, where: sa.ColumnElement | None = None, limit: int | None = None
    ) -> int:
        """Delete rows of `table` matching `where`, oldest first, at most `limit`, in batches."""
        key = table.c.id if table is predictions_table else table.c.image_hash
        deleted = 0
        while limit is None or deleted < limit:
            batch = PRUNE_BATCH if limit is None else min(PRUNE_BATCH, limit - deleted)
            query = sa.select(key).order_by(table.c.created_at, key).limit(batch)
            if where is not None:
                query = query.where(where)
            with self.engine.begin() as conn:
                keys = [r[0] for r in conn.execute(query)]
                if not keys:
                    break
                deleted += conn.execute(table.delete().where(key.in_(keys))).rowcount
            if len(keys) < batch:
                break
        return deleted

    def store_bytes(self) -> int:
        """What the store holds, in bytes. SQLite: its used pages (the file less free pages).
        Elsewhere an estimate: kept PNG bytes + each row's text and a fixed per-row size
        (PostgreSQL's relation sizes shrink only on VACUUM FULL, so they cannot guide pruning)."""
        with self.engine.connect() as conn:
            if self.sqlite:
                page_count, free, page_size = (
                    conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                    for name in ("page_count", "freelist_count", "page_size")
                )
                return int((page_count - free) * page_size)
            image_bytes = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(images_table.c.size_bytes), 0))
            ).scalar()
            text = sa.func.length(predictions_table.c.text) + sa.func.length(
                predictions_table.c.char_histogram
            )
            row_count, text_bytes = conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(text), 0)).select_from(
                    predictions_table
                )
            ).one()
        return int(image_bytes) + int(text_bytes) + int(row_count) * ROW_BYTES

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

    def add_contribution(
        self,
        image_png: bytes,
        prompt: str,
        *,
        kind: str,
        licence: str,
        writer_id: str | None,
        strokes: list | None = None,
        form_id: str | None = None,
        created: float | datetime | None = None,
    ) -> int:
        """Store one contribution (a PNG of handwriting and the prompt it copies, as its
        provisional transcription); returns its id. Bad fields are an InputError, an oversized
        image or strokes a LimitError, a full contributions cap a StoreFullError: all before
        anything is written."""
        if kind not in CONTRIBUTION_KINDS:
            raise InputError(f"contribution kind must be one of {CONTRIBUTION_KINDS}, got {kind!r}")
        if licence not in CONTRIBUTION_LICENCES:
            raise InputError(
                f"licence must be one of {', '.join(CONTRIBUTION_LICENCES)}, got {licence!r}"
            )
        writer_id = _checked_id(writer_id, "writer id")
        form_id = _checked_id(form_id, "form id")
        if not isinstance(prompt, str) or not prompt.strip():
            raise InputError("a contribution needs its prompt (the text that was copied)")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InputError(f"prompt is {len(prompt)} characters, over {MAX_PROMPT_CHARS}")
        if not isinstance(image_png, bytes) or not image_png.startswith(PNG_SIGNATURE):
            raise InputError("a contribution's image must be PNG bytes")
        if len(image_png) > MAX_CONTRIBUTION_PNG_BYTES:
            raise LimitError(
                f"contribution image is {len(image_png)} bytes, "
                f"over the {MAX_CONTRIBUTION_PNG_BYTES}-byte limit"
            )
        strokes_json = None
        if strokes is not None:
            try:
                strokes_json = json.dumps(strokes, separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise InputError(f"strokes are not plain JSON numbers and lists ({exc})") from None
            if len(strokes_json) > MAX_STROKES_JSON_BYTES:
                raise LimitError(
                    f"strokes are {len(strokes_json)} bytes of JSON, "
                    f"over the {MAX_STROKES_JSON_BYTES}-byte limit"
                )
        if isinstance(created, datetime):
            created = created.timestamp()
        size = len(image_png) + len(strokes_json or "")
        row = {
            "created_at": time.time() if created is None else float(created),
            "kind": kind, "licence": licence, "writer_id": writer_id, "form_id": form_id,
            "prompt": prompt, "image_hash": hashlib.sha256(image_png).hexdigest(),
            "size_bytes": size, "png": image_png, "strokes": strokes_json,
        }  # fmt: skip
        cap = self.policy.max_contributions_mb * MIB
        with self._contributing, self.engine.begin() as conn:  # no two writers pass the cap
            if cap > 0:
                held = conn.execute(_CONTRIBUTION_BYTES).scalar() or 0
                if int(held) + size > cap:
                    raise StoreFullError(
                        f"the contributions store is full ({int(held) / MIB:.0f} MB of "
                        f"{self.policy.max_contributions_mb:g}): review and export it first"
                    )
            inserted = conn.execute(contributions_table.insert().values(**row))
            return int(inserted.inserted_primary_key[0])

    def contributions(
        self,
        limit: int | None = None,
        since: float | None = None,
        kind: str | None = None,
        writer_id: str | None = None,
        form_id: str | None = None,
        after_id: int | None = None,
        with_images: bool = False,
        with_strokes: bool = False,
    ) -> list[Contribution]:
        """Contributions, oldest first, filtered by time, kind, writer or form: at most `limit`
        of the newest, or with `after_id` the first `limit` after that id (so exports resumed
        with the last id seen never skip one)."""
        table = contributions_table
        columns = [c for c in table.c if c.name not in ("png", "strokes")]
        if with_images:
            columns.append(table.c.png)
        if with_strokes:
            columns.append(table.c.strokes)
        query = sa.select(*columns)
        for column, value in ((table.c.kind, kind), (table.c.writer_id, writer_id),
                              (table.c.form_id, form_id)):  # fmt: skip
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(table.c.created_at >= since)
        if after_id is not None:
            query = query.where(table.c.id > after_id)
        resume = after_id is not None
        query = query.order_by(table.c.id if resume else table.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_to_contribution(row._mapping) for row in (rows if resume else reversed(rows))]

    def contribution_png(self, contribution_id: int) -> bytes | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(contributions_table.c.png).where(
                    contributions_table.c.id == contribution_id
                )
            ).first()
        return bytes(row[0]) if row else None

    def contribution_count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(contributions_table)).scalar()
            )

    def contribution_bytes(self) -> int:
        """The contributions' images and strokes, in bytes (what their cap counts)."""
        with self.engine.connect() as conn:
            return int(conn.execute(_CONTRIBUTION_BYTES).scalar() or 0)

    def delete_contributions(self, writer_id: str) -> int:
        """Delete every contribution of `writer_id` (a writer who withdraws); returns how many."""
        with self.engine.begin() as conn:
            return conn.execute(
                contributions_table.delete().where(contributions_table.c.writer_id == writer_id)
            ).rowcount

    def image_png(self, image_hash: str) -> bytes | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(images_table.c.png).where(images_table.c.image_hash == image_hash)
            ).first()
        return bytes(row[0]) if row else None


# Estimated bytes of one prediction row beyond its text, indexes included (PostgreSQL).
ROW_BYTES = 300 + 8 * len(CONTINUOUS_FEATURES)


_CONTRIBUTION_BYTES = sa.select(sa.func.coalesce(sa.func.sum(contributions_table.c.size_bytes), 0))


def _checked_id(value: str | None, what: str) -> str | None:
    """A pseudonymous id as given (None or "" for none), or an InputError saying what is allowed."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not WRITER_ID.fullmatch(value):
        raise InputError(
            f"{what} must be 1-64 letters, digits, '_', '.' or '-' (a pseudonym, not an e-mail "
            "or a name)"
        )
    return value


def _to_contribution(data: sa.RowMapping) -> Contribution:
    png = data.get("png")
    strokes = data.get("strokes")
    return Contribution(
        id=int(data["id"]), created_at=float(data["created_at"]), kind=data["kind"],
        licence=data["licence"], writer_id=data["writer_id"], form_id=data["form_id"],
        prompt=data["prompt"], image_hash=data["image_hash"], size_bytes=int(data["size_bytes"]),
        png=bytes(png) if png is not None else None,
        strokes=json.loads(strokes) if strokes else None,
    )  # fmt: skip


def _sqlite_incremental_vacuum(dbapi_connection: object, _: object) -> None:
    """New SQLite stores free deleted pages back to the file (PRAGMA incremental_vacuum after a
    prune); on an existing store this is a no-op, and its file only stops growing."""
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA auto_vacuum = INCREMENTAL")
    cursor.close()


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
