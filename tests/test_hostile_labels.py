"""Hostile Label Studio exports and labels.tsv files (issue 17): no path leaves its folder, no
user folder is deleted, odd JSON and broken TSV are one `error:` line or a reported problem."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_helpers import run_cli
from PIL import Image

from textrec_cli.data import real_lines
from textrec_cli.errors import InputError
from textrec_cli.labeling.ingest import MARKER_FILE, MAX_TEXT_CHARS


def _line(path: Path) -> Path:
    image = Image.new("L", (160, 40), 255)
    image.paste(0, (10, 15, 150, 25))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _task(task_id: int, image_hash, text="hello world", image: str | None = None) -> dict:
    result = [{"from_name": "transcription", "to_name": "image", "type": "textarea",
               "value": {"text": [text]}}]  # fmt: skip
    data = {"image": image or f"/data/local-files/?d=x/images/{image_hash}.png"}
    if image_hash is not None:
        data["image_hash"] = image_hash
    return {"id": task_id, "data": data, "annotations": [{"id": 1, "result": result}]}


@pytest.fixture
def export_dir(workdir: Path) -> Path:
    """export/ with tasks.json + images/, a secret file beside it, and one good image."""
    folder = workdir / "export"
    _line(folder / "images" / "good.png")
    _line(workdir / "evil.png")  # what `../../evil` reaches from export/images
    _line(workdir / "secret" / "s.png")
    return folder


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


# 6. label-import path traversal ---------------------------------------------------------------


def test_label_import_never_leaves_its_folders(workdir: Path, export_dir: Path) -> None:
    (export_dir / "images" / "link.png").symlink_to(workdir / "secret" / "s.png")
    tasks = [
        _task(1, "good"),
        _task(2, "../../evil"),
        _task(3, "/etc/passwd"),
        _task(4, "link"),  # a symlink inside images/ that points outside it
        _task(5, None, image="/data/local-files/?d=../../evil.png"),  # name only: not found
    ]
    (export_dir / "tasks.json").write_text(json.dumps(tasks))
    out = workdir / "out" / "batch"
    before = _files(workdir)
    result = run_cli("label-import", export_dir / "tasks.json", "--output", out, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["imported"] == 1
    kinds = {p["task_id"]: p["kind"] for p in report["problems"]}
    assert kinds == {2: "unsafe_path", 3: "unsafe_path", 4: "unsafe_path", 5: "missing_image"}
    written = _files(workdir) - before
    assert written and all(out in p.parents for p in written), written
    labels = (out / "labels.tsv").read_text()
    assert ".." not in labels and "/etc" not in labels and "images/good.png" in labels


# 9. an existing folder is never deleted -------------------------------------------------------


def test_label_import_refuses_a_folder_it_did_not_write(workdir: Path, export_dir: Path) -> None:
    (export_dir / "tasks.json").write_text(json.dumps([_task(1, "good")]))
    mine = workdir / "my_thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("precious")
    result = run_cli("label-import", export_dir / "tasks.json", "--output", mine)
    assert result.exit_code == 2 and "label-import did not write" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (mine / "chapter1.tex").read_text() == "precious"
    assert sorted(p.name for p in mine.iterdir()) == ["chapter1.tex"]
    # its own output (and an empty folder) can be re-imported into
    ok = workdir / "lines"
    ok.mkdir()
    for _ in range(2):
        again = run_cli("label-import", export_dir / "tasks.json", "--output", ok)
        assert again.exit_code == 0, again.stderr
        assert (ok / MARKER_FILE).is_file() and (ok / "labels.tsv").is_file()


# 10. odd JSON and huge transcriptions ---------------------------------------------------------


def test_label_import_reports_odd_json_and_caps_text(workdir: Path, export_dir: Path) -> None:
    tasks = [
        _task(1, "good"),
        _task(2, 12345),
        _task(3, ["a", "b"]),
        {"id": 4, "data": "not an object"},
        {"id": 5, "data": {"image": "x.png"}, "annotations": "nope"},
        {
            "id": 6,
            "data": {"image": "x.png"},
            "annotations": [{"result": [{"from_name": "transcription", "value": {"text": [7]}}]}],
        },  # fmt: skip
        _task(7, "good", text="a" * (10 * 1024 * 1024)),
    ]
    (export_dir / "tasks.json").write_text(json.dumps(tasks))
    out = workdir / "lines"
    result = run_cli("label-import", export_dir / "tasks.json", "--output", out, "--json")
    assert result.exit_code == 0 and "Traceback" not in result.stderr, result.stderr
    kinds = {p["task_id"]: p["kind"] for p in json.loads(result.stdout)["problems"]}
    assert kinds == {2: "malformed", 3: "malformed", 4: "malformed", 5: "malformed",
                     6: "malformed", 7: "too_long"}  # fmt: skip
    assert max(len(line) for line in (out / "labels.tsv").read_text().splitlines()) < 200
    assert MAX_TEXT_CHARS <= 1000


# 6 + 11. real_lines: paths confined, broken labels.tsv is one error line ----------------------


def _folder(workdir: Path, rows: list[str], name: str = "lines") -> Path:
    folder = workdir / name
    _line(folder / "images" / "a.png")
    _line(folder / "images" / "b.png")
    (folder / "labels.tsv").write_text("file\tsplit\ttext\n" + "".join(r + "\n" for r in rows))
    return folder


@pytest.mark.parametrize(
    "bad", ["../outside.png", "/etc/hostname", "images/../../outside.png", "images/link.png"]
)
def test_real_lines_refuses_files_outside_its_folder(workdir: Path, bad: str) -> None:
    _line(workdir / "outside.png")
    folder = _folder(workdir, ["images/a.png\ttrain\thello", f"{bad}\ttrain\tworld"])
    (folder / "images" / "link.png").symlink_to(workdir / "outside.png")
    with pytest.raises(InputError, match=r"labels.tsv: row 3: file .* (inside|outside)") as exc:
        real_lines.load(folder, workdir / "data", show_progress=False)
    assert bad.split("/")[-1] in str(exc.value) or "link" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_real_lines_still_reads_plain_paths(workdir: Path) -> None:
    folder = _folder(workdir, ["images/a.png\ttrain\thello", "images/b.png\tval\tworld"])
    dataset = real_lines.load(folder, workdir / "data", show_progress=False)
    assert {name: len(split.texts) for name, split in dataset.splits.items()} == {
        "train": 1, "val": 1,
    }  # fmt: skip


def test_real_lines_broken_labels_are_one_error_naming_file_and_line(workdir: Path) -> None:
    folder = _folder(workdir, ["images/a.png\ttrain\thello", "images/b.png"])
    with pytest.raises(InputError, match=r"labels.tsv: line 3 has no text"):
        real_lines.read_labels(folder)
    (folder / "labels.tsv").write_bytes(b"file\tsplit\ttext\nimages/a.png\ttrain\th\xe9llo\n")
    with pytest.raises(InputError, match="not UTF-8"):
        real_lines.read_labels(folder)
    huge = "images/a.png\ttrain\t" + "a" * 200_000
    (folder / "labels.tsv").write_text("file\tsplit\ttext\n" + huge + "\n")
    with pytest.raises(InputError, match="field larger than field limit"):
        real_lines.read_labels(folder)


@pytest.mark.parametrize("case", ["utf8", "short_row", "traversal"])
def test_evaluate_on_broken_labels_is_one_error_line(workdir: Path, case: str) -> None:
    folder = _folder(workdir, ["images/a.png\tval\thello"])
    labels = folder / "labels.tsv"
    if case == "utf8":
        labels.write_bytes(b"file\tsplit\ttext\nimages/a.png\tval\th\xe9llo\n")
    elif case == "short_row":
        labels.write_text("file\tsplit\ttext\nimages/a.png\n")
    else:
        labels.write_text(f"file\tsplit\ttext\n{os.path.abspath(workdir)}/x.png\tval\thi\n")
    result = run_cli("evaluate", "--dataset", "real_lines", "--lines-dir", folder,
                     "--split", "val", "--no-lm")  # fmt: skip
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr and "labels.tsv" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_real_lines_split_names_are_normalised_and_odd_ones_reported(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert [real_lines.split_name(s) for s in ("VAL", " valid ", "Training", "", None, "dev")] == [
        "val", "val", "train", "train", "train", "val",
    ]  # fmt: skip
    rows = ["images/a.png\tVAL\thello", "images/b.png\tvalid\tworld", "images/a.png\tTrain\tx",
            "images/b.png\tholdout\ty"]  # fmt: skip
    dataset = real_lines.load(_folder(workdir, rows), workdir / "data", show_progress=False)
    assert {name: len(split.texts) for name, split in dataset.splits.items()} == {
        "val": 2, "train": 1, "holdout": 1,
    }  # fmt: skip
    assert "'holdout': 1" in capsys.readouterr().err
