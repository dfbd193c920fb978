"""Measure the drift monitor on a simulated stream: false alarms when nothing changed, and how
many requests each real shift needs before the alert fires. Used by the benchmark and the tests.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from textrec_cli.monitoring.drift import detect_drift
from textrec_cli.monitoring.records import PredictionRecord, make_record
from textrec_cli.monitoring.reference import Reference, build_reference
from textrec_cli.monitoring.simulate import SHIFTS, line_stream


def served_records(recognizer, images: list, batch_size: int = 64) -> list[PredictionRecord]:
    """Run images through the model like the server would, one record per request."""
    records = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        started = time.perf_counter()
        predictions = recognizer.predict_images([(str(i), im) for i, im in enumerate(batch)])
        latency = (time.perf_counter() - started) * 1000 / len(batch)
        records += [
            make_record(im, p, latency, "simulation")
            for im, p in zip(batch, predictions, strict=True)
        ]
    return records


def _take(stream, count: int) -> list:
    return list(itertools.islice(stream, count))


def first_alert(
    reference: Reference,
    records: list[PredictionRecord],
    window: int,
    check_every: int,
    **drift_options: Any,
) -> tuple[int | None, list[str]]:
    """Requests served until a check (every `check_every`, over the last `window`) alerts."""
    for served in range(check_every, len(records) + 1, check_every):
        if served < window:
            continue
        report = detect_drift(reference, records[served - window : served], **drift_options)
        if report.drifted:
            return served, report.drifted_features
    return None, []


def run_trial(
    recognizer,
    fonts_dir: Path,
    seed: int = 0,
    reference_size: int = 400,
    window: int = 50,
    null_windows: int = 50,
    check_every: int = 10,
    shift_requests: int = 100,
    shifts: tuple[str, ...] = SHIFTS[1:],
    alpha: float = 0.01,
    min_effect: float = 0.1,
) -> dict[str, Any]:
    """Reference, then `null_windows` disjoint unshifted windows, then each shift after a full
    unshifted window; returns the false-alarm rate and each shift's detection delay."""
    options = {"alpha": alpha, "min_effect": min_effect, "min_window": min(20, window)}
    started = time.perf_counter()
    reference = build_reference(
        recognizer, _take(line_stream(fonts_dir, "none", seed), reference_size), "simulation"
    )
    null_records = served_records(
        recognizer, _take(line_stream(fonts_dir, "none", seed + 1), null_windows * window)
    )
    alarms, alarm_features = 0, {}
    last_window: list[PredictionRecord] = []
    for start in range(0, null_windows * window, window):
        last_window = null_records[start : start + window]
        report = detect_drift(reference, last_window, **options)
        alarms += report.drifted
        for name in report.drifted_features:
            alarm_features[name] = alarm_features.get(name, 0) + 1
    results: dict[str, Any] = {}
    for number, shift in enumerate(shifts):
        shifted = served_records(
            recognizer, _take(line_stream(fonts_dir, shift, seed + 100 + number), shift_requests)
        )
        served, features = first_alert(
            reference, last_window + shifted, window, check_every, **options
        )
        results[shift] = {
            "alerted": served is not None and served > window,
            "false_alarm_before_shift": served is not None and served <= window,
            "detection_delay_requests": None if served is None else served - window,
            "drifted_features_at_alert": features,
        }
    return {
        "config": {
            "seed": seed, "reference_size": reference_size, "window": window,
            "null_windows": null_windows, "check_every": check_every,
            "shift_requests": shift_requests, "alpha": alpha, "min_effect": min_effect,
            "model_version": reference.model_version,
        },
        "false_alarms": alarms,
        "false_alarm_rate": alarms / null_windows,
        "false_alarm_features": alarm_features,
        "shifts": results,
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
