"""Line recognition: CTC, the line stem, line sources, training and reading on fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import json_lines, run_cli
from line_fixture import TEXTS, make_lines_folder, render

from textrec_cli.data import real_lines
from textrec_cli.decoding.beam import beam_decode
from textrec_cli.decoding.greedy import greedy_decode
from textrec_cli.errors import InputError
from textrec_cli.models import BLANK
from textrec_cli.models.ctc import ctc_loss
from textrec_cli.stems.line import line_stem

CHARSET = list("ab")


def _peaked(path: list[int], classes: int = 3, peak: float = 0.97) -> np.ndarray:
    probs = np.full((1, len(path), classes), (1 - peak) / (classes - 1))
    probs[0, np.arange(len(path)), path] = peak
    return np.log(probs).astype("float32")


@pytest.mark.backends
def test_greedy_collapses_repeats_and_blanks() -> None:
    log_probs = _peaked([1, 1, BLANK, 1, 2, 2, BLANK])  # a a _ a b b _ -> "aab"
    [(text, confidence)] = greedy_decode(log_probs, CHARSET)
    assert text == "aab"
    assert confidence == pytest.approx(0.97, abs=1e-3)


@pytest.mark.backends
def test_beam_search_agrees_with_greedy_on_a_peaked_posterior() -> None:
    log_probs = _peaked([BLANK, 2, 2, BLANK, 1, BLANK, 1])
    assert greedy_decode(log_probs, CHARSET)[0][0] == "baa"
    assert beam_decode(log_probs, CHARSET, beam_width=8)[0][0] == "baa"


@pytest.mark.backends
def test_ctc_loss_prefers_the_right_transcription() -> None:
    log_probs = _peaked([1, BLANK, 2, BLANK])
    right = float(np.asarray(ctc_loss(np.array([[1, 2]]), log_probs))[0])
    wrong = float(np.asarray(ctc_loss(np.array([[2, 1]]), log_probs))[0])
    padded = float(np.asarray(ctc_loss(np.array([[1, 2, -1, -1]]), log_probs))[0])
    assert 0 < right < wrong
    assert padded == pytest.approx(right, rel=1e-5)


def test_line_stem_fixed_height_any_polarity() -> None:
    image = render("hello world")
    stem = line_stem(image, 40)
    inverted = line_stem(image.point(lambda v: 255 - v), 40)
    assert stem.shape[0] == 40 and stem.dtype == np.uint8
    assert stem.shape[1] > 3 * 40  # a wide line stays wide
    assert np.abs(stem.astype(int) - inverted.astype(int)).mean() < 3
    assert stem.max() == 255 and stem[:, 0].max() < 128  # ink bright, trimmed with a margin


def test_real_lines_folder_is_read_and_cached(tmp_path: Path) -> None:
    folder = make_lines_folder(tmp_path / "lines")
    dataset = real_lines.load(folder, tmp_path / "data", 40, show_progress=False)
    assert len(dataset.splits["train"]) == 10 and len(dataset.splits["val"]) == 2
    assert dataset.splits["val"].texts == [TEXTS[0]] * 2
    cached = real_lines.cache_path(folder, tmp_path / "data", 40)
    assert cached.is_file()
    mtime = cached.stat().st_mtime_ns
    real_lines.load(folder, tmp_path / "data", 40, show_progress=False)
    assert cached.stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_real_lines_skips_unknown_characters_and_requires_labels(tmp_path: Path) -> None:
    folder = make_lines_folder(tmp_path / "lines", repeats=1)
    with open(folder / "labels.tsv", "a", encoding="utf-8") as fh:
        fh.write("lines/0_1.png\ttrain\tΩmega\n")
    dataset = real_lines.load(folder, tmp_path / "data", 40, show_progress=False)
    assert dataset.metadata["skipped"]["unknown_chars"] == 1
    (folder / "labels.tsv").unlink()
    with pytest.raises(InputError, match="no labels.tsv"):
        real_lines.load(folder, tmp_path / "data2", 40, show_progress=False)


def test_synthetic_handwriting_is_seeded(shared_fonts: Path) -> None:
    from textrec_cli.data import synthetic_handwriting
    from textrec_cli.data.corpus import TextSampler

    sampler = TextSampler(["The quick brown fox jumps over the lazy dog."] * 3, max_chars=30)
    generator = synthetic_handwriting.for_split("train", shared_fonts, sampler, 40)
    a = [generator.sample(np.random.default_rng(5)) for _ in range(2)]
    b = [generator.sample(np.random.default_rng(5)) for _ in range(2)]
    for (ia, ta), (ib, tb) in zip(a, b, strict=True):
        assert ta == tb and ta
        np.testing.assert_array_equal(ia, ib)
        assert ia.shape[0] == 40 and ia.max() > 200


def test_time_budget_schedule_warms_up_decays_and_stops() -> None:
    from textrec_cli.training.schedules import TimeBudget

    budget = TimeBudget(100, peak_lr=1e-3, warmup_fraction=0.1, floor=0.05)
    assert budget.learning_rate_at(0.05) == pytest.approx(5e-4)
    assert budget.learning_rate_at(0.1) == pytest.approx(1e-3)
    assert budget.learning_rate_at(1.0) == pytest.approx(5e-5)
    assert budget.learning_rate_at(0.5) > budget.learning_rate_at(0.9)


# under JAX too (line_cnn only: crnn trains under JAX in test_line_pack.py's round trip)
@pytest.mark.parametrize("model", ["crnn", pytest.param("line_cnn", marks=pytest.mark.backends)])
def test_train_evaluate_predict_line_model_on_fixture(workdir: Path, model: str) -> None:
    folder = make_lines_folder(workdir / "lines")
    run_dir = workdir / "runs" / model
    result = run_cli(
        "train", "--model", model, "--dataset", "real_lines", "--lines-dir", folder,
        "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4", "--no-wandb",
        "--output", run_dir, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert metadata["task"] == "line" and metadata["input_shape"][0] == 40
    assert "val_cer_real_lines" in metadata["metrics"]
    assert (run_dir / "checkpoints" / "last.keras").is_file()

    result = run_cli(
        "evaluate", run_dir, "--dataset", "real_lines", "--lines-dir", folder, "--split", "val",
        "--json", "--worst-dir", workdir / "worst",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["lines"] == 2 and report["cer"] >= 0.0
    assert (workdir / "worst" / "00.png").is_file() or report["cer"] == 0.0

    image = workdir / "line.png"
    render("go on").save(image)
    result = run_cli("predict", image, "--model", run_dir, "--json")
    assert result.exit_code == 0, result.stderr
    [row] = json_lines(result.stdout)
    assert row["mode"] == "line" and row["file"] == str(image)
    assert 0.0 <= row["confidence"] <= 1.0

    result = run_cli("predict", image, "--model", run_dir, "--mode", "char")
    assert result.exit_code == 1 and "cannot run in char mode" in result.stderr


def test_resume_continues_from_last_checkpoint(workdir: Path) -> None:
    folder = make_lines_folder(workdir / "lines")
    run_dir = workdir / "runs" / "resume"
    args = [
        "train",
        "--model",
        "line_cnn",
        "--dataset",
        "real_lines",
        "--lines-dir",
        str(folder),
        "--steps-per-epoch",
        "1",
        "--batch-size",
        "2",
        "--no-wandb",
        "--output",
        str(run_dir),
    ]
    assert run_cli(*args, "--epochs", "1").exit_code == 0
    result = run_cli(*args, "--epochs", "2", "--resume")
    assert result.exit_code == 0, result.stderr
    assert "resuming" in result.stderr
    state = json.loads((run_dir / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 2


def test_mix_with_synthetic_handwriting(
    workdir: Path, shared_fonts: Path, shared_corpus: Path
) -> None:
    folder = make_lines_folder(workdir / "lines")
    result = run_cli(
        "train", "--model", "line_cnn", "--dataset", "mix", "--lines-dir", folder,
        "--mix", "synthetic_handwriting=0.5,real_lines=0.5", "--fonts-dir", shared_fonts,
        "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4", "--no-wandb",
        "--val-lines", "3", "--output", workdir / "runs" / "mix", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])["metrics"]
    assert {"val_cer_real_lines", "val_cer_synthetic_handwriting"} <= set(metrics)


def test_bad_mix_is_a_clear_error(workdir: Path) -> None:
    result = run_cli("train", "--model", "crnn", "--dataset", "mix", "--mix", "nonsense")
    assert result.exit_code == 1 and "name=weight" in result.stderr
    result = run_cli("train", "--model", "crnn", "--dataset", "mix", "--mix", "klingon=1")
    assert result.exit_code == 1 and "unknown line dataset" in result.stderr


def test_backend_option_is_validated(workdir: Path) -> None:
    result = run_cli("train", "--model", "crnn", "--backend", "theano")
    assert result.exit_code == 1 and "--backend must be" in result.stderr
