"""Has recent traffic drifted from the training data? Two-sample tests per feature, corrected.

KS (scipy.stats.ks_2samp) for each continuous feature, including the model's confidence; a
chi-square test of homogeneity (scipy.stats.chi2_contingency) for the character histogram of
the outputs. Many tests at once would raise false alarms, so the level is Bonferroni-corrected,
and a drift must also be large enough to matter (a KS distance or Cramér's V of `min_effect`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from textrec_cli.errors import TextrecError
from textrec_cli.monitoring.features import CONTINUOUS_FEATURES
from textrec_cli.monitoring.records import PredictionRecord
from textrec_cli.monitoring.reference import Reference

CHAR_FEATURE = "char_histogram"
MIN_EXPECTED = 5.0  # chi-square needs this many expected counts per cell; rarer chars pool


@dataclass
class FeatureDrift:
    feature: str
    test: str  # "ks" | "chi2"
    statistic: float
    p_value: float
    effect: float  # KS distance or Cramér's V, in [0, 1]: the drift score
    drifted: bool


@dataclass
class DriftReport:
    model_version: str
    window: int
    reference_count: int
    alpha: float
    corrected_alpha: float
    min_effect: float
    drifted: bool
    features: list[FeatureDrift] = field(default_factory=list)
    window_start: float | None = None
    window_end: float | None = None

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def scores(self) -> dict[str, float]:
        return {f.feature: f.effect for f in self.features}

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["drifted_features"] = self.drifted_features
        return payload


def _ks(name: str, reference: list[float], window: np.ndarray) -> tuple[str, float, float, float]:
    result = stats.ks_2samp(np.asarray(reference, dtype=float), window)
    return "ks", float(result.statistic), float(result.pvalue), float(result.statistic)


def char_table(reference: dict[str, int], window: dict[str, int]) -> np.ndarray:
    """2 x K counts (reference, window); characters too rare for chi-square pool into one cell."""
    ref_total = sum(reference.values())
    win_total = sum(window.values())
    total = ref_total + win_total
    chars = sorted(set(reference) | set(window))
    kept, pooled = [], np.zeros(2)
    for char in chars:
        row = np.array([reference.get(char, 0), window.get(char, 0)], dtype=float)
        expected_min = row.sum() * min(ref_total, win_total) / max(total, 1)
        if expected_min >= MIN_EXPECTED:
            kept.append(row)
        else:
            pooled += row
    columns = kept + ([pooled] if pooled.sum() > 0 else [])
    return np.array(columns).T if columns else np.zeros((2, 0))


def _chi2(reference: dict[str, int], window: dict[str, int]) -> tuple[str, float, float, float]:
    table = char_table(reference, window)
    if table.shape[1] < 2 or table.sum(axis=1).min() == 0:
        return "chi2", 0.0, 1.0, 0.0
    result = stats.chi2_contingency(table, correction=False)
    cramers_v = float(np.sqrt(result.statistic / table.sum()))
    return "chi2", float(result.statistic), float(result.pvalue), cramers_v


def detect_drift(
    reference: Reference,
    window: list[PredictionRecord],
    alpha: float = 0.01,
    min_effect: float = 0.1,
    min_window: int = 20,
) -> DriftReport:
    """Compare a window of records with the reference; `drifted` if any feature is."""
    if len(window) < min_window:
        raise TextrecError(
            f"the window has {len(window)} prediction(s); drift tests need at least {min_window}"
        )
    tests: list[tuple[str, tuple[str, float, float, float]]] = []
    for name in CONTINUOUS_FEATURES:
        values = np.array([r.features[name] for r in window], dtype=float)
        tests.append((name, _ks(name, reference.features[name], values)))
    window_chars: dict[str, int] = {}
    for record in window:
        for char, count in record.chars.items():
            window_chars[char] = window_chars.get(char, 0) + count
    tests.append((CHAR_FEATURE, _chi2(reference.chars, window_chars)))
    corrected = alpha / len(tests)
    features = [
        FeatureDrift(name, test, stat, p, effect, bool(p < corrected and effect >= min_effect))
        for name, (test, stat, p, effect) in tests
    ]
    return DriftReport(
        model_version=reference.model_version,
        window=len(window),
        reference_count=reference.count,
        alpha=alpha,
        corrected_alpha=corrected,
        min_effect=min_effect,
        drifted=any(f.drifted for f in features),
        features=features,
        window_start=min(r.timestamp for r in window),
        window_end=max(r.timestamp for r in window),
    )
