"""Drift monitoring on real handwriting streams: false alarms, detection delay, CER estimate.

Streams are the shared collections' lines in document order (pages / hands, as traffic comes):
- in-distribution: each collection's `val` lines (unseen pages or writers) against a reference
  built from the same collection's `train` lines, and against the bundled reference (mixed);
  the collections the bundled model trained on (its metadata) are marked as `--build-reference`
  marks them: their references test image features only, the model's outputs are report-only;
- shifts: a stream of one collection switching to another collection or era, or to synthetic
  font lines; the detection delay counts lines served after the switch until the alert.
The CER estimate (confidence -> CER calibration) is checked leave-one-collection-out.

The model's readings of every line are cached (benchmarks/results/drift_real_lines.jsonl.gz) so
reruns only redo the statistics; a new bundled model or LM (model_version) reads them anew.
Writes benchmarks/results/drift_real.json.

    python benchmarks/drift_real.py [--shared ../shared] [--windows 200,100] [--refresh-cache]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textrec_cli.fileio import atomic_path, write_json  # noqa: E402
from textrec_cli.monitoring.records import PredictionRecord  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / "drift_real_lines.jsonl.gz"
FOLDERS = ("copiste", "htr_united", "htr_united_more")
TRAIN_LINES = 1000  # train lines cached per collection (whole documents), for its reference
SYNTHETIC_LINES = 400
SYNTHETIC_DOC = 20  # synthetic lines come in "documents" of this many, like a page


def _cer_parts(label: str, text: str) -> tuple[int, int]:
    from textrec_cli.data.charsets import normalize_text
    from textrec_cli.evaluation.text_metrics import edit_distance

    truth = normalize_text(label)
    return edit_distance(truth, text), len(truth)


def build_cache(shared: Path, fonts: Path) -> None:
    """Read every shared line (and synthetic lines) with the bundled line model; cache rows."""
    from textrec_cli.inference.recognizer import Recognizer
    from textrec_cli.monitoring.line_sample import labeled_lines, read_lines, sample_documents
    from textrec_cli.monitoring.records import make_record
    from textrec_cli.monitoring.simulate import line_stream

    recognizer = Recognizer(None, "line")
    version = model_version()
    rows = []
    for name in FOLDERS:
        every = labeled_lines(shared / "data" / name)
        lines = [line for line in every if line.split != "train"]
        for collection in sorted({line.collection for line in every}):
            train = [x for x in every if x.split == "train" and x.collection == collection]
            lines += sample_documents(train, TRAIN_LINES, 25, seed=0)  # for references
        pairs = read_lines(recognizer, lines)
        assert len(pairs) == len(lines), f"{name}: unreadable lines"
        for line, record in pairs:
            edits, length = _cer_parts(line.text, record.text)
            rows.append({
                "model": version, "folder": name, "collection": line.collection,
                "document": line.document,
                "split": line.split, "file": line.path.name, "text": record.text,
                "edits": edits, "label_chars": length, "features": record.features,
            })  # fmt: skip
    images = list(itertools.islice(line_stream(fonts, "none", 7), SYNTHETIC_LINES))
    predictions = recognizer.predict_images([(str(i), im) for i, im in enumerate(images)])
    for i, (image, prediction) in enumerate(zip(images, predictions, strict=True)):
        record = make_record(image, prediction, 0.0, "simulation")
        rows.append({
            "model": version, "folder": "synthetic", "collection": "synthetic",
            "document": f"synthetic/{i // SYNTHETIC_DOC}", "split": "val", "file": str(i),
            "text": record.text, "edits": None, "label_chars": None, "features": record.features,
        })  # fmt: skip
    with atomic_path(CACHE) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def load_cache() -> list[dict]:
    with gzip.open(CACHE, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def to_record(row: dict, timestamp: float = 0.0) -> PredictionRecord:
    from collections import Counter

    return PredictionRecord(
        model_version="line_tcn", mode="line", source="benchmark", image_hash="",
        features=row["features"], text=row["text"], chars=dict(Counter(row["text"])),
        latency_ms=0.0, timestamp=timestamp, document=row["document"],
    )  # fmt: skip


IN_DISTRIBUTION = ("copiste", "poilus", "cremma19", "peraire", "cremma18")
# (reference collection, stream before the switch, stream after it); a switch judged with the
# bundled reference is skipped when the bundled model trained on its target (not a shift for it)
SHIFTS = (
    ("copiste", "copiste", "poilus"),  # modern volunteers -> 1900s soldiers' wills
    ("poilus", "poilus", "peraire"),  # 1900s wills -> one 20th-century travel writer
    ("copiste", "copiste", "cremma19"),  # modern -> 19th century
    ("copiste", "copiste", "cremma18"),  # modern -> 18th century
    ("poilus", "poilus", "berlioz"),  # 1900s -> 1830s letters
    ("peraire", "peraire", "poilus"),
    ("copiste", "copiste", "synthetic"),  # real hands -> font lines
    ("bundled", "copiste", "cremma18"),  # the bundled reference: to an era it never saw
    ("bundled", "poilus", "berlioz"),
    ("bundled", "copiste", "synthetic"),
    ("bundled", "peraire", "synthetic"),
)


def trained_collections(rows: list[dict]) -> set[str]:
    """Collections of the folders the bundled model trained on (its metadata), as
    `textrec monitor --build-reference` decides which lines are the model's own."""
    from textrec_cli import settings
    from textrec_cli.monitoring.reference import model_training_folders

    folders = model_training_folders(settings.BUNDLED_LINE_MODEL)
    return {r["collection"] for r in rows if r["folder"] in folders}


def model_version() -> str:
    """The bundled line model's version and its decoding LM's weights: a change in either
    changes the readings (the cache key)."""
    import hashlib

    from textrec_cli import settings

    metadata = json.loads((settings.BUNDLED_LINE_MODEL / "metadata.json").read_text())
    version = str(metadata.get("version", "?"))
    lm = settings.BUNDLED_LM / "lm.json"
    if settings.USE_LM and lm.is_file():
        version += f"+lm:{hashlib.sha256(lm.read_bytes()).hexdigest()[:12]}"
    return version


def _documents(rows: list[dict]) -> list[list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["document"]].append(row)
    return list(groups.values())


def _stream(docs: list[list[dict]], length: int, rng: np.random.Generator) -> list[dict]:
    """Documents in random order (lines in file order), passes repeated until `length` lines."""
    out: list[dict] = []
    while len(out) < length:
        for number in rng.permutation(len(docs)):
            out += docs[number]
    return out[:length]


def _references(rows: list[dict], trained: set[str]) -> dict:
    from textrec_cli import settings
    from textrec_cli.monitoring.features import OUTPUT_FEATURES
    from textrec_cli.monitoring.reference import Reference, load_reference

    refs = {}
    train = [r for r in rows if r["split"] == "train"]
    for name in sorted({r["collection"] for r in train}):
        chosen = [r for r in train if r["collection"] == name]
        own = name in trained  # as `--build-reference` marks the model's own lines
        refs[name] = Reference.from_records(
            [to_record(r) for r in chosen], "line_tcn", f"{name} train", [name] * len(chosen),
            {"model_training_lines": own}, report_only=OUTPUT_FEATURES if own else (),
        )  # fmt: skip
    refs["bundled"] = load_reference(settings.BUNDLED_LINE_MODEL)  # the file users get
    return refs


def _legacy_drift(reference, window) -> bool:
    """The previous test: per-line KS per feature, Bonferroni, KS distance >= 0.1."""
    from scipy import stats

    from textrec_cli.monitoring.features import CONTINUOUS_FEATURES

    level = 0.01 / (len(CONTINUOUS_FEATURES) + 1)
    for name in CONTINUOUS_FEATURES:
        result = stats.ks_2samp(reference.features[name], [r.features[name] for r in window])
        if result.pvalue < level and result.statistic >= 0.1:
            return True
    return False


def false_alarms(rows, refs, windows, passes: int, step_share: float, trained: set[str]) -> dict:
    """Sliding windows over each collection's val stream (documents shuffled, `passes` times)."""
    from textrec_cli.monitoring.drift import detect_drift

    val = [r for r in rows if r["split"] == "val"]
    out = {}
    for name in IN_DISTRIBUTION:
        docs = _documents([r for r in val if r["collection"] == name])
        for ref_name in (name, "bundled") if name in trained else (name,):
            for window in windows:
                rng = np.random.default_rng(1)
                stream = [to_record(r, i) for i, r in enumerate(_stream(docs, passes * 600, rng))]
                alarms, legacy, features = 0, 0, defaultdict(int)
                starts = range(0, len(stream) - window + 1, max(1, int(window * step_share)))
                for start in starts:
                    part = stream[start : start + window]
                    report = detect_drift(refs[ref_name], part, seed=start)
                    alarms += report.drifted
                    legacy += _legacy_drift(refs[ref_name], part)
                    for feature in report.drifted_features:
                        features[feature] += 1
                out[f"{name} vs {ref_name} ref, window {window}"] = {
                    "windows": len(starts), "val_documents": len(docs),
                    "false_alarm_rate": round(alarms / len(starts), 4),
                    "legacy_false_alarm_rate": round(legacy / len(starts), 4),
                    "alarm_features": dict(features),
                }  # fmt: skip
    return out


def detection(
    rows, refs, windows, trials: int, check_every: int, after: int, trained: set[str]
) -> dict:
    """Switch trials: a full window of the source stream, then the target's lines."""
    from textrec_cli.monitoring.drift import detect_drift

    out = {}
    for ref_name, source, target in SHIFTS:
        if ref_name == "bundled" and target in trained:
            continue
        source_docs = _documents(
            [r for r in rows if r["collection"] == source and r["split"] == "val"]
        )
        target_rows = [r for r in rows if r["collection"] == target]
        target_val = [r for r in target_rows if r["split"] == "val"]
        target_docs = _documents(target_val or target_rows)
        for window in windows:
            delays, before = [], 0
            for trial in range(trials):
                rng = np.random.default_rng(100 + trial)
                lines = _stream(source_docs, window, rng) + _stream(target_docs, after, rng)
                stream = [to_record(r, i) for i, r in enumerate(lines)]
                if detect_drift(refs[ref_name], stream[:window], seed=trial).drifted:
                    before += 1
                delay = None
                for served in range(window + check_every, window + after + 1, check_every):
                    part = stream[served - window : served]
                    if detect_drift(refs[ref_name], part, seed=trial).drifted:
                        delay = served - window
                        break
                delays.append(delay)
            found = [d for d in delays if d is not None]
            out[f"{source} -> {target} ({ref_name} ref), window {window}"] = {
                "trials": trials,
                "detected_within_100": round(sum(d <= 100 for d in found) / trials, 3),
                "detected_within_run": round(len(found) / trials, 3),
                "median_delay_lines": float(np.median(found)) if found else None,
                "false_alarm_on_source_window": before,
                "delays": delays,
            }
    return out


def cer_estimates(rows, windows: tuple[int, ...], trained: set[str]) -> dict:
    """Leave-one-collection-out: calibrate on the other collections' labelled lines, estimate
    each window of the held-out collection's stream, compare with its measured CER."""
    from textrec_cli import settings
    from textrec_cli.monitoring.accuracy import estimate_cer, fit_calibration, load_calibration

    bundled = load_calibration(settings.BUNDLED_LINE_MODEL)  # fitted on its folders' val lines
    labelled = [r for r in rows if r["label_chars"]]
    # lines the model never trained on: val lines, every line of a folder it did not train on
    unseen = [r for r in labelled if r["split"] == "val" or r["collection"] not in trained]
    out = {}
    for name in sorted({r["collection"] for r in unseen}):
        fit_rows = [r for r in unseen if r["collection"] != name]
        fit_args = (
            np.array([r["features"]["confidence"] for r in fit_rows]),
            np.array([r["edits"] for r in fit_rows]),
            np.array([r["label_chars"] for r in fit_rows]), "line_tcn", f"all but {name}",
        )  # fmt: skip
        lengths = np.array([r["features"]["text_length"] for r in fit_rows])
        calibration = fit_calibration(*fit_args, reading_chars=lengths)
        confidence_only = fit_calibration(*fit_args)  # the former estimator, for comparison
        docs = _documents([r for r in unseen if r["collection"] == name])
        for window in windows:
            rng = np.random.default_rng(2)
            stream = _stream(docs, max(window * 6, sum(map(len, docs))), rng)
            errors, covered, bundled_errors, former_errors = [], 0, [], []
            for start in range(0, len(stream) - window + 1, window // 2):
                part = stream[start : start + window]
                measured = sum(r["edits"] for r in part) / sum(r["label_chars"] for r in part)
                estimate = estimate_cer(calibration, [to_record(r) for r in part])
                errors.append(estimate["estimated_cer"] - measured)
                former = estimate_cer(confidence_only, [to_record(r) for r in part])
                former_errors.append(former["estimated_cer"] - measured)
                if bundled is not None:
                    records = [to_record(r) for r in part]
                    bundled_errors.append(
                        estimate_cer(bundled, records)["estimated_cer"] - measured
                    )
                covered += estimate["low"] <= measured <= estimate["high"]
            errors_array = np.array(errors)
            out[f"{name}, window {window}"] = {
                "windows": len(errors),
                "mean_abs_error": round(float(np.abs(errors_array).mean()), 4),
                "share_within_0.05": round(float((np.abs(errors_array) <= 0.05).mean()), 3),
                "mean_error": round(float(errors_array.mean()), 4),
                "interval_coverage": round(covered / len(errors), 3),
                "confidence_only_mean_abs_error": round(float(np.abs(former_errors).mean()), 4),
                "bundled_calibration_mean_abs_error": (
                    round(float(np.abs(bundled_errors).mean()), 4) if bundled_errors else None
                ),
                "measured_cer": round(
                    sum(r["edits"] for r in stream) / sum(r["label_chars"] for r in stream), 4
                ),
            }
    return out


PARTS = ("false_alarms", "detection", "cer_estimate")


def evaluate(
    rows: list[dict],
    windows: tuple[int, ...],
    trials: int,
    passes: int,
    check_every: int = 10,
    step_share: float = 0.25,
    parts: tuple[str, ...] = PARTS,
) -> dict:
    started = time.perf_counter()
    trained = trained_collections(rows)
    refs = _references(rows, trained)
    result = {
        "config": {"model": model_version(), "trained_on": sorted(trained),
                   "windows": list(windows), "trials": trials, "passes": passes,
                   "check_every": check_every, "false_alarm_step": f"{step_share} x window",
                   "alpha": 0.01, "min_effect": 0.1,
                   "reference_lines": {k: v.count for k, v in refs.items()},
                   "report_only": {k: v.report_only for k, v in refs.items()},
                   "bundled_reference": refs["bundled"].source},
    }  # fmt: skip
    if "false_alarms" in parts:
        result["false_alarms"] = false_alarms(rows, refs, windows, passes, step_share, trained)
    if "detection" in parts:
        result["detection"] = detection(rows, refs, windows, trials, check_every, 150, trained)
    if "cer_estimate" in parts:
        result["cer_estimate"] = cer_estimates(rows, windows, trained)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--refresh-cache", action="store_true")
    parser.add_argument("--cache-only", action="store_true")
    parser.add_argument("--windows", default="200,100")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--passes", type=int, default=3, help="val passes per stream (600 lines)")
    parser.add_argument("--check-every", type=int, default=10)
    parser.add_argument("--step-share", type=float, default=0.25, help="window slide / window")
    parser.add_argument("--output", type=Path, default=RESULTS / "drift_real.json")
    parser.add_argument("--parts", default=",".join(PARTS), help="which measurements to run")
    args = parser.parse_args()
    stale = CACHE.is_file() and load_cache()[0].get("model") != model_version()
    if args.refresh_cache or not CACHE.is_file() or stale:  # a new bundled model reads anew
        started = time.perf_counter()
        build_cache(args.shared, args.shared / "fonts")
        print(f"cached model readings in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.cache_only:
        return
    windows = tuple(int(w) for w in args.windows.split(","))
    load_before = os.getloadavg()  # a shared machine: say how busy it was
    result = evaluate(
        load_cache(),
        windows,
        args.trials,
        args.passes,
        args.check_every,
        args.step_share,
        tuple(args.parts.split(",")),
    )
    result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                         "loadavg_before": [round(x, 2) for x in load_before],
                         "loadavg_after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    write_json(args.output, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
