"""PNGs a person reads beside the drift table: reference vs window histograms of each feature
(drifted ones first, titled with what moved) and the estimated CER over time.

matplotlib is a dev dependency, imported only here; without it `--plot` says how to get it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textrec_cli.errors import TextrecError
from textrec_cli.fileio import atomic_path
from textrec_cli.monitoring.drift import DriftReport
from textrec_cli.monitoring.features import CONTINUOUS_FEATURES
from textrec_cli.monitoring.records import PredictionRecord
from textrec_cli.monitoring.reference import Reference


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise TextrecError("--plot needs matplotlib: pip install matplotlib") from None
    return plt


def _save(figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=90)
    return path


def plot_histograms(
    reference: Reference, window: list[PredictionRecord], report: DriftReport, path: Path
) -> Path:
    """One panel per feature: reference (closest group) vs window densities."""
    plt = _pyplot()
    rows = {f.feature: f for f in report.features}
    names = sorted(CONTINUOUS_FEATURES, key=lambda n: (not rows[n].drifted, -rows[n].effect))
    members = np.array([g == report.closest_group for g in reference.groups]) if (
        len(reference.groups) == reference.count
    ) else np.ones(reference.count, bool)  # fmt: skip
    figure, axes = plt.subplots(3, 4, figsize=(16, 10))
    for axis, name in zip(axes.ravel(), names, strict=False):
        ref = np.asarray(reference.features[name], float)[members]
        win = np.array([r.features[name] for r in window], float)
        low, high = np.quantile(np.concatenate([ref, win]), [0.01, 0.99])
        bins = np.linspace(low, high if high > low else low + 1, 30)
        axis.hist(ref, bins, density=True, alpha=0.5, label="reference", color="tab:blue")
        axis.hist(win, bins, density=True, alpha=0.5, label="window", color="tab:orange")
        row = rows[name]
        title = f"{name}: KS {row.effect:.2f}"
        if row.drifted:
            title = f"DRIFT {name}: {row.change}"
        axis.set_title(title, fontsize=9, color="tab:red" if row.drifted else "black")
        axis.tick_params(labelsize=7)
    axes.ravel()[0].legend(fontsize=8)
    figure.suptitle(report.summary, fontsize=10, wrap=True)
    figure.tight_layout(rect=(0, 0, 1, 0.95))
    _save(figure, path)
    plt.close(figure)
    return path


def plot_cer_over_time(points: list[dict], path: Path) -> Path:
    """Estimated CER (with its interval) per window end time; the alert line dashed."""
    plt = _pyplot()
    from datetime import UTC, datetime

    times = [datetime.fromtimestamp(p["window_end"], UTC) for p in points]
    estimate = [p["estimated_cer"] for p in points]
    figure, axis = plt.subplots(figsize=(9, 4))
    axis.fill_between(
        times, [p["low"] for p in points], [p["high"] for p in points], alpha=0.3, label="interval"
    )
    axis.plot(times, estimate, marker="o", label="estimated CER")
    baseline, margin = points[-1]["baseline_cer"], points[-1]["margin"]
    axis.axhline(baseline, color="gray", label="validation CER")
    axis.axhline(baseline + margin, color="tab:red", linestyle="--", label="alert above")
    axis.set_ylabel("CER (estimated from confidence)")
    axis.set_xlabel("window end (UTC)")
    axis.legend(fontsize=8)
    figure.autofmt_xdate()
    figure.tight_layout()
    _save(figure, path)
    plt.close(figure)
    return path
