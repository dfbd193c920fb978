"""Character classification metrics: accuracy, case-blind accuracy, per class, confused pairs."""

from __future__ import annotations

from typing import Any

import numpy as np

from textrec_cli.data.charsets import merge_case


def char_report(
    y_true: np.ndarray, y_pred: np.ndarray, mapping: list[str], top_pairs: int = 10
) -> dict[str, Any]:
    """Metrics as plain JSON types. `merged_accuracy` scores EMNIST-Balanced style (c = C)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n_classes = len(mapping)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    support = confusion.sum(axis=1)
    per_class = {
        mapping[i]: {
            "accuracy": round(float(confusion[i, i] / support[i]), 4),
            "support": int(support[i]),
        }
        for i in range(n_classes)
        if support[i] > 0
    }
    merged = np.array(
        [
            merge_case(mapping[t]) == merge_case(mapping[p])
            for t, p in zip(y_true, y_pred, strict=True)
        ]
    )
    off_diagonal = confusion.copy()
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(off_diagonal, axis=None)[::-1][:top_pairs]
    pairs = []
    for flat in order:
        t, p = np.unravel_index(flat, confusion.shape)
        if off_diagonal[t, p] == 0:
            break
        pairs.append(
            {"true": mapping[t], "predicted": mapping[p], "count": int(off_diagonal[t, p])}
        )
    return {
        "samples": int(len(y_true)),
        "accuracy": round(float(np.mean(y_true == y_pred)), 4) if len(y_true) else 0.0,
        "merged_accuracy": round(float(merged.mean()), 4) if len(y_true) else 0.0,
        "per_class": per_class,
        "most_confused": pairs,
    }
