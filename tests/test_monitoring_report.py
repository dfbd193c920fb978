"""`textrec monitor` as a person uses it: a reference from a known-good period of the store, the
report in words, the estimated CER, the PNGs; and what the bundled reference says it holds."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from monitoring_helpers import clustered_records

from textrec_cli import settings
from textrec_cli.monitoring.accuracy import fit_calibration, load_calibration
from textrec_cli.monitoring.features import OUTPUT_FEATURES
from textrec_cli.monitoring.reference import load_reference
from textrec_cli.monitoring.store import PredictionStore

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _log(store: PredictionStore, records, start: float) -> None:
    """As `predict --log` would: one call per page, its lines sharing the call's latency."""
    for i, record in enumerate(records):
        record.timestamp = start + i
        record.latency_ms = 5.0 + int(record.document.lstrip("dx"))  # one batch per page
        record.document = ""  # the store keeps no document: the monitor infers the batches
        store.record(record)


def test_reference_from_store_then_report_in_words_with_plots(workdir):
    now = time.time()
    good_start = now - 7200
    path = workdir / "p.sqlite"
    with PredictionStore(path) as store:
        _log(store, clustered_records(documents=15, seed=1), good_start)
        _log(
            store,
            clustered_records(15, seed=2, ink_shift=70, width_scale=2.5, prefix="x"),
            now - 600,
        )
    ref = workdir / "model" / "reference.json"
    built = run_cli("monitor", "--build-reference", "--from-store", "--store", path,
                    "--since", _iso(good_start - 1), "--until", _iso(good_start + 400),
                    "--output", ref, "--json")  # fmt: skip
    assert built.exit_code == 0, built.stderr
    reference = load_reference(ref)
    assert reference.count == 300 and reference.describes["documents"] == 15
    assert reference.describes["synthetic_lines"] == 0

    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.3, 1.0, 400)
    chars = rng.integers(20, 60, 400)
    edits = rng.binomial(chars, 0.9 - 0.8 * confidence)
    fit_calibration(confidence, edits, chars, "test-model", "test").save(ref.parent)

    plots = workdir / "plots"
    result = run_cli("monitor", "--store", path, "--reference", ref, "--window", "200",
                     "--plot", plots, "--json", "--alert-file", workdir / "a.json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["drifted"] and report["documents"] == 10, report["summary"]
    assert "ink much lighter (+" in report["summary"] and "lines much wider (+" in report["summary"]
    assert 0.0 < report["accuracy"]["estimated_cer"] < 1.0
    assert report["accuracy"]["low"] <= report["accuracy"]["estimated_cer"]
    alert = json.loads((workdir / "a.json").read_text())
    assert alert["summary"] == report["summary"] and "ink_level" in alert["changes"]
    assert sorted(p.name for p in plots.iterdir()) == ["drift_histograms.png", "estimated_cer.png"]
    for png in plots.iterdir():
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000

    bad = run_cli("monitor", "--build-reference", "--from-store", "--store", path,
                  "--since", "last tuesday")  # fmt: skip
    assert bad.exit_code == 1 and "not a time" in bad.stderr
    empty = run_cli("monitor", "--build-reference", "--from-store", "--store", path,
                    "--since", _iso(now + 3600))  # fmt: skip
    assert empty.exit_code == 1 and "at least 100" in empty.stderr


def test_bundled_reference_says_what_it_holds():
    """Real train lines of the collections the bundled model was trained on, no synthetic."""
    reference = load_reference(settings.BUNDLED_LINE_MODEL)
    metadata = json.loads((settings.BUNDLED_LINE_MODEL / "metadata.json").read_text())
    trained_on = {p.rstrip("/").split("/")[-1] for p in metadata["config"]["lines_dirs"]}
    assert set(reference.describes["folders"]) == trained_on
    assert reference.describes["splits"] == ["train"]
    assert reference.describes["synthetic_lines"] == 0
    # the model's own lines: its outputs on them are not what unseen pages get (issue 22)
    assert reference.describes["model_training_lines"] is True
    assert reference.report_only == list(OUTPUT_FEATURES)
    assert set(reference.groups) == set(reference.describes["collections"])
    assert {"copiste", "poilus", "cremma19", "peraire"} <= set(reference.groups)
    assert len(reference.groups) == len(reference.documents) == reference.count >= 2000
    calibration = load_calibration(settings.BUNDLED_LINE_MODEL)
    assert calibration is not None and calibration.describes["splits"] == ["val"]
    assert calibration.model_version == reference.model_version
    assert np.all(np.diff(calibration.cer) <= 1e-12) and calibration.lines >= 1000


def test_reference_of_training_lines_marks_model_outputs_report_only(tmp_path):
    """Lines of a folder the model trained on (its metadata's lines_dirs) make a reference that
    says so and leaves confidence and reading length out of the test; other folders do not."""
    from types import SimpleNamespace

    from PIL import Image

    from textrec_cli.containers import Prediction
    from textrec_cli.monitoring.reference import model_training_folders, reference_from_lines

    folder = tmp_path / "my_lines"
    (folder / "lines").mkdir(parents=True)
    rows = ["file\tpage\tsplit\ttext"]
    for i in range(30):
        Image.new("L", (120 + i, 32), 255).save(folder / "lines" / f"{i}.png")
        rows.append(f"lines/{i}.png\tp{i // 10}\ttrain\tabc")
    (folder / "labels.tsv").write_text("\n".join(rows) + "\n")
    model = tmp_path / "model"
    model.mkdir()
    (model / "metadata.json").write_text(json.dumps({"config": {"lines_dirs": ["../my_lines/"]}}))
    reader = SimpleNamespace(
        predict_images=lambda items: [Prediction(n, "abc", 0.7, "line", "m") for n, _ in items]
    )
    trained = model_training_folders(model)
    assert trained == {"my_lines"} and model_training_folders(tmp_path) == set()
    own = reference_from_lines(reader, [folder], progress=False, trained_folders=trained)
    assert own.describes["model_training_lines"] and own.report_only == list(OUTPUT_FEATURES)
    assert own.count == 30 and own.describes["documents"] == 3
    other = reference_from_lines(reader, [folder], progress=False)
    assert not other.describes["model_training_lines"] and other.report_only == []


@pytest.mark.parametrize("bad", ["--block", "--window"])
def test_monitor_refuses_nonpositive_sizes(workdir, bad):
    result = run_cli("monitor", "--store", workdir / "p.sqlite", bad, "0")
    assert result.exit_code == 1 and "must be positive" in result.stderr


def test_bundled_reference_on_real_lines(shared_fonts):
    """The bundled model reads 200 unseen Copiste lines (whole pages) and 200 font-drawn lines
    (no collection it knows): the first is not drift, the second is."""
    import itertools

    from textrec_cli.inference.recognizer import Recognizer
    from textrec_cli.monitoring.drift import detect_drift
    from textrec_cli.monitoring.line_sample import by_document, labeled_lines, read_lines
    from textrec_cli.monitoring.records import make_record
    from textrec_cli.monitoring.simulate import line_stream

    data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (data / "copiste").is_dir():
        pytest.fail(f"{data}/copiste is needed (the shared real lines)")
    reference = load_reference(settings.BUNDLED_LINE_MODEL)
    recognizer = Recognizer(None, "line")
    lines = by_document(labeled_lines(data / "copiste", ("val",)))[:200]
    records = [r for _, r in read_lines(recognizer, lines, progress=False)]
    report = detect_drift(reference, records)
    assert not report.drifted and report.closest_group == "copiste", report.summary

    images = list(itertools.islice(line_stream(shared_fonts, "none", 3), 200))
    readings = recognizer.predict_images([(str(i), im) for i, im in enumerate(images)])
    fonts = []
    for i, (image, reading) in enumerate(zip(images, readings, strict=True)):
        fonts.append(make_record(image, reading, 1.0, "rest"))
        fonts[-1].document = f"font/{i // 20}"  # pages of 20 lines
    report = detect_drift(reference, fonts)
    assert report.drifted, report.summary
