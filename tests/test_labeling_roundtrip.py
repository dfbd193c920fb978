"""Label Studio round trip: store -> label-export -> (annotators) -> label-import -> real_lines,
then `dvc add` versions the new dataset."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from cli_helpers import run_cli
from line_fixture import TEXTS, render

from textrec_cli.containers import Prediction
from textrec_cli.data import real_lines
from textrec_cli.monitoring.records import make_record, png_bytes
from textrec_cli.monitoring.store import ImagePolicy, PredictionStore


@pytest.fixture
def store_with_images(workdir):
    path = workdir / "p.sqlite"
    with PredictionStore(path, ImagePolicy(keep=True)) as store:
        for i in range(12):
            text = f"{TEXTS[i % len(TEXTS)]} {i}"
            image = render(text)
            result = Prediction("", text.upper(), 0.2 + 0.06 * i, "line", "test-model")
            store.record(make_record(image, result, 10.0, "rest"), png_bytes(image))
    return path


def _annotate(tasks: list[dict]) -> list[dict]:
    """What Label Studio's JSON export looks like after annotators corrected the readings."""
    exported = []
    for i, task in enumerate(tasks):
        text = task["predictions"][0]["result"][0]["value"]["text"][0].lower()
        annotation = {
            "id": 100 + i, "completed_by": 1, "was_cancelled": False, "ground_truth": False,
            "created_at": "2026-01-01T10:00:00Z", "updated_at": "2026-01-01T10:00:00Z",
            "lead_time": 3.2, "task": i + 1,
            "result": [{"id": "r1", "from_name": "transcription", "to_name": "image",
                        "type": "textarea", "origin": "manual", "value": {"text": [text]}}],
        }  # fmt: skip
        exported.append({**task, "id": i + 1, "annotations": [annotation], "project": 1})
    return exported


def test_label_export_then_import_builds_a_real_lines_folder(store_with_images, workdir):
    out = workdir / "to_label"
    result = run_cli("label-export", out, "--store", store_with_images, "--limit", "10",
                     "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["tasks"] == 10 and summary["reasons"] == {"low_confidence": 5, "random": 5}

    tasks = json.loads((out / "tasks.json").read_text())
    scores = [t["predictions"][0]["score"] for t in tasks[:5]]
    assert scores == sorted(scores) and scores[0] == pytest.approx(0.2)  # lowest first
    prediction = tasks[0]["predictions"][0]
    assert prediction["model_version"] == "test-model"
    assert prediction["result"][0]["type"] == "textarea"
    assert tasks[0]["data"]["image"].startswith("/data/local-files/?d=to_label/images/")
    config = ET.fromstring((out / "label_config.xml").read_text())
    image, area = config.find("Image"), config.find("TextArea")
    assert image.get("value") == "$image" and area.get("toName") == image.get("name")
    assert area.get("name") == prediction["result"][0]["from_name"]
    assert len(list((out / "images").iterdir())) == 10

    exported = _annotate(tasks)
    exported[1]["annotations"][0]["result"][0]["value"]["text"] = ["   "]  # empty
    exported[2]["annotations"][0]["result"][0]["value"]["text"] = ["Привет"]  # unknown chars
    exported[3]["annotations"] = []  # not labeled yet
    exported[4]["annotations"][0]["was_cancelled"] = True  # skipped by the annotator
    exported.append({**exported[5], "id": 50})  # same image, same text
    conflict = json.loads(json.dumps(exported[6]))
    conflict["id"] = 51
    conflict["annotations"][0]["result"][0]["value"]["text"] = ["something else"]
    exported.append(conflict)
    export_file = out / "export.json"
    export_file.write_text(json.dumps(exported, ensure_ascii=False))

    strict = run_cli("label-import", export_file, "--output", workdir / "lines", "--strict")
    assert strict.exit_code == 2 and "nothing written" in strict.stderr
    assert not (workdir / "lines").exists()

    imported = run_cli("label-import", export_file, "--output", workdir / "lines", "--json")
    assert imported.exit_code == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert report["problem_counts"] == {
        "empty": 1, "unknown_chars": 1, "unlabeled": 1, "cancelled": 1, "duplicate": 1,
        "duplicate_conflict": 2,
    }  # fmt: skip
    assert report["tasks"] == 12 and report["imported"] == 5  # tasks 0, 5, 7, 8 and 9
    rows = real_lines.read_labels(workdir / "lines")
    assert len(rows) == report["imported"]
    assert all((workdir / "lines" / row["file"]).is_file() for row in rows)
    assert {row["text"] for row in rows} <= {t["predictions"][0]["result"][0]["value"]["text"][0]
                                            .lower() for t in tasks}  # fmt: skip
    dataset = real_lines.load(workdir / "lines", workdir / "data", show_progress=False)
    lines = sum(len(split.texts) for split in dataset.splits.values())
    assert lines == report["imported"]
    assert all(image.shape[0] == 40 and image.dtype == np.uint8
               for split in dataset.splits.values() for image in split.images)  # fmt: skip

    human = run_cli("label-import", export_file, "--output", workdir / "lines2")
    assert human.exit_code == 0 and "unknown_chars" in human.stdout


def test_label_import_rejects_garbage(workdir):
    bad = workdir / "export.json"
    bad.write_text("{not json")
    result = run_cli("label-import", bad, "--output", workdir / "x")
    assert result.exit_code == 2 and "not a Label Studio JSON export" in result.stderr
    empty = run_cli("label-export", workdir / "out", "--store", workdir / "empty.sqlite")
    assert empty.exit_code == 1 and "nothing to export" in empty.stderr


def test_dvc_add_versions_the_imported_folder(workdir):
    """The README's commands: `dvc init` (here without git) then `dvc add FOLDER`."""
    if (
        shutil.which("dvc") is None
        and subprocess.run(
            [sys.executable, "-m", "dvc", "--version"], capture_output=True
        ).returncode
        != 0
    ):
        pytest.fail("dvc is not installed (it is a textrec dependency)")
    from line_fixture import make_lines_folder

    make_lines_folder(workdir / "data" / "labeled" / "batch-001")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}

    def dvc(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr + done.stdout
        return done

    dvc("init", "--no-scm")
    dvc("add", "data/labeled/batch-001")
    pointer = (workdir / "data" / "labeled" / "batch-001.dvc").read_text()
    assert "md5:" in pointer and "nfiles: 13" in pointer  # 12 images + labels.tsv
    (workdir / "data" / "labeled" / "batch-001" / "labels.tsv").write_text("file\ttext\n")
    assert "modified" in dvc("status").stdout  # DVC sees the dataset change


def test_contributions_round_trip_keeps_writers_apart(workdir):
    """label-export --source contributions pre-annotates with the prompt; label-import writes
    lines/ + labels.tsv with writer and licence, no writer in two splits; train can read it."""
    path = workdir / "c.sqlite"
    with PredictionStore(path) as store:
        for i in range(16):
            prompt = f"{TEXTS[i % len(TEXTS)]} {i}"
            writer = f"w{i % 8}" if i < 14 else None  # two anonymous lines
            store.add_contribution(
                png_bytes(render(prompt)), prompt, kind="canvas", writer_id=writer,
                licence="CC0-1.0" if i % 2 else "CC-BY-4.0",
            )  # fmt: skip
    out = workdir / "contrib"
    result = run_cli("label-export", out, "--store", path, "--source", "contributions", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["tasks"] == 16 and summary["reasons"] == {"contribution:canvas": 16}
    tasks = json.loads((out / "tasks.json").read_text())
    assert tasks[3]["predictions"][0]["result"][0]["value"]["text"] == [tasks[3]["data"]["prompt"]]
    assert (tasks[3]["data"]["writer_id"], tasks[3]["data"]["licence"]) == ("w3", "CC0-1.0")
    after = str(summary["last_id"] - 2)
    later = run_cli("label-export", workdir / "c2", "--store", path, "--source", "contributions",
                    "--after-id", after, "--json")  # fmt: skip
    assert json.loads(later.stdout)["tasks"] == 2

    exported = _annotate(tasks)  # the reviewer lower-cases every line
    exported[0]["data"]["writer_id"] = "tab\there"  # an edited export must not corrupt the TSV
    export_file = out / "export.json"
    export_file.write_text(json.dumps(exported, ensure_ascii=False))
    imported = run_cli("label-import", export_file, "--output", workdir / "real",
                       "--val-fraction", "0.5", "--json")  # fmt: skip
    assert imported.exit_code == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert report["imported"] == 15 and report["problem_counts"] == {"bad_provenance": 1}
    assert report["writers"] == 8
    rows = real_lines.read_labels(workdir / "real")
    assert all(row["file"].startswith("lines/") for row in rows)
    splits_of = {}
    for row in rows:
        splits_of.setdefault(row["writer"], set()).add(row["split"])
        assert row["licence"] in ("CC-BY-4.0", "CC0-1.0")
    assert all(len(splits) == 1 for splits in splits_of.values())  # no hand in two splits
    assert splits_of[""] == {"train"}  # anonymous lines never reach val
    assert {"train", "val"} <= set.union(*splits_of.values())
    again = run_cli("label-import", export_file, "--output", workdir / "real", "--json",
                    "--val-fraction", "0.5")  # fmt: skip
    assert json.loads(again.stdout)["splits"] == report["splits"]  # deterministic
    dataset = real_lines.load(workdir / "real", workdir / "data", show_progress=False)
    assert sum(len(split.texts) for split in dataset.splits.values()) == 15


def test_empty_review_gives_an_empty_set_that_training_skips(workdir):
    """No contribution reviewed yet: `dvc repro`'s contributions stage must still produce a set
    (`--allow-empty`), and training on it beside real folders reads only the real lines."""
    from line_fixture import make_lines_folder

    from textrec_cli.data.line_sources import load_line_split

    (workdir / "export.json").write_text("[]")
    failed = run_cli("label-import", str(workdir / "export.json"), "--output", str(workdir / "c"))
    assert failed.exit_code != 0 and "no usable transcriptions" in failed.output
    assert not (workdir / "c").exists()
    done = run_cli("label-import", str(workdir / "export.json"), "--output",
                   str(workdir / "c"), "--allow-empty")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert (workdir / "c" / "labels.tsv").read_text().splitlines() == [
        "file\tsplit\twriter\tlicence\ttext"
    ]
    real = make_lines_folder(workdir / "real")
    alone = load_line_split("real_lines", "train", workdir / "data", 40, [real])
    both = load_line_split("real_lines", "train", workdir / "data", 40, [real, workdir / "c"])
    assert len(both[1]) == len(alone[1]) > 0
