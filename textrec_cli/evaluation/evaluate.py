"""Evaluate a saved model on a dataset split; the JSON report is what DVC and CI read."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from textrec_cli.data import load_char_dataset
from textrec_cli.errors import TextrecError
from textrec_cli.evaluation.char_metrics import char_report
from textrec_cli.fileio import write_json


def evaluate(
    model_path: Path | None, dataset: str, split: str, data_dir: Path, output: Path | None = None
) -> dict[str, Any]:
    from textrec_cli.inference.predictor import load_predictor

    data = load_char_dataset(dataset, data_dir, splits=(split,))
    if split not in data.splits:
        raise TextrecError(f"dataset {dataset!r} has no split {split!r}")
    predictor = load_predictor(model_path)
    if data.mapping != predictor.mapping:
        raise TextrecError(
            f"model classes ({len(predictor.mapping)}) differ from dataset {dataset!r} classes "
            f"({len(data.mapping)}); evaluate on a dataset with the same character set"
        )
    x, y = data.splits[split].x, data.splits[split].y
    started = time.perf_counter()
    probs = predictor.predict_arrays(x)
    seconds = time.perf_counter() - started
    report = char_report(y, np.argmax(probs, axis=1), data.mapping)
    report.update(
        {
            "model": predictor.version,
            "dataset": dataset,
            "split": split,
            "dataset_checksum": data.checksum,
            "chars_per_second": round(len(x) / seconds, 1) if seconds > 0 else None,
        }
    )
    if output is not None:
        write_json(output, report)
    return report
