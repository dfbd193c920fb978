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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from textrec_cli.errors import InputError, TextrecError
from textrec_cli.fileio import write_json
from textrec_cli.monitoring.features import CONTINUOUS_FEATURES
from textrec_cli.monitoring.records import PredictionRecord, make_record

REFERENCE_FILE = "reference.json"
MAX_SAMPLES = 2000  # per feature; more adds size, not power, next to windows of a few hundred


@dataclass
class Reference:
    model_version: str
    source: str  # what the sample was drawn from, for the report
    count: int
    features: dict[str, list[float]]
    chars: dict[str, int]
    created_at: str = ""

    @classmethod
    def from_records(
        cls, records: list[PredictionRecord], model_version: str, source: str
    ) -> Reference:
        if not records:
            raise TextrecError("no records to build a reference from")
        chars: Counter[str] = Counter()
        for record in records:
            chars.update(record.chars)
        return cls(
            model_version=model_version,
            source=source,
            count=len(records),
            features={
                name: [round(r.features[name], 6) for r in records[:MAX_SAMPLES]]
                for name in CONTINUOUS_FEATURES
            },
            chars=dict(chars),
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if path.is_dir():
            path = path / REFERENCE_FILE
        write_json(path, asdict(self))
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
    return reference


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
            records.append(make_record(image, prediction.to_dict(), latency, "reference"))
    if not records:
        raise TextrecError("no training images to build the reference from")
    versions = sorted({r.model_version for r in records})
    return Reference.from_records(records, ",".join(versions), source)


def training_line_images(
    lines_dirs: list[Path], count: int, seed: int = 0, split: str = "train"
) -> list[Image.Image]:
    """A seeded sample of `count` raw images from the `split` rows of real_lines folders."""
    from textrec_cli.data.real_lines import read_labels
    from textrec_cli.inference.image_io import load_image

    candidates = []
    for folder in lines_dirs:
        for row in read_labels(Path(folder)):
            if (row.get("split") or "train").strip() == split:
                candidates.append(Path(folder) / row["file"])
    if not candidates:
        raise TextrecError(f"no {split} lines in {', '.join(map(str, lines_dirs))}")
    rng = np.random.default_rng(seed)
    picked = rng.permutation(len(candidates))[:count]
    images = []
    for i in picked:
        try:
            images.append(load_image(candidates[i]))
        except InputError:
            continue
    return images
