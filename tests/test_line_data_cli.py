"""The line-data commands end to end: download iam / corpus, synth-lines, train on the result."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import run_cli
from iam_fixture import make_iam_archive

from textrec_cli.data.line_store import read_lines


def test_download_iam_from_archive_then_train(workdir: Path) -> None:
    archive = make_iam_archive(workdir / "iamdb.zip", n_forms=6, lines_per_form=2)
    result = run_cli("download", "iam", "--from", archive)
    assert result.exit_code == 0, result.stderr
    dataset = read_lines(workdir / "data" / "processed" / "iam_lines.h5")
    assert sum(len(s) for s in dataset.splits.values()) == 12
    result = run_cli(
        "train", "--model", "line_cnn", "--dataset", "iam_lines", "--epochs", "1",
        "--steps-per-epoch", "2", "--batch-size", "2", "--no-wandb", "--output",
        workdir / "runs" / "iam", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["run_dir"].endswith("iam")


def test_download_corpus_from_local_zip(workdir: Path, shared_corpus: Path) -> None:
    result = run_cli("download", "corpus", "--from", shared_corpus / "state_union.zip")
    assert result.exit_code == 0, result.stderr  # the default name: a public-domain corpus
    copied = workdir / "data" / "raw" / "corpus" / "state_union.zip"
    assert copied.read_bytes() == (shared_corpus / "state_union.zip").read_bytes()
    result = run_cli("download", "corpus", "--name", "brown", "--from", shared_corpus / "brown.zip")
    assert result.exit_code == 0, result.stderr


def test_synth_lines_from_synthetic_chars(workdir: Path, shared_fonts: Path, shared_corpus) -> None:
    result = run_cli(
        "synth-chars", "--fonts-dir", shared_fonts, "--per-class", "1", "--per-class-eval", "1",
        "--workers", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    result = run_cli("synth-lines", "--count", "20", "--max-length", "12", "--seed", "3")
    assert result.exit_code == 0, result.stderr
    path = workdir / "data" / "processed" / "emnist_lines.h5"
    first = read_lines(path)
    assert {k: len(v) for k, v in first.splits.items()} == {"train": 16, "val": 2, "test": 2}
    assert all(0 < len(t) <= 12 for t in first.splits["train"].texts)
    assert (
        run_cli("synth-lines", "--count", "20", "--max-length", "12", "--seed", "3").exit_code == 0
    )
    again = read_lines(path)
    assert first.splits["train"].texts == again.splits["train"].texts


def test_download_unknown_and_local_only_datasets(workdir: Path) -> None:
    result = run_cli("download", "mnist-of-mars")
    assert result.exit_code == 1 and "unknown dataset" in result.stderr
    result = run_cli("download", "emnist_lines")
    assert result.exit_code == 1 and "synth-lines" in result.stderr
