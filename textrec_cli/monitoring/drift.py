"""Has recent traffic drifted from the reference? A document-aware test per feature.

Traffic comes in documents: the lines of one page share a hand, a pen and a scan. A KS test
that counts 200 lines of ten pages as 200 independent draws fires on ordinary page-to-page
variation (measured on real streams: benchmarks/drift_real.py). So each feature's KS distance
is judged against its distribution over windows *resampled from the reference with the window's
document structure* (a block permutation: reference documents, in random order, fill the
window's documents with contiguous runs; the drawn lines are left out of the reference they are
compared with). A reference may hold several groups (collections): the window is compared with
the closest one, in the replicates as in the window, so traffic like any one known collection is
not drift. Per-feature p-values are adjusted for the number of features (min-p, with the same
replicates); a drift must also be large enough to matter (a KS distance of `min_effect`).
Resampling knows only the reference's own documents, so a feature must also pass a two-level
test of its level against new documents of the best-fitting group (document_levels.py): with
few reference documents a new one may lie outside all of them and still be ordinary.
The character histogram (chi-square, Cramér's V) is reported for the reader but does not raise
the alert: the reference keeps no per-line texts to resample. Nor do the features a reference
marks `report_only`: the model's outputs (confidence, reading length) on its own training lines
are not what it gives unseen lines (reference.py), so they would flag ordinary traffic; they
still pick the closest group and are reported, and the CER estimate watches confidence.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from textrec_cli.errors import TextrecError
from textrec_cli.monitoring.document_levels import GroupLevels, fit_levels, most_plausible
from textrec_cli.monitoring.documents import DEFAULT_BLOCK, document_ids, document_sizes
from textrec_cli.monitoring.features import CONTINUOUS_FEATURES
from textrec_cli.monitoring.records import PredictionRecord
from textrec_cli.monitoring.reference import Reference

CHAR_FEATURE = "char_histogram"
MIN_EXPECTED = 5.0  # chi-square needs this many expected counts per cell; rarer chars pool
MAX_BINS = 64  # KS distances are taken at (at most) this many reference quantiles
MAX_REPLICATES = 20_000
MAX_TEST_LINES = 600  # a longer window is tested on its newest lines (memory: lines x replicates)


@dataclass
class FeatureDrift:
    feature: str
    test: str  # "ks-documents" | "chi2"
    statistic: float
    p_value: float
    effect: float  # KS distance or Cramér's V, in [0, 1]: the drift score
    drifted: bool
    reference_median: float | None = None
    window_median: float | None = None
    change: str = ""  # for a person: "lines 40% wider"
    document_p_value: float | None = None  # its level vs new documents' (document_levels.py)


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
    documents: int = 0  # documents (pages / requests / blocks) the window holds
    closest_group: str = ""  # the reference group (collection) the window is compared with
    level_group: str = ""  # the group whose new documents the window's levels fit best
    replicates: int = 0
    summary: str = ""  # one sentence for a person
    accuracy: dict[str, Any] | None = None  # the estimated CER (accuracy.py), when calibrated

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    @property
    def alerted(self) -> bool:
        """Drift, or an estimated CER past its margin."""
        return self.drifted or bool(self.accuracy and self.accuracy.get("alert"))

    def scores(self) -> dict[str, float]:
        return {f.feature: f.effect for f in self.features}

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["drifted_features"] = self.drifted_features
        payload["alerted"] = self.alerted
        return payload


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


def _chi2(reference: dict[str, int], window: dict[str, int]) -> tuple[float, float, float]:
    table = char_table(reference, window)
    if table.shape[1] < 2 or table.sum(axis=1).min() == 0:
        return 0.0, 1.0, 0.0
    result = stats.chi2_contingency(table, correction=False)
    return (
        float(result.statistic),
        float(result.pvalue),
        float(np.sqrt(result.statistic / table.sum())),
    )


@dataclass
class _Prepared:
    """The reference in the form the test needs: per feature, each line's quantile bin; per
    group, cumulative bin counts; the documents as contiguous runs of line positions."""

    bins: np.ndarray  # (features, lines) bin index of each reference line
    edges: list[np.ndarray]  # per feature: the bin edges (reference quantiles)
    group_names: list[str]
    group_of_line: np.ndarray  # (lines,)
    cum_counts: np.ndarray  # (groups, features, MAX_BINS) lines <= each edge (padded)
    group_sizes: np.ndarray  # (groups,)
    documents: list[list[np.ndarray]]  # per group: each document's line positions
    levels: list[GroupLevels]  # per group: the two-level model of document levels


def _bin(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Bin k holds values in (edge[k-1], edge[k]]; the last bin holds values above all edges."""
    return np.searchsorted(edges, values, side="left")


def _prepare(ref: Reference) -> _Prepared:
    """Computed once per loaded reference (kept on the object: the check runs every N requests)."""
    cached = ref.__dict__.get("_prepared")
    if cached is None:
        cached = ref.__dict__["_prepared"] = _prepare_uncached(ref)
    return cached


def _prepare_uncached(ref: Reference) -> _Prepared:
    values = np.array([ref.features[name] for name in CONTINUOUS_FEATURES], dtype=float)
    lines = values.shape[1]
    edges = [np.unique(np.quantile(row, np.linspace(0, 1, MAX_BINS))) for row in values]
    bins = np.stack([_bin(e, row) for e, row in zip(edges, values, strict=True)])
    ids = ref.documents
    if len(ids) != lines:  # a reference from before documents were kept: independent lines
        ids = [f"line:{i}" for i in range(lines)]
    groups = ref.groups if len(ref.groups) == lines else ["all"] * lines
    names = sorted(set(groups))
    group_of_line = np.array([names.index(g) for g in groups])
    cum = np.zeros((len(names), len(CONTINUOUS_FEATURES), MAX_BINS + 1))
    documents: list[list[np.ndarray]] = []
    for g in range(len(names)):
        members = group_of_line == g
        for f in range(len(CONTINUOUS_FEATURES)):
            counts = np.bincount(bins[f, members], minlength=MAX_BINS + 1)
            cum[g, f] = np.cumsum(counts)
        runs: dict[str, list[int]] = {}
        for position in np.flatnonzero(members):
            runs.setdefault(ids[position], []).append(int(position))
        documents.append([np.array(run) for run in runs.values()])
    return _Prepared(
        bins, edges, names, group_of_line, cum[:, :, :MAX_BINS],
        np.bincount(group_of_line, minlength=len(names)), documents,
        fit_levels(values, list(ids), list(groups)),
    )  # fmt: skip


def _distances(window_cum: np.ndarray, m: int, prep: _Prepared, left_out=None) -> np.ndarray:
    """KS distance of each window (rows) to each group: (groups, features, rows).

    window_cum: (features, rows, bins) cumulative counts of the windows; left_out: (rows,) the
    group each row was drawn from (its lines leave that group's counts), or None."""
    out = np.empty((len(prep.group_names), window_cum.shape[0], window_cum.shape[1]), np.float32)
    window_cdf = (window_cum / m).astype(np.float32)
    for g in range(len(prep.group_names)):
        size = float(prep.group_sizes[g])
        ref_cdf = (prep.cum_counts[g] / size).astype(np.float32)[:, None, :]
        out[g] = np.abs(window_cdf - ref_cdf).max(axis=2)
        own = np.flatnonzero(left_out == g) if left_out is not None else np.empty(0, int)
        if own.size:
            rest = (prep.cum_counts[g][:, None, :] - window_cum[:, own, :]) / max(size - m, 1.0)
            out[g][:, own] = np.abs(window_cdf[:, own, :] - rest).max(axis=2)
    return out


def _closest(distances: np.ndarray) -> np.ndarray:
    """The group with the smallest summed distance, per row: (rows,)."""
    return distances.sum(axis=1).argmin(axis=0)


def _replicate_positions(
    prep: _Prepared, sizes: list[int], replicates: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Reference line positions (replicates, m) filling the window's documents from whole
    reference documents of one group (chosen in proportion to its lines); and the groups."""
    m = sum(sizes)
    usable = [g for g in range(len(prep.group_names)) if prep.group_sizes[g] > m]
    if not usable:  # a window larger than any group (a whole store): documents come round again
        usable = list(range(len(prep.group_names)))
    weights = prep.group_sizes[usable] / prep.group_sizes[usable].sum()
    chosen = rng.choice(usable, size=replicates, p=weights)
    positions = np.empty((replicates, m), dtype=np.int64)
    for g in np.unique(chosen):
        rows = np.flatnonzero(chosen == g)
        documents = prep.documents[g]
        orders = np.argsort(rng.random((len(rows), len(documents))), axis=1)  # permutations
        starts = rng.random((len(rows), len(documents)))
        for row, order, start_at in zip(rows, orders, starts, strict=True):
            cursor, filled = 0, 0
            for size in sizes:
                need = size
                while need > 0:
                    number = order[cursor % len(order)]
                    doc = documents[number]
                    cursor += 1
                    take = min(need, len(doc))
                    start = int(start_at[number] * (len(doc) - take + 1))
                    positions[row, filled : filled + take] = doc[start : start + take]
                    filled += take
                    need -= take
    return positions, chosen


def _window_cum(bins: np.ndarray) -> np.ndarray:
    """(features, rows, m) bin indexes -> (features, rows, MAX_BINS) cumulative counts."""
    features, rows, _ = bins.shape
    offsets = (np.arange(features * rows, dtype=np.int32) * (MAX_BINS + 1)).reshape(
        features, rows, 1
    )
    counts = np.bincount(
        (bins.astype(np.int32) + offsets).ravel(), minlength=features * rows * (MAX_BINS + 1)
    )
    return np.cumsum(counts.reshape(features, rows, MAX_BINS + 1), axis=2)[:, :, :MAX_BINS]


def default_replicates(alpha: float, tests: int) -> int:
    """Enough replicates to resolve the family-wise level: with finite replicates the min-p
    adjusted p-value cannot fall below about tests / (replicates + 1)."""
    return int(min(MAX_REPLICATES, max(1000, math.ceil(2 * tests / alpha))))


def _adjusted_p_values(observed: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature p-values from the null replicates (features, replicates), and the same
    adjusted for testing all features at once by the single-step min-p method (Westfall and
    Young): P(the smallest replicate p-value over features <= this p). Unlike Bonferroni it
    does not pay for features that move together (width, aspect and reading length do)."""
    replicates = null.shape[1]
    raw = (1 + (null >= observed[:, None] - 1e-12).sum(axis=1)) / (replicates + 1)
    # each replicate's p-value among all replicates and the observed window (permutation style)
    ranks = stats.rankdata(-null, method="max", axis=1)  # replicates >= each one, itself too
    ranks = ranks + (observed[:, None] >= null - 1e-12)
    min_p = (ranks / (replicates + 1)).min(axis=0)
    adjusted = (1 + (min_p[None, :] <= raw[:, None] + 1e-12).sum(axis=1)) / (replicates + 1)
    return raw, np.minimum(adjusted, 1.0)


def detect_drift(
    reference: Reference,
    window: list[PredictionRecord],
    alpha: float = 0.01,
    min_effect: float = 0.1,
    min_window: int = 20,
    block: int = DEFAULT_BLOCK,
    replicates: int | None = None,
    seed: int = 0,
) -> DriftReport:
    """Compare a window of records with the reference; `drifted` if any feature is."""
    from textrec_cli.monitoring.describe import describe_change, summary_sentence

    if len(window) < min_window:
        raise TextrecError(
            f"the window has {len(window)} prediction(s); drift tests need at least {min_window}"
        )
    prep = _prepare(reference)
    window = window[-MAX_TEST_LINES:]
    ids = document_ids(window, block)
    sizes = document_sizes(ids)
    m = len(window)
    report_only = set(reference.report_only)
    tested = np.array([name not in report_only for name in CONTINUOUS_FEATURES])
    tests = int(tested.sum())
    if tests == 0:
        raise TextrecError("the reference marks every feature report-only: nothing to test")
    replicates = replicates or default_replicates(alpha, tests)
    values = np.array([[r.features[n] for r in window] for n in CONTINUOUS_FEATURES], float)
    window_bins = np.stack([_bin(e, row) for e, row in zip(prep.edges, values, strict=True)])
    observed_all = _distances(_window_cum(window_bins[:, None, :]), m, prep)[:, :, 0]
    closest = int(_closest(observed_all[:, :, None])[0])
    observed = observed_all[closest]

    rng = np.random.default_rng(seed)
    positions, drawn = _replicate_positions(prep, sizes, replicates, rng)
    null_bins = prep.bins[:, positions]  # (features, replicates, m)
    # drawn lines leave their group's counts, unless the window outgrew the group (reused lines)
    left_out = drawn if m < prep.group_sizes.max() else None
    null_all = _distances(_window_cum(null_bins), m, prep, left_out=left_out)
    null = null_all[
        _closest(null_all), np.arange(len(CONTINUOUS_FEATURES))[:, None], np.arange(replicates)
    ]
    # the family is the tested features; report-only ones keep their own (unadjusted) p-value
    adjusted = (1 + (null >= observed[:, None] - 1e-12).sum(axis=1)) / (replicates + 1)
    adjusted[tested] = _adjusted_p_values(observed[tested], null[tested])[1]
    corrected = alpha  # family-wise already: min-p adjustment over the features
    # and the window's levels must be unlike those of new documents of every group: a feature
    # drifts only when both tests say so (intersection-union: its p-value is the larger one)
    level_group, level_p = most_plausible(prep.levels, values, sizes, tested)
    p_values = np.maximum(adjusted, level_p)

    closest_members = prep.group_of_line == closest
    features = []
    for f, name in enumerate(CONTINUOUS_FEATURES):
        ref_values = np.asarray(reference.features[name], float)[closest_members]
        ref_median, win_median = float(np.median(ref_values)), float(np.median(values[f]))
        drifted = bool(tested[f] and p_values[f] < alpha and observed[f] >= min_effect)
        features.append(FeatureDrift(
            name, "ks-documents" if tested[f] else "ks-documents (report only)",
            float(observed[f]), float(p_values[f]), float(observed[f]),
            drifted, ref_median, win_median,
            describe_change(name, ref_values, values[f]) if drifted else "",
            float(level_p[f]),
        ))  # fmt: skip
    window_chars: dict[str, int] = {}
    for record in window:
        for char, count in record.chars.items():
            window_chars[char] = window_chars.get(char, 0) + count
    statistic, p_value, cramers_v = _chi2(reference.chars, window_chars)
    features.append(FeatureDrift(CHAR_FEATURE, "chi2", statistic, p_value, cramers_v, False))
    report = DriftReport(
        model_version=reference.model_version,
        window=m,
        reference_count=reference.count,
        alpha=alpha,
        corrected_alpha=corrected,
        min_effect=min_effect,
        drifted=any(f.drifted for f in features),
        features=features,
        window_start=min(r.timestamp for r in window),
        window_end=max(r.timestamp for r in window),
        documents=len(sizes),
        closest_group=prep.group_names[closest],
        level_group=level_group,
        replicates=replicates,
    )
    report.summary = summary_sentence(report)
    return report
