"""download → train → evaluate → predict on a tiny EMNIST archive in the real format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import json_lines, run_cli
from PIL import Image

from textrec_cli.data.h5store import read_dataset


@pytest.fixture
def emnist_ready(workdir: Path, emnist_zip: Path) -> Path:
    result = run_cli("download", "emnist", "--from", emnist_zip)
    assert result.exit_code == 0, result.stderr
    path = workdir / "data" / "processed" / "emnist.h5"
    assert path.is_file()
    return path


@pytest.mark.backends
def test_train_lenet_one_epoch_then_evaluate(workdir: Path, emnist_ready: Path) -> None:
    run_dir = workdir / "runs" / "lenet"
    result = run_cli(
        "train",
        "--model",
        "lenet",
        "--dataset",
        "emnist",
        "--epochs",
        "1",
        "--no-wandb",
        "--output",
        run_dir,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["run_dir"] == str(run_dir)
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert metadata["model"] == "lenet"
    assert metadata["input_shape"] == [28, 28, 1]
    assert len(metadata["mapping"]) == 62
    assert metadata["dataset"]["checksum"] == read_dataset(emnist_ready).checksum
    assert metadata["config"]["epochs"] == 1
    assert (run_dir / "model.keras").is_file()
    assert (run_dir / "checkpoints" / "best.keras").is_file()

    report_path = workdir / "eval.json"
    result = run_cli(
        "evaluate",
        run_dir,
        "--dataset",
        "emnist",
        "--split",
        "test",
        "--output",
        report_path,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == json.loads(report_path.read_text())
    assert report["samples"] == 62 * 3
    assert 0.0 <= report["accuracy"] <= report["merged_accuracy"] <= 1.0
    assert set(report["per_class"]) == set(metadata["mapping"])


def test_trained_model_learns_and_predicts_files(workdir: Path, emnist_ready: Path) -> None:
    """An MLP on the fixture's class-coded blobs must beat chance by far, via `evaluate`."""
    run_dir = workdir / "runs" / "mlp"
    result = run_cli(
        "train",
        "--model",
        "mlp",
        "--dataset",
        "emnist",
        "--epochs",
        "25",
        "--augment",
        "0",
        "--lr",
        "3e-3",
        "--no-wandb",
        "--output",
        run_dir,
        "--patience",
        "25",
    )
    assert result.exit_code == 0, result.stderr
    result = run_cli("evaluate", run_dir, "--dataset", "emnist", "--split", "test", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["accuracy"] > 0.5  # chance is 1/62

    # predict reads image files through the same model, many files in one call
    test = read_dataset(emnist_ready, ("test",)).splits["test"]
    files = []
    for i in range(5):
        path = workdir / f"glyph{i}.png"
        Image.fromarray(test.x[i]).save(path)
        files.append(path)
    result = run_cli("predict", *files, "--model", run_dir, "--json")
    assert result.exit_code == 0, result.stderr
    rows = json_lines(result.stdout)
    assert [r["file"] for r in rows] == [str(f) for f in files]
    for row in rows:
        assert row["mode"] == "char"
        assert row["text"] in json.loads((run_dir / "metadata.json").read_text())["mapping"]
        assert 0.0 < row["confidence"] <= 1.0


def test_balance_by_class_weights(workdir: Path, emnist_ready: Path) -> None:
    result = run_cli(
        "train",
        "--model",
        "mlp",
        "--dataset",
        "emnist",
        "--epochs",
        "1",
        "--balance",
        "weights",
        "--no-wandb",
        "--output",
        workdir / "runs" / "w",
    )
    assert result.exit_code == 0, result.stderr


def test_wandb_offline_run_is_recorded(workdir: Path, emnist_ready: Path, monkeypatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = workdir / "runs" / "wb"
    result = run_cli(
        "train",
        "--model",
        "mlp",
        "--dataset",
        "emnist",
        "--epochs",
        "1",
        "--output",
        run_dir,
        "--max-train-samples",
        "200",
    )
    assert result.exit_code == 0, result.stderr
    assert "offline" in result.stderr
    offline_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    assert any(offline_runs[0].rglob("*.wandb"))


def test_class_weights_are_inverse_frequency() -> None:
    from textrec_cli.training.train import class_weights

    weights = class_weights(np.array([0, 0, 0, 1]), 3)
    assert weights[1] == pytest.approx(3 * weights[0])
    assert weights[2] == 0.0


def test_balanced_sampling_evens_out_classes() -> None:
    from textrec_cli.training.sequence import balanced_indices

    labels = np.array([0] * 900 + [1] * 100)
    picked = labels[balanced_indices(labels, 20000, np.random.default_rng(0))]
    assert abs(np.mean(picked == 1) - 0.5) < 0.03


def test_init_from_fine_tunes_an_existing_model(workdir: Path, emnist_ready: Path) -> None:
    import keras

    base = workdir / "runs" / "base"
    args = ["train", "--dataset", "emnist", "--epochs", "1", "--no-wandb", "--augment", "0"]
    assert run_cli(*args, "--model", "mlp", "--output", base).exit_code == 0
    tuned = workdir / "runs" / "tuned"
    result = run_cli(*args, "--model", "mlp", "--output", tuned, "--init-from", base,
                     "--lr", "1e-12")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    before = keras.saving.load_model(base / "model.keras").get_weights()
    after = keras.saving.load_model(tuned / "model.keras").get_weights()
    for a, b in zip(before, after, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    result = run_cli(*args, "--model", "lenet", "--output", workdir / "x", "--init-from", base)
    assert result.exit_code == 2 and "different architecture" in result.stderr
