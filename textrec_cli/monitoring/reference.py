"""The reference distribution: what the model's inputs and outputs looked like on training data.

Built once from a sample of training images run through the model, saved as `reference.json`
beside the model (the export step calls `build_reference` + `save`), and loaded by `monitor`.
It keeps the samples themselves (not summaries): the two-sample tests need them.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from textrec_cli.errors import InputError, TextrecError
from textrec_cli.fileio import atomic_path
from textrec_cli.monitoring.features import CONTINUOUS_FEATURES, OUTPUT_FEATURES
from textrec_cli.monitoring.records import PredictionRecord, make_record

REFERENCE_FILE = "reference.json"
MAX_SAMPLES = 3000  # lines kept; more adds size, not power, next to windows of a few hundred
MAX_PER_DOCUMENT = 25  # contiguous lines kept per document: more documents, not longer ones


@dataclass
class Reference:
    model_version: str
    source: str  # what the sample was drawn from, for the report
    count: int
    features: dict[str, list[float]]
    chars: dict[str, int]
    created_at: str = ""
    # per kept line: its document (page/writer/request) and group (collection); the drift test
    # resamples whole documents and compares a window with the closest group
    documents: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    describes: dict[str, Any] = field(default_factory=dict)  # collections, splits, counts
    # features shown but not tested for drift: the model's outputs when these are lines it was
    # trained on (it reads them more confidently than any unseen page; see model_training_lines)
    report_only: list[str] = field(default_factory=list)

    @classmethod
    def from_records(
        cls,
        records: list[PredictionRecord],
        model_version: str,
        source: str,
        groups: list[str] | None = None,
        describes: dict[str, Any] | None = None,
        seed: int = 0,
        report_only: tuple[str, ...] = (),
    ) -> Reference:
        """Keep up to MAX_SAMPLES lines, each group (collection) in proportion to its lines:
        documents in a seeded order, a contiguous run of each (documents.pick_documents)."""
        from textrec_cli.monitoring.documents import document_ids, pick_documents

        if not records:
            raise TextrecError("no records to build a reference from")
        if groups is not None and len(groups) != len(records):
            raise TextrecError("one group per record is needed")
        chars: Counter[str] = Counter()
        for record in records:
            chars.update(record.chars)
        ids = document_ids(records)
        group_of = groups or ["all"] * len(records)
        by_group: dict[str, dict[str, list[int]]] = {}
        for position, (name, group) in enumerate(zip(ids, group_of, strict=True)):
            by_group.setdefault(group, {}).setdefault(name, []).append(position)
        kept = pick_documents(
            {g: list(docs.values()) for g, docs in by_group.items()},
            MAX_SAMPLES, MAX_PER_DOCUMENT, seed,
        )  # fmt: skip
        summary = {
            "lines_read": len(records),
            "lines_kept": len(kept),
            "documents": len({ids[i] for i in kept}),
            "groups": dict(Counter(group_of[i] for i in kept)),
            **(describes or {}),
        }
        return cls(
            model_version=model_version,
            source=source,
            count=len(kept),
            features={
                name: [round(records[i].features[name], 6) for i in kept]
                for name in CONTINUOUS_FEATURES
            },
            chars=dict(chars),
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            documents=[ids[i] for i in kept],
            groups=[group_of[i] for i in kept],
            describes=summary,
            report_only=list(report_only),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if path.is_dir():
            path = path / REFERENCE_FILE
        with atomic_path(path) as tmp:  # compact: thousands of numbers, bundled with the model
            tmp.write_text(json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":")))
        return path


def reference_path(model_or_file: str | Path) -> Path:
    path = Path(model_or_file)
    return path / REFERENCE_FILE if path.is_dir() else path


def load_reference(model_or_file: str | Path) -> Reference:
    """`reference.json` from a model folder (or the file itself); clear error when missing."""
    path = reference_path(model_or_file)
    if not path.is_file():
        raise TextrecError(
            f"no reference distribution at {path}: build it with "
            "`textrec monitor --build-reference --model MODEL --lines-dir DIR` (or --synthetic N)"
        )
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        reference = Reference(**payload)
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a textrec reference file ({exc})") from None
    missing = set(CONTINUOUS_FEATURES) - set(reference.features)
    if missing:
        raise InputError(f"{path}: reference lacks feature(s) {', '.join(sorted(missing))}")
    names = reference.report_only
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(f"{path}: report_only must be a list of feature names")
    if not set(names) < set(CONTINUOUS_FEATURES):
        raise InputError(f"{path}: bad report_only features {reference.report_only}")
    return reference


def model_training_folders(model: str | Path) -> set[str]:
    """Names of the real_lines folders a model was trained on (metadata config.lines_dirs)."""
    path = Path(model) / "metadata.json"
    if not path.is_file():
        return set()
    try:
        config = json.loads(path.read_text(encoding="utf-8")).get("config") or {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return set()
    return {Path(str(folder)).name for folder in config.get("lines_dirs") or []}


def build_reference(
    recognizer, images: Iterable[Image.Image], source: str, batch_size: int = 64
) -> Reference:
    """Run training images through the model (a Recognizer) and keep their feature samples."""
    records: list[PredictionRecord] = []
    iterator = iter(images)
    while batch := list(itertools.islice(iterator, batch_size)):
        started = time.perf_counter()
        predictions = recognizer.predict_images([(str(i), im) for i, im in enumerate(batch)])
        latency = (time.perf_counter() - started) * 1000 / len(batch)
        for image, prediction in zip(batch, predictions, strict=True):
            record = make_record(image, prediction, latency, "reference")
            record.document = f"image/{len(records)}"  # independent images, no pages
            records.append(record)
    if not records:
        raise TextrecError("no training images to build the reference from")
    versions = sorted({r.model_version for r in records})
    return Reference.from_records(records, ",".join(versions), source)


def reference_from_lines(
    recognizer,
    lines_dirs: list[Path],
    count: int = MAX_SAMPLES,
    seed: int = 0,
    splits: tuple[str, ...] = ("train",),
    progress: bool = True,
    trained_folders: set[str] | frozenset[str] = frozenset(),
) -> Reference:
    """A reference from real_lines folders: `count` lines of their `splits`, whole documents
    (pages, writers) in a seeded order, each line read by the model; says what it holds.

    When those are lines the model trained on (`trained_folders`: model_training_folders), its
    outputs on them are not what it gives unseen lines (measured: Copiste train vs val
    confidence, KS 0.18), so confidence and reading length become report-only."""
    from textrec_cli.monitoring.line_sample import labeled_lines, read_lines, sample_documents

    lines = [line for folder in lines_dirs for line in labeled_lines(Path(folder), splits)]
    if not lines:
        raise TextrecError(f"no {'/'.join(splits)} lines in {', '.join(map(str, lines_dirs))}")
    picked = sample_documents(lines, min(count, MAX_SAMPLES), MAX_PER_DOCUMENT, seed)
    pairs = read_lines(recognizer, picked, progress=progress)
    records = [record for _, record in pairs]
    groups = [line.collection for line, _ in pairs]
    versions = sorted({r.model_version for r in records})
    collections = sorted({line.collection for line in picked})
    source = (
        f"{len(records)} {'/'.join(splits)} lines of {', '.join(collections)} "
        f"({', '.join(Path(f).name for f in lines_dirs)})"
    )
    training = "train" in splits and any(Path(f).name in trained_folders for f in lines_dirs)
    describes = {
        "folders": [Path(f).name for f in lines_dirs],
        "collections": collections,
        "splits": list(splits),
        "seed": seed,
        "synthetic_lines": 0,
        "model_training_lines": training,
    }
    report_only = OUTPUT_FEATURES if training else ()
    return Reference.from_records(
        records, ",".join(versions), source, groups, describes, seed, report_only
    )
