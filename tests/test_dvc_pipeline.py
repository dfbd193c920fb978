"""`dvc repro` on a fresh clone with the tiny profile: every stage runs, metrics come out.

The clone is built from the repository's files (committed and not-ignored new ones, so it works
while developing and in CI), its raw/ inputs come from fixtures and ../shared, are pushed to a
local DVC remote, and the clone pulls them back like a new machine would.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED
from line_fixture import TEXTS, make_lines_folder, render

from textrec_cli.fileio import sha256_file

REPO = Path(__file__).resolve().parents[1]
STAGES = ("download", "synth-chars", "synth-lines", "contributions", "train", "evaluate", "export")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTREC_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(WANDB_MODE="disabled", DVC_NO_ANALYTICS="1", TF_CPP_MIN_LOG_LEVEL="3")
    return env


def _run(*cmd: str, cwd: Path) -> str:
    if cmd[0] == "dvc":
        cmd = (sys.executable, "-m", "dvc", *cmd[1:])
    result = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (
        f"{' '.join(cmd)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result.stdout


def _git(*args: str, cwd: Path) -> str:
    return _run("git", "-c", "user.name=t", "-c", "user.email=t@t", *args, cwd=cwd)


def _copy_repo(dest: Path) -> None:
    """The files a clone would have: tracked ones plus new ones git does not ignore."""
    listing = _run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO)
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if name.startswith("raw/") or not source.is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / name)


def _tiny_raw(raw: Path) -> None:
    for needed in (SHARED / "corpus" / "inaugural.zip", SHARED / "fonts"):
        if not needed.exists():
            pytest.fail(f"{needed} is missing: the DVC pipeline test needs ../shared")
    (raw / "corpus").mkdir(parents=True)
    shutil.copy(SHARED / "corpus" / "inaugural.zip", raw / "corpus")
    shutil.copytree(SHARED / "fonts", raw / "fonts")
    make_lines_folder(raw / "lines" / "fixture")
    _tiny_contributions(raw / "contributions", raw.parent / "contributions.sqlite")
    for path in raw.rglob("*"):  # ../shared is read-only; DVC moves files into its cache
        path.chmod(0o755 if path.is_dir() else 0o644)


def _tiny_contributions(folder: Path, store_path: Path) -> None:
    """raw/contributions as a drive leaves it: label-export's folder + the reviewed export."""
    from textrec_cli.labeling.export import write_contributions_export
    from textrec_cli.monitoring.records import png_bytes
    from textrec_cli.monitoring.store import PredictionStore

    with PredictionStore(store_path) as store:
        for i, text in enumerate(TEXTS):
            store.add_contribution(png_bytes(render(text)), text, kind="canvas",
                                   licence="CC0-1.0", writer_id=f"w{i % 3}")  # fmt: skip
        write_contributions_export(store.contributions(), store, folder)
    store_path.unlink()
    tasks = json.loads((folder / "tasks.json").read_text())
    for number, task in enumerate(tasks, start=1):  # the reviewer accepts each prompt
        result = task["predictions"][0]["result"]
        task.update(id=number, annotations=[{"id": number, "result": result}])
    (folder / "export.json").write_text(json.dumps(tasks))


def test_dvc_repro_on_a_fresh_clone(tmp_path: Path) -> None:
    origin, clone, remote = tmp_path / "origin", tmp_path / "clone", tmp_path / "remote"
    origin.mkdir()
    _copy_repo(origin)
    for name in ("dvc.yaml", "params.yaml", "params.tiny.yaml", "data.dvc", ".dvc/config"):
        assert (origin / name).is_file(), f"{name} is not in the repository"
    shutil.copy(origin / "params.tiny.yaml", origin / "params.yaml")
    _tiny_raw(origin / "raw")
    _git("init", "-q", cwd=origin)
    _run("dvc", "remote", "modify", "local", "url", str(remote), cwd=origin)
    _run("dvc", "commit", "-f", "data.dvc", cwd=origin)  # data.dvc now records the tiny raw/
    _run("dvc", "push", cwd=origin)
    _git("add", "-A", cwd=origin)
    _git("commit", "-qm", "tiny profile", cwd=origin)

    _git("clone", "-q", str(origin), str(clone), cwd=tmp_path)
    assert not (clone / "raw").exists()
    _run("dvc", "pull", "data.dvc", cwd=clone)  # the inputs; the stages have not run yet
    assert (clone / "raw" / "lines" / "fixture" / "labels.tsv").is_file()
    _run("dvc", "repro", cwd=clone)

    for name, dataset, lines in (
        ("real_lines_val", "real_lines", 2),
        ("emnist_lines_test", "emnist_lines", 4),
    ):
        report = json.loads((clone / "metrics" / f"{name}.json").read_text())
        assert report["dataset"] == dataset and report["lines"] == lines
        assert math.isfinite(report["cer"]) and 0 <= report["cer"] <= 5
        assert report["ms_per_line"] > 0
    assert (clone / "models" / "line" / "model.keras").is_file()
    assert (clone / "models" / "line-export" / "model_w256.tflite").is_file()
    metadata = json.loads((clone / "models" / "line" / "metadata.json").read_text())
    assert metadata["config"]["steps_per_epoch"] == 2  # params.tiny.yaml reached the command
    [contributed] = metadata["contributions"]  # the model names the contribution set's version
    labels = clone / "data" / "contributions" / "labels.tsv"
    assert contributed["labels_sha256"] == sha256_file(labels)
    assert contributed["lines"] == len(TEXTS) and contributed["writers"] == 3

    shown = json.loads(_run("dvc", "metrics", "show", "--json", cwd=clone))
    files = next(iter(shown.values()))["data"]
    assert {Path(f).name for f in files} == {"real_lines_val.json", "emnist_lines_test.json"}
    assert all("cer" in entry["data"] for entry in files.values())
    dag = _run("dvc", "dag", cwd=clone)
    assert all(stage in dag for stage in (*STAGES, "data.dvc"))
    assert json.loads(_run("dvc", "status", "--json", cwd=clone)) == {}
