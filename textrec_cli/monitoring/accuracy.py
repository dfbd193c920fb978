"""Estimated accuracy from the model's confidences: what users care about, without labels.

A calibration maps a line's confidence to its expected character error rate (edits per
character), fitted on labelled `val` lines as a decreasing isotonic regression
(scipy.optimize.isotonic_regression) over confidence bins, plus a term in the log of the
reading's length: confidence averages the frames that emitted a character, so it cannot see
characters the model dropped, and short readings (fragments, a word or two) err more than their
confidence says (leave-one-collection-out on five collections, benchmarks/drift_real.py: the
windows' mean absolute error 0.054 -> 0.034 on the former bundle, 0.038 -> 0.026 on s8500).
A window's estimate is the mean of its lines' expected CER weighted by reading length (CER
counts characters), with an interval from resampling whole documents (lines of one page err
together). It is saved as `calibration.json` beside the model and its reference; rebuild it
when the model changes (`textrec monitor --calibrate --lines-dir DIR`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import isotonic_regression

from textrec_cli.errors import InputError, TextrecError
from textrec_cli.fileio import write_json
from textrec_cli.monitoring.documents import DEFAULT_BLOCK, document_ids, document_index
from textrec_cli.monitoring.records import PredictionRecord

CALIBRATION_FILE = "calibration.json"
CALIBRATION_BINS = 40  # confidence bins (equal counts) fitted: a smooth, small table
DEFAULT_MARGIN = 0.05  # alert when the estimated CER exceeds the validation CER by this


@dataclass
class Calibration:
    model_version: str
    source: str
    confidence: list[float]  # increasing knots
    cer: list[float]  # expected CER at each knot (non-increasing)
    baseline_cer: float  # measured CER of the lines it was fitted on
    lines: int
    created_at: str = ""
    describes: dict[str, Any] = field(default_factory=dict)
    # expected CER += intercept + slope * ln(reading length); 0, 0 in files from before it
    length_intercept: float = 0.0
    length_slope: float = 0.0

    def line_cer(
        self, confidence: np.ndarray, reading_chars: np.ndarray | None = None
    ) -> np.ndarray:
        """Expected CER per line from its confidence and (when given) its reading's length."""
        expected = np.interp(np.asarray(confidence, float), self.confidence, self.cer)
        if reading_chars is not None:
            length = np.log(np.maximum(np.asarray(reading_chars, float), 1.0))
            expected = np.maximum(
                expected + self.length_intercept + self.length_slope * length, 0.0
            )
        return expected

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if path.is_dir():
            path = path / CALIBRATION_FILE
        write_json(path, asdict(self))
        return path


def fit_calibration(
    confidences: np.ndarray,
    edits: np.ndarray,
    label_chars: np.ndarray,
    model_version: str,
    source: str,
    describes: dict[str, Any] | None = None,
    reading_chars: np.ndarray | None = None,
) -> Calibration:
    """Isotonic (decreasing) CER over confidence bins, each bin's CER = its edits / its chars;
    with `reading_chars` (each line's reading length), a weighted least-squares line of the
    lines' remaining error over ln(reading length), weighted by their characters."""
    confidences = np.asarray(confidences, float)
    edits, chars = np.asarray(edits, float), np.asarray(label_chars, float)
    keep = chars > 0
    confidences, edits, chars = confidences[keep], edits[keep], chars[keep]
    if len(confidences) < 2 * CALIBRATION_BINS:
        raise TextrecError(
            f"{len(confidences)} labelled lines are too few to calibrate the CER estimate "
            f"(need {2 * CALIBRATION_BINS})"
        )
    order = np.argsort(confidences, kind="stable")
    parts = np.array_split(order, CALIBRATION_BINS)
    knots = np.array([confidences[p].mean() for p in parts])
    bin_cer = np.array([edits[p].sum() / chars[p].sum() for p in parts])
    weights = np.array([chars[p].sum() for p in parts])
    fitted = isotonic_regression(bin_cer, weights=weights, increasing=False).x
    slope = intercept = 0.0
    if reading_chars is not None:
        length = np.log(np.maximum(np.asarray(reading_chars, float)[keep], 1.0))
        if np.ptp(length) > 0:
            residual = edits / chars - np.interp(confidences, knots, fitted)
            slope, intercept = np.polyfit(length, residual, 1, w=np.sqrt(chars))
    return Calibration(
        model_version=model_version,
        source=source,
        confidence=[round(float(k), 6) for k in knots],
        cer=[round(float(c), 6) for c in fitted],
        baseline_cer=round(float(edits.sum() / chars.sum()), 6),
        lines=len(confidences),
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        describes=describes or {},
        length_intercept=round(float(intercept), 6),
        length_slope=round(float(slope), 6),
    )


def calibration_path(model_or_file: str | Path) -> Path:
    path = Path(model_or_file)
    return path / CALIBRATION_FILE if path.is_dir() else path


def load_calibration(model_or_file: str | Path) -> Calibration | None:
    """The calibration beside a model (or the file); None when there is none."""
    path = calibration_path(model_or_file)
    if not path.is_file():
        return None
    try:
        return Calibration(**json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a textrec calibration file ({exc})") from None


def estimate_cer(
    calibration: Calibration,
    records: list[PredictionRecord],
    margin: float = DEFAULT_MARGIN,
    block: int = DEFAULT_BLOCK,
    replicates: int = 1000,
    level: float = 0.9,
    seed: int = 0,
) -> dict[str, Any]:
    """The window's estimated CER with a `level` interval (documents resampled), and whether it
    is more than `margin` above the calibration's validation CER."""
    if not records:
        raise TextrecError("no predictions to estimate the CER of")
    lengths = np.array([r.features.get("text_length", 1.0) for r in records])
    expected = calibration.line_cer(np.array([r.confidence for r in records]), lengths)
    weights = np.maximum(lengths, 1.0)
    documents = document_index(document_ids(records, block))
    doc_errors = np.array([(expected[d] * weights[d]).sum() for d in documents])
    doc_chars = np.array([weights[d].sum() for d in documents])
    estimate = float(doc_errors.sum() / doc_chars.sum())
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(documents), size=(replicates, len(documents)))
    resampled = doc_errors[picks].sum(axis=1) / doc_chars[picks].sum(axis=1)
    low, high = np.quantile(resampled, [(1 - level) / 2, (1 + level) / 2])
    return {
        "estimated_cer": round(estimate, 4),
        "low": round(float(low), 4),
        "high": round(float(high), 4),
        "level": level,
        "baseline_cer": calibration.baseline_cer,
        "margin": margin,
        "alert": bool(estimate > calibration.baseline_cer + margin),
        "documents": len(documents),
    }


def calibration_from_lines(
    recognizer,
    lines_dirs: list[Path],
    splits: tuple[str, ...] = ("val",),
    progress: bool = True,
) -> Calibration:
    """Read every labelled `splits` line of real_lines folders and fit the calibration."""
    from textrec_cli.data.charsets import normalize_text
    from textrec_cli.evaluation.text_metrics import edit_distance
    from textrec_cli.monitoring.line_sample import labeled_lines, read_lines

    lines = [line for folder in lines_dirs for line in labeled_lines(Path(folder), splits)]
    if not lines:
        raise TextrecError(
            f"no {'/'.join(splits)} lines in {', '.join(map(str, lines_dirs))} to calibrate on"
        )
    pairs = read_lines(recognizer, lines, progress=progress)
    truths = [normalize_text(line.text) for line, _ in pairs]
    edits = [edit_distance(t, r.text) for t, (_, r) in zip(truths, pairs, strict=True)]
    collections = sorted({line.collection for line, _ in pairs})
    versions = sorted({r.model_version for _, r in pairs})
    return fit_calibration(
        np.array([r.confidence for _, r in pairs]),
        np.array(edits),
        np.array([len(t) for t in truths]),
        ",".join(versions),
        f"{len(pairs)} {'/'.join(splits)} lines of {', '.join(collections)}",
        {
            "folders": [Path(f).name for f in lines_dirs],
            "collections": collections,
            "splits": list(splits),
        },  # fmt: skip
        np.array([len(r.text) for _, r in pairs]),
    )
