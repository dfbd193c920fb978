"""The fast line recipe: deterministic bucketed batches, one-file run state, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from cli_helpers import run_cli
from line_fixture import make_lines_folder

from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.errors import InputError
from textrec_cli.training.line_stream import BucketedBatches, LinePool

TINY = {"frontend": "strided", "units": 32, "blocks": 2, "frontend_widths": [8, 8, 16, 16]}


def _pools(rng: np.random.Generator) -> dict[str, LinePool]:
    def lines(n: int, lo: int, hi: int, tag: str) -> LinePool:
        widths = rng.integers(lo, hi, n)
        images = [rng.integers(1, 255, (40, int(w)), dtype=np.uint8) for w in widths]
        return LinePool(images, [f"{tag}{i}" for i in range(n)], augment=0.0)

    return {
        "real_lines": lines(300, 40, 900, "r"),
        "synthetic_handwriting": lines(300, 200, 500, "s"),
    }


def test_batches_are_a_function_of_step_and_keep_the_mix() -> None:
    pools = _pools(np.random.default_rng(0))
    weights = {"real_lines": 0.75, "synthetic_handwriting": 0.25}
    stream = BucketedBatches(pools, weights, LINE_CHARSET, batch_size=16, seed=3, buckets=6)
    again = BucketedBatches(pools, weights, LINE_CHARSET, batch_size=16, seed=3, buckets=6)
    for step in (0, 7, 123):
        x1, y1 = stream.batch(step)
        x2, y2 = again.batch(step)
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(stream.batch(1)[0], stream.batch(2)[0])
    real = total = 0
    for step in range(400):
        y = stream.batch(step)[1]
        first = y[:, 0]  # "r…" texts start with class of "r", "s…" with "s"
        real += int((first == LINE_CHARSET.index("r") + 1).sum())
        total += len(first)
    assert real / total == pytest.approx(0.75, abs=0.03)
    one_bucket = BucketedBatches(pools, weights, LINE_CHARSET, batch_size=16, seed=3, buckets=1)
    assert stream.padding_fraction(60) < 0.6 * one_bucket.padding_fraction(60)


def test_batch_stretch_cuts_padding_and_keeps_the_stretch_spread() -> None:
    """Augmented lines are stretched towards one random width per batch: little padding, while
    batch widths (the stretch) still vary from step to step."""
    rng = np.random.default_rng(1)
    images = []
    for w in rng.integers(200, 900, 200):
        image = np.zeros((40, int(w)), np.uint8)
        image[12:28, 2 : int(w) - 2] = 255  # ink from edge to edge
        images.append(image)
    pools = {"real_lines": LinePool(images, ["ab"] * 200, augment=1.0)}
    weights = {"real_lines": 1.0}
    per_line = BucketedBatches(pools, weights, LINE_CHARSET, 16, 0, 6, stretch_batches=False)
    per_batch = BucketedBatches(pools, weights, LINE_CHARSET, 16, 0, 6)
    assert per_batch.padding_fraction(40) < 0.5 * per_line.padding_fraction(40)
    x1, y1 = per_batch.batch(5)
    x2, y2 = per_batch.batch(5)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    # same bucket, different steps: the batch's width follows its own random stretch
    ratios = []
    for step in range(60):
        x, _ = per_batch.batch(step)
        ink = x[:, :, :, 0].max(axis=1) > 0
        ratios.append(ink.sum(axis=1).mean() / x.shape[2])
    assert np.mean(ratios) > 0.85


def test_fast_augmentation_reaches_a_requested_width_within_its_range() -> None:
    from textrec_cli.data.augment import augment_line_fast

    image = np.zeros((40, 300), np.uint8)
    image[12:28, 20:280:10] = 255
    assert augment_line_fast(image, np.random.default_rng(0), 1.0, width=330).shape[1] == 330
    assert augment_line_fast(image, np.random.default_rng(0), 1.0, width=290).shape[1] == 290
    # 3x the line's width is past 3 sigma of the stretch: it stops short
    assert augment_line_fast(image, np.random.default_rng(0), 1.0, width=900).shape[1] < 600


def test_fast_augmentation_keeps_height_and_varies_lines() -> None:
    from textrec_cli.data.augment import augment_line_fast

    image = np.zeros((40, 300), np.uint8)
    image[12:28, 20:280:10] = 255
    outs = [augment_line_fast(image, np.random.default_rng(s)) for s in range(8)]
    assert all(o.dtype == np.uint8 and o.shape[0] == 40 for o in outs)
    assert len({o.tobytes() for o in outs}) == 8
    same = augment_line_fast(image, np.random.default_rng(5))
    assert np.array_equal(same, outs[5])
    assert augment_line_fast(image, np.random.default_rng(0), 0.0) is image


def _config(folder: Path, **overrides):
    from textrec_cli.training.line_train import LineTrainConfig

    values = dict(
        model="line_tcn",
        mix={"real_lines": 1.0},
        lines_dirs=[str(folder)],
        epochs=2,
        steps_per_epoch=4,
        batch_size=4,
        learning_rate=3e-3,
        val_lines=4,
        recipe="fast",
        warmup_steps=2,
        model_options=dict(TINY),
        augment=1.0,
    )
    values.update(overrides)
    return LineTrainConfig(**values)


def _weights(state: Path) -> list[np.ndarray]:
    with h5py.File(state, "r") as f:
        return [f["model"][k][()] for k in sorted(f["model"])] + [
            f["optimizer"][k][()] for k in sorted(f["optimizer"])
        ]


@pytest.mark.backends
def test_run_stopped_and_resumed_lands_where_an_uninterrupted_run_lands(workdir: Path) -> None:
    from textrec_cli.training.line_loop import train_lines_fast
    from textrec_cli.training.run_state import read_header

    folder = make_lines_folder(workdir / "lines", repeats=3)
    data = workdir / "data"
    whole = workdir / "runs" / "whole"
    train_lines_fast(_config(folder), data, whole, use_wandb=False, show_progress=False)
    pieces = workdir / "runs" / "pieces"
    train_lines_fast(
        _config(folder), data, pieces, use_wandb=False, max_steps=3, show_progress=False
    )
    for _ in range(2):  # resumed twice more: 3 + 3 + 2 steps
        train_lines_fast(
            _config(folder, learning_rate=1.0),
            data,
            pieces,
            use_wandb=False,
            resume=True,
            max_steps=3,
            show_progress=False,
        )
    _, done = read_header(pieces / "state.h5")
    _, reference = read_header(whole / "state.h5")
    assert done.step == reference.step == 8 and done.sessions == 3
    assert done.lines_seen == reference.lines_seen == 32
    for a, b in zip(_weights(whole / "state.h5"), _weights(pieces / "state.h5"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # the saved config won: learning_rate=1.0 on the command line did not apply on resume
    assert json.loads((pieces / "metadata.json").read_text())["config"]["learning_rate"] == 3e-3
    assert (pieces / "state.h5").stat().st_size < 15 * 1024 * 1024
    # every evaluation: each steps_per_epoch steps, and where a session ended
    assert [h["step"] for h in done.history] == [3, 4, 6, 8]


def test_state_refuses_another_architecture(workdir: Path) -> None:
    from textrec_cli.training.line_loop import train_lines_fast

    folder = make_lines_folder(workdir / "lines")
    run = workdir / "runs" / "a"
    config = _config(folder, epochs=1)
    train_lines_fast(config, workdir / "data", run, use_wandb=False, show_progress=False)
    import keras

    from textrec_cli.models import build_model
    from textrec_cli.training.run_state import load_state

    other = build_model("line_tcn", (40, None, 1), len(LINE_CHARSET), units=16, blocks=1)
    optimizer = keras.optimizers.Adam()
    optimizer.build(other.trainable_variables)
    with pytest.raises(InputError, match="run state"):
        load_state(run / "state.h5", other, optimizer)
    with pytest.raises(Exception, match="already holds a run"):
        train_lines_fast(config, workdir / "data", run, use_wandb=False, show_progress=False)


def test_cli_fast_recipe_then_resume_and_summary(
    workdir: Path, shared_fonts: Path, shared_corpus: Path
) -> None:
    folder = make_lines_folder(workdir / "lines")
    run = workdir / "runs" / "fast"
    options = [a for k, v in TINY.items() for a in ("--model-option", f"{k}={json.dumps(v)}")]
    result = run_cli(
        "train",
        "--model",
        "line_tcn",
        "--dataset",
        "mix",
        "--recipe",
        "fast",
        "--mix",
        "synthetic_handwriting=0.3,real_lines=0.7",
        "--lines-dir",
        folder,
        "--fonts-dir",
        shared_fonts,
        "--synthetic-lines",
        "40",
        "--val-lines",
        "4",
        "--epochs",
        "3",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "4",
        "--no-wandb",
        "--output",
        run,
        "--json",
        "--time-budget",
        "0.01",
        *options,
    )
    assert result.exit_code == 0, result.stderr
    first = json.loads(result.stdout)["metrics"]
    assert first["steps"] == 1  # the time budget ended the session after one step
    assert list((workdir / "data" / "processed").glob("synthetic_handwriting-train-*/shard-*"))
    result = run_cli("train", "--resume", "--output", run, "--json", "--no-wandb")
    assert result.exit_code == 0, result.stderr
    assert "resuming" in result.stderr
    second = json.loads(result.stdout)["metrics"]
    assert second["steps"] == 6 and second["lines_seen"] == 24
    assert "val_cer_synthetic_handwriting" in second and "val_cer_real_lines:lines" in second
    from textrec_cli.training.campaign_summary import summary

    assert summary(run)["lines_seen"] == 24
    result = run_cli("predict", folder / "lines" / "0_1.png", "--model", run, "--json")
    assert result.exit_code == 0, result.stderr


def test_synthetic_lines_render_once(workdir: Path, shared_fonts: Path, monkeypatch) -> None:
    from textrec_cli.data import synthetic_handwriting, synthetic_pack
    from textrec_cli.data.corpus import TextSampler

    texts = TextSampler(["a few words of text", "Vive le roi", "hello there 42"], seed=0)
    gen = synthetic_handwriting.for_split("train", shared_fonts, texts)
    images, lines = synthetic_pack.rendered_lines(
        gen, 12, workdir / "data", workers=1, show_progress=False
    )
    assert len(images) == len(lines) == 12 and all(i.shape[0] == 40 for i in images)

    def fail(*args):
        raise AssertionError("rendered again")

    monkeypatch.setattr(synthetic_pack, "_render", fail)
    again, again_lines = synthetic_pack.rendered_lines(
        gen, 12, workdir / "data", workers=1, show_progress=False
    )
    assert again_lines == lines and all(
        np.array_equal(a, b) for a, b in zip(images, again, strict=True)
    )


def test_native_ctc_matches_keras_ctc() -> None:
    import keras
    from keras import ops

    from textrec_cli.models.ctc import PAD, ctc_loss

    if keras.backend.backend() != "tensorflow":
        pytest.fail("run under TensorFlow: the native kernel is TensorFlow's")
    rng = np.random.default_rng(0)
    log_probs = ops.log_softmax(ops.convert_to_tensor(rng.normal(size=(3, 30, 12)), "float32"))
    labels = np.full((3, 9), PAD, np.int32)
    for row, n in enumerate((9, 4, 1)):
        labels[row, :n] = rng.integers(1, 12, n)
    target = np.where(labels == PAD, 0, labels)
    expected = ops.ctc_loss(target, log_probs, (labels != PAD).sum(1), np.full(3, 30), 0)
    np.testing.assert_allclose(np.asarray(ctc_loss(labels, log_probs)), expected, rtol=1e-4)


def test_lines_too_narrow_for_their_text_are_widened_for_ctc() -> None:
    from textrec_cli.training.line_stream import ctc_min_width, fit_ctc

    assert ctc_min_width("abba") == 4 * 5  # a blank frame between the two b's
    narrow = np.full((40, 10), 200, np.uint8)
    assert fit_ctc(narrow, "abba").shape == (40, 20)
    wide = np.zeros((40, 64), np.uint8)
    assert fit_ctc(wide, "abba") is wide
    pools = {"real_lines": LinePool([narrow] * 4, ["a long text for ten px"] * 4, augment=1.0)}
    stream = BucketedBatches(pools, {"real_lines": 1.0}, LINE_CHARSET, batch_size=4, max_width=16)
    x, _ = stream.batch(0)
    assert x.shape[2] >= ctc_min_width("a long text for ten px")


def test_ctc_loss_of_an_impossible_alignment_is_zero_not_infinite() -> None:
    import keras

    from textrec_cli.models.ctc import PAD, ctc_loss

    if keras.backend.backend() != "tensorflow":
        pytest.fail("run under TensorFlow: the native kernel is TensorFlow's")
    log_probs = np.log(np.full((2, 3, 6), 1 / 6, np.float32))
    labels = np.array([[1, 2, PAD, PAD, PAD], [1, 2, 3, 4, 5]], np.int32)  # 5 labels, 3 frames
    loss = np.asarray(ctc_loss(labels, log_probs))
    assert np.isfinite(loss).all() and loss[1] == 0.0 and loss[0] > 0
