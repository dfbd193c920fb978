"""Document-aware drift tests and the confidence -> CER estimate, on feature records built
directly (no model, no images): clustered like real traffic, where lines of a page are alike."""

from __future__ import annotations

import numpy as np
import pytest
from monitoring_helpers import clustered_records
from scipy import stats

from textrec_cli.errors import InputError, TextrecError
from textrec_cli.monitoring.accuracy import estimate_cer, fit_calibration
from textrec_cli.monitoring.describe import describe_change
from textrec_cli.monitoring.documents import document_ids
from textrec_cli.monitoring.drift import detect_drift
from textrec_cli.monitoring.features import CONTINUOUS_FEATURES, OUTPUT_FEATURES
from textrec_cli.monitoring.records import PredictionRecord
from textrec_cli.monitoring.reference import Reference


def _per_line_ks_fires(reference: Reference, window: list[PredictionRecord]) -> bool:
    """The old rule: per-line KS, Bonferroni over the features, KS distance >= 0.1."""
    level = 0.01 / len(CONTINUOUS_FEATURES)
    return any(
        stats.ks_2samp(reference.features[n], [r.features[n] for r in window]).pvalue < level
        and stats.ks_2samp(reference.features[n], [r.features[n] for r in window]).statistic >= 0.1
        for n in CONTINUOUS_FEATURES
    )


@pytest.fixture(scope="module")
def reference() -> Reference:
    records = clustered_records(documents=150, seed=1)
    return Reference.from_records(records, "test-model", "clustered", ["a"] * len(records))


def test_clustered_traffic_is_quiet_where_per_line_ks_fires(reference):
    """New documents of the same kind: the per-line test fires on page-to-page variation (the
    failure of issue 22); resampling whole documents keeps false alarms rare."""
    windows = [clustered_records(documents=10, seed=100 + i) for i in range(20)]
    document_alarms = sum(detect_drift(reference, w).drifted for w in windows)
    per_line_alarms = sum(_per_line_ks_fires(reference, w) for w in windows)
    assert per_line_alarms >= 10, per_line_alarms  # the clustering is strong enough to matter
    assert document_alarms <= 2, document_alarms


def test_a_real_shift_is_flagged_and_described(reference):
    shifted = clustered_records(documents=10, seed=7, ink_shift=60.0, width_scale=1.4)
    report = detect_drift(reference, shifted)
    assert report.drifted
    assert {"ink_level", "width"} <= set(report.drifted_features)
    changes = {f.feature: f.change for f in report.features if f.drifted}
    assert changes["ink_level"].startswith("ink much lighter")
    assert changes["width"].startswith("lines wider (+4")
    assert report.documents == 10 and "ink much lighter" in report.summary


def test_window_is_compared_with_its_closest_group():
    """A reference of two collections: traffic like either one is not drift."""
    a = clustered_records(documents=80, seed=2)
    b = clustered_records(documents=80, seed=3, ink_shift=80.0, width_scale=2.0, prefix="b")
    reference = Reference.from_records(a + b, "m", "two", ["a"] * len(a) + ["b"] * len(b))
    like_b = clustered_records(documents=10, seed=4, ink_shift=80.0, width_scale=2.0)
    report = detect_drift(reference, like_b)
    assert report.closest_group == "b" and not report.drifted, report.summary
    unlike = clustered_records(documents=10, seed=5, ink_shift=40.0, width_scale=3.5)
    assert detect_drift(reference, unlike).drifted


def test_document_ids_use_documents_batches_then_blocks():
    records = clustered_records(documents=2, seed=0, lines=3)  # documents set
    assert document_ids(records) == ["doc:d0"] * 3 + ["doc:d1"] * 3
    for i, record in enumerate(records):
        record.document = ""
        record.latency_ms = 5.0 if i < 4 else float(i)  # a 4-line batch, then single requests
    ids = document_ids(records, block=1)
    assert ids[:4] == ["batch:0"] * 4 and ids[4] != ids[5]
    assert document_ids(records, block=20)[4:] == ["block:0", "block:0"]
    with pytest.raises(ValueError):
        document_ids(records, block=0)


def test_describe_change_in_words():
    assert describe_change("width", np.array([100.0]), np.array([140.0])) == "lines wider (+40%)"
    assert describe_change("ink_level", np.array([80.0]), np.array([150.0])) == (
        "ink much lighter (+70 gray levels)"
    )
    assert describe_change("confidence", np.array([0.7]), np.array([0.5])).startswith(
        "model confidence lower"
    )


def _labelled(n: int, seed: int, shift: float = 0.0):
    """Confidences and per-line edits with a known relation: CER = 0.8 - 0.7 * confidence."""
    rng = np.random.default_rng(seed)
    confidence = np.clip(rng.uniform(0.2, 1.0, n) - shift, 0.0, 1.0)
    chars = rng.integers(20, 60, n)
    edits = rng.binomial(chars, np.clip(0.8 - 0.7 * confidence, 0, 1))
    return confidence, edits, chars


def test_calibration_estimates_cer_with_an_interval():
    confidence, edits, chars = _labelled(3000, seed=0)
    calibration = fit_calibration(confidence, edits, chars, "m", "test")
    assert np.all(np.diff(calibration.cer) <= 1e-12)  # decreasing in confidence
    assert calibration.baseline_cer == pytest.approx(edits.sum() / chars.sum())
    for shift, alert in ((0.0, False), (0.25, True)):
        conf, window_edits, window_chars = _labelled(200, seed=9, shift=shift)
        records = clustered_records(documents=10, seed=3, lines=20)
        for record, c, n in zip(records, conf, window_chars, strict=True):
            record.features["confidence"], record.features["text_length"] = float(c), float(n)
        estimate = estimate_cer(calibration, records, margin=0.05)
        measured = window_edits.sum() / window_chars.sum()
        assert abs(estimate["estimated_cer"] - measured) < 0.03, (estimate, measured)
        assert estimate["low"] <= estimate["estimated_cer"] <= estimate["high"]
        assert estimate["alert"] is alert and estimate["documents"] == 10
    with pytest.raises(TextrecError, match="too few"):
        fit_calibration(confidence[:50], edits[:50], chars[:50], "m", "test")


def test_reference_without_documents_still_loads_and_tests(tmp_path):
    """A reference.json written before documents and groups were kept: its lines count as
    independent (the old test's assumption), so clustered traffic alarms: rebuild it."""
    import json
    from dataclasses import asdict

    from textrec_cli.monitoring.reference import load_reference

    payload = asdict(Reference.from_records(clustered_records(30, seed=1), "m", "old"))
    for key in ("documents", "groups", "describes", "report_only"):
        del payload[key]
    (tmp_path / "reference.json").write_text(json.dumps(payload))
    old = load_reference(tmp_path)
    assert old.documents == [] and old.count == 600
    report = detect_drift(old, clustered_records(10, seed=3, ink_shift=80.0))
    assert report.drifted and "ink_level" in report.drifted_features


def test_window_larger_than_the_reference_is_tested_on_its_newest_lines():
    """A whole store as the window (labeling's pool): bounded memory, still a verdict."""
    small = Reference.from_records(clustered_records(20, seed=1), "m", "small")
    report = detect_drift(small, clustered_records(40, seed=2, ink_shift=80.0), replicates=1000)
    assert report.window == 600 and report.drifted and "ink_level" in report.drifted_features


def test_report_only_outputs_are_shown_not_tested(tmp_path):
    """A reference of the model's own training lines: it reads unseen pages less confidently
    (issue 22: Copiste train vs val), so confidence is reported there, not tested; ink is."""
    from textrec_cli.monitoring.reference import load_reference

    records = clustered_records(documents=60, seed=1)
    own = Reference.from_records(records, "m", "train lines", report_only=OUTPUT_FEATURES)
    unsure = clustered_records(documents=10, seed=6)
    for record in unsure:
        record.features["confidence"] -= 0.25
    report = detect_drift(own, unsure)
    row = {f.feature: f for f in report.features}["confidence"]
    assert not report.drifted and row.test == "ks-documents (report only)", report.summary
    assert row.effect > 0.5 and row.p_value < 0.01  # still measured for the reader
    every = Reference.from_records(records, "m", "all tested")
    assert detect_drift(every, unsure).drifted_features == ["confidence"]
    inky = clustered_records(documents=10, seed=6, ink_shift=80.0)
    assert "ink_level" in detect_drift(own, inky).drifted_features

    own.save(tmp_path)
    assert load_reference(tmp_path).report_only == list(OUTPUT_FEATURES)
    own.report_only = list(CONTINUOUS_FEATURES)  # nothing left to test: refused on load
    own.save(tmp_path)
    with pytest.raises(InputError, match="report_only"):
        load_reference(tmp_path)


def test_new_documents_beyond_a_few_known_ones_are_not_drift(monkeypatch):
    """Eight reference manuscripts (CREMMA-18's case): windows of two *new* manuscripts from
    the same population often lie outside all eight, which resampling the eight calls drift;
    the two-level model's predictive t keeps them quiet. A shift of several manuscripts'
    spread still alarms."""
    import textrec_cli.monitoring.drift as drift

    reference = Reference.from_records(clustered_records(8, seed=1, lines=60), "m", "eight")
    windows = [clustered_records(2, seed=200 + i, lines=60) for i in range(10)]
    alarms = sum(detect_drift(reference, w, replicates=1000).drifted for w in windows)
    assert alarms <= 1, alarms
    ink = clustered_records(2, seed=7, lines=60, ink_shift=90.0)
    shifted = detect_drift(reference, ink, replicates=1000)
    assert "ink_level" in shifted.drifted_features, shifted.summary

    def levels_say_drift(levels, values, sizes, tested):
        return levels[0].name, np.zeros(len(values))

    monkeypatch.setattr(drift, "most_plausible", levels_say_drift)  # resampling alone
    assert sum(detect_drift(reference, w, replicates=1000).drifted for w in windows) >= 3


def test_document_levels_count_a_window_document_once():
    """The same shift is far more surprising spread over ten new documents than in one."""
    from textrec_cli.monitoring.document_levels import fit_levels, window_p_values

    rng = np.random.default_rng(0)
    doc_levels = rng.normal(0, 1, 30)
    values = np.concatenate([lvl + rng.normal(0, 1, 20) for lvl in doc_levels])[None, :]
    ids = [f"d{i // 20}" for i in range(600)]
    (level,) = fit_levels(values, ids, ["a"] * 600)
    assert level.documents == 30 and level.df == 29
    assert 0.3 < level.between[0] < 0.8 and 0.3 < level.within[0] < 0.7  # normal-score units
    shifted = values[:, :200] * 0 + 1.5 + rng.normal(0, 1, (1, 200))
    assert window_p_values(level, shifted, [200])[0] > 0.05  # one unusual document
    assert window_p_values(level, shifted, [20] * 10)[0] < 0.001  # ten at once: a shift

    two = fit_levels(np.concatenate([values, values[:, :20]], axis=1), ids + ["b0"] * 20,
                     ["a"] * 600 + ["b"] * 20)  # fmt: skip
    alone = {lvl.name: lvl for lvl in two}["b"]  # one document: the other group's spread
    assert alone.df == 2 and alone.between[0] > 0.2


def test_calibration_length_term_sees_what_confidence_cannot(tmp_path):
    """Short readings err more than their confidence says (dropped characters are invisible to
    it): the length term learns that; a file from before it (no length fields) still loads."""
    import json
    from dataclasses import asdict

    from textrec_cli.monitoring.accuracy import load_calibration

    def lines(n, seed, short_share):
        rng = np.random.default_rng(seed)
        confidence = rng.uniform(0.3, 1.0, n)
        reading = np.where(rng.random(n) < short_share, rng.integers(3, 8, n), 40)
        rate = np.clip(0.8 - 0.7 * confidence + 0.25 * (reading < 10), 0, 1)
        chars = reading + rng.integers(0, 3, n)
        return confidence, rng.binomial(chars, rate), chars, reading

    confidence, edits, chars, reading = lines(4000, 0, 0.3)
    with_length = fit_calibration(confidence, edits, chars, "m", "t", reading_chars=reading)
    plain = fit_calibration(confidence, edits, chars, "m", "t")
    assert with_length.length_slope < -0.05 and plain.length_slope == 0.0
    conf, window_edits, window_chars, window_reading = lines(400, 1, 0.8)  # mostly short
    records = clustered_records(documents=20, seed=3, lines=20)
    for record, c, n in zip(records, conf, window_reading, strict=True):
        record.features["confidence"], record.features["text_length"] = float(c), float(n)
    measured = window_edits.sum() / window_chars.sum()
    assert abs(estimate_cer(with_length, records)["estimated_cer"] - measured) < 0.03
    assert abs(estimate_cer(plain, records)["estimated_cer"] - measured) > 0.05

    payload = asdict(plain)
    del payload["length_intercept"], payload["length_slope"]
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(payload))
    old = load_calibration(path).line_cer(np.array([0.5]), np.array([3.0]))
    assert old[0] == pytest.approx(plain.line_cer(np.array([0.5]))[0])
