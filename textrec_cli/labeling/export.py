"""Pick the production images most worth a human's time and write them as a Label Studio import.

Low-confidence readings first (where the model is most often wrong), then images far out on the
features that drifted (what the training data lacks), then a random sample (so the labeled set
also measures the model where it is confident: calibration).

Contributions (handwriting given on `/contribute` or on paper forms) go out whole, each with its
prompt as the pre-annotation: the reviewer only fixes what the writer changed or skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textrec_cli.errors import TextrecError
from textrec_cli.fileio import atomic_dir
from textrec_cli.labeling.label_studio import LABEL_CONFIG, make_task
from textrec_cli.monitoring.drift import detect_drift
from textrec_cli.monitoring.features import CONTINUOUS_FEATURES
from textrec_cli.monitoring.records import PredictionRecord
from textrec_cli.monitoring.reference import Reference
from textrec_cli.monitoring.store import Contribution, PredictionStore

TASKS_FILE = "tasks.json"
CONFIG_FILE = "label_config.xml"
# the "model" of a contribution's pre-annotation: the text the writer was asked to copy
PROMPT_VERSION = "contribution-prompt"


@dataclass
class Selection:
    record: PredictionRecord
    reason: str  # "low_confidence" | "drift:<feature>" | "random"


def _tail_score(values: list[float], x: float) -> float:
    """How far out x lies in the reference sample: 0 at the median, 1 beyond every value."""
    rank = np.searchsorted(np.sort(values), x) / max(len(values), 1)
    return float(abs(rank - 0.5) * 2)


def select_for_labeling(
    records: list[PredictionRecord],
    limit: int,
    reference: Reference | None = None,
    low_confidence: float = 0.5,
    drifted: float = 0.3,
    seed: int = 0,
) -> list[Selection]:
    """Up to `limit` distinct images: shares for low confidence, drift, and the rest random."""
    latest: dict[str, PredictionRecord] = {}
    for record in records:
        latest[record.image_hash] = record
    pool = list(latest.values())
    chosen: list[Selection] = []
    taken: set[str] = set()

    def take(record: PredictionRecord, reason: str) -> None:
        chosen.append(Selection(record, reason))
        taken.add(record.image_hash)

    for record in sorted(pool, key=lambda r: r.confidence)[: round(limit * low_confidence)]:
        take(record, "low_confidence")
    features: list[str] = []
    if reference is not None and len(pool) >= 20:
        report = detect_drift(reference, pool)
        features = [f for f in report.drifted_features if f in CONTINUOUS_FEATURES]
    if features:
        scored = []
        for record in pool:
            if record.image_hash in taken:
                continue
            tails = {f: _tail_score(reference.features[f], record.features[f]) for f in features}
            feature = max(tails, key=tails.get)
            scored.append((tails[feature], record, feature))
        scored.sort(key=lambda item: -item[0])
        for _, record, feature in scored[: round(limit * drifted)]:
            take(record, f"drift:{feature}")
    rest = [r for r in pool if r.image_hash not in taken]
    rng = np.random.default_rng(seed)
    for index in rng.permutation(len(rest))[: max(0, limit - len(chosen))]:
        take(rest[int(index)], "random")
    return chosen


def write_label_studio_export(
    selections: list[Selection],
    store: PredictionStore,
    output: Path,
    url_prefix: str | None = None,
) -> dict:
    """`output/` with images/, tasks.json (pre-annotated) and label_config.xml, atomically.

    Image URLs default to Label Studio's local-files form `/data/local-files/?d=OUTPUT_NAME/
    images/HASH.png` (serve the parent of OUTPUT as LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT).
    """

    if not selections:
        raise TextrecError(
            "nothing to export: the store holds no kept images (log with "
            "--keep-images, or the server's default)"
        )

    def entries():
        for selection in selections:
            record = selection.record
            meta = {
                "image_hash": record.image_hash,
                "prediction_id": record.id,
                "reason": selection.reason,
                "mode": record.mode,
            }
            yield (
                record.image_hash,
                store.image_png(record.image_hash),
                record.text,
                record.confidence,
                record.model_version,
                meta,
                selection.reason.split(":")[0],
            )

    return _write_export(Path(output), url_prefix, entries())


def write_contributions_export(
    contributions: list[Contribution],
    store: PredictionStore,
    output: Path,
    url_prefix: str | None = None,
) -> dict:
    """`output/` as write_label_studio_export writes it, for contributions: the prompt is the
    pre-annotation; writer, licence, kind and form ride in `data`. Images are read one at a time
    (a drive's worth of PNGs never sits in memory at once)."""

    if not contributions:
        raise TextrecError(
            "nothing to export: no contributions (collect some on /contribute or with "
            "`textrec forms read`)"
        )

    def entries():
        for item in contributions:
            meta = {
                "image_hash": item.image_hash,
                "contribution_id": item.id,
                "reason": f"contribution:{item.kind}",
                "kind": item.kind,
                "writer_id": item.writer_id,
                "licence": item.licence,
                "form_id": item.form_id,
                "prompt": item.prompt,
            }
            png = item.png if item.png is not None else store.contribution_png(item.id)
            yield (item.image_hash, png, item.prompt, 1.0, PROMPT_VERSION, meta, meta["reason"])

    summary = _write_export(Path(output), url_prefix, entries())
    return {**summary, "last_id": max(item.id for item in contributions)}


def _write_export(output: Path, url_prefix: str | None, entries) -> dict:
    """The one writer of an export folder (images/, tasks.json, label_config.xml, atomically).
    `entries` yields (image_hash, png or None, text, confidence, model_version, meta, reason):
    a None png (pruned or withdrawn since it was listed) is skipped; images are fetched one at
    a time by the generator, so an export never holds them all in memory."""
    import json

    prefix = url_prefix if url_prefix is not None else f"/data/local-files/?d={output.name}/images/"
    tasks, reasons = [], {}
    with atomic_dir(output) as tmp:
        (tmp / "images").mkdir()
        for image_hash, png, text, confidence, version, meta, reason in entries:
            if png is None:
                continue
            name = f"{image_hash}.png"
            (tmp / "images" / name).write_bytes(png)
            tasks.append(make_task(prefix + name, text, confidence, version, meta))
            reasons[reason] = reasons.get(reason, 0) + 1
        (tmp / TASKS_FILE).write_text(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
        (tmp / CONFIG_FILE).write_text(LABEL_CONFIG)
    return {
        "output": str(output),
        "tasks": len(tasks),
        "reasons": reasons,
        "tasks_file": str(output / TASKS_FILE),
        "config_file": str(output / CONFIG_FILE),
    }
