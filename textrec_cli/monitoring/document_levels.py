"""Is a window's level of each feature one that a *new* document of the reference could have?

The KS test on resampled reference documents (drift.py) only knows the reference's own
documents. With few of them (CREMMA-18: eight manuscripts) a new manuscript that is lighter or
darker than all eight looks like drift, though it is ordinary manuscript-to-manuscript variation
(benchmarks/drift_real.py: 55% of CREMMA-18's val windows alarmed). This two-level
(random-effects) model extrapolates instead: each feature becomes normal scores of its rank in
the reference group; the group's document means give the between-document variance (one-way
ANOVA, method of moments), shrunk toward the other groups' when it has few documents; the
window's mean score is compared with its predictive distribution, Student's t on the documents'
degrees of freedom, whose heavier tails with few documents are the point. A window's own
documents count as one draw each: 200 lines of one new manuscript are one manuscript.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

PRIOR_DF = 2.0  # documents' worth of weight the other groups' between-document variance gets


@dataclass
class GroupLevels:
    """One reference group's feature levels: sorted values (for ranks) and variance parts."""

    name: str
    sorted_values: np.ndarray  # (features, lines)
    mean: np.ndarray  # (features,) mean normal score of the group's lines
    between: np.ndarray  # (features,) variance of document means (normal-score units)
    within: np.ndarray  # (features,) variance of lines around their document's mean
    documents: int
    lines: int
    weight_sq: float  # sum over documents of (lines / all lines)^2: the mean's document share
    df: float = 1.0


def normal_scores(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(features, m) values -> normal scores of their mid-rank among the sorted reference values
    (ties share a rank; values outside the reference land near +-3, never at infinity)."""
    n = sorted_values.shape[1]
    pairs = list(zip(sorted_values, values, strict=True))
    low = np.stack([np.searchsorted(s, v, "left") for s, v in pairs])
    high = np.stack([np.searchsorted(s, v, "right") for s, v in pairs])
    return special.ndtri(((low + high) / 2 + 0.5) / (n + 1))


def _one_group(name: str, values: np.ndarray, ids: list[str]) -> GroupLevels:
    sorted_values = np.sort(values, axis=1)
    scores = normal_scores(sorted_values, values)
    runs: dict[str, list[int]] = {}
    for position, doc in enumerate(ids):
        runs.setdefault(doc, []).append(position)
    docs = [np.array(run) for run in runs.values()]
    sizes = np.array([len(d) for d in docs], float)
    k, n = len(docs), scores.shape[1]
    mean = scores.mean(axis=1)
    if n > k and k > 1:  # one-way ANOVA: within-document and between-document mean squares
        doc_means = np.stack([scores[:, d].mean(axis=1) for d in docs], axis=1)
        doc_of_line = np.empty(n, dtype=np.int64)
        for number, d in enumerate(docs):
            doc_of_line[d] = number
        within = ((scores - doc_means[:, doc_of_line]) ** 2).sum(axis=1) / (n - k)
        between_ms = (sizes * (doc_means - mean[:, None]) ** 2).sum(axis=1) / (k - 1)
        n0 = (n - (sizes**2).sum() / n) / (k - 1)
        between = np.maximum(0.0, (between_ms - within) / n0)
    else:  # one-line documents (independent images) or one document: no spread between them
        within = scores.var(axis=1, ddof=1) if n > 1 else np.zeros(len(scores))
        between = np.zeros(len(scores))
    weight_sq = float(((sizes / n) ** 2).sum())
    return GroupLevels(name, sorted_values, mean, between, within, k, n, weight_sq)


def fit_levels(values: np.ndarray, ids: list[str], groups: list[str]) -> list[GroupLevels]:
    """Per group (sorted names), its levels; between-document variances shrunk toward the
    pooled one of the other groups (PRIOR_DF documents' worth), which also sets the t's df."""
    names = sorted(set(groups))
    members = {g: [i for i, name in enumerate(groups) if name == g] for g in names}
    fitted = [_one_group(g, values[:, members[g]], [ids[i] for i in members[g]]) for g in names]
    dfs = np.array([max(level.documents - 1, 0) for level in fitted], float)
    for number, level in enumerate(fitted):
        others = dfs.sum() - dfs[number]
        prior = min(PRIOR_DF, others)
        if prior > 0:
            pooled = sum(dfs[j] * fitted[j].between for j in range(len(fitted)) if j != number)
            level.between = (dfs[number] * level.between + prior * pooled / others) / (
                dfs[number] + prior
            )
        level.df = max(dfs[number] + prior, 1.0)
    return fitted


def window_p_values(level: GroupLevels, values: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Two-sided p-value per feature that the window's mean score is that of new documents of
    the group (`sizes`: the window's lines per document)."""
    m = sum(sizes)
    scores = normal_scores(level.sorted_values, values)
    share_sq = sum((s / m) ** 2 for s in sizes)
    variance = level.between * (share_sq + level.weight_sq) + level.within * (
        1 / m + 1 / level.lines
    )
    t = (scores.mean(axis=1) - level.mean) / np.sqrt(np.maximum(variance, 1e-12))
    return 2 * stats.t.sf(np.abs(t), level.df)


def most_plausible(
    levels: list[GroupLevels], values: np.ndarray, sizes: list[int], tested: np.ndarray
) -> tuple[str, np.ndarray]:
    """The group under which the window's tested features are least surprising (largest
    smallest p-value, ties by the sum of log p-values), and its p-values."""
    best: tuple[tuple[float, float], str, np.ndarray] | None = None
    for level in levels:
        p = window_p_values(level, values, sizes)
        key = (float(p[tested].min()), float(np.log(np.maximum(p[tested], 1e-300)).sum()))
        if best is None or key > best[0]:
            best = (key, level.name, p)
    assert best is not None
    return best[1], best[2]
