"""The training skeleton (`training/loop.py`) and the config defaults trainers and CLI share."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from textrec_cli.training.configs import (
    DetectorTrainConfig,
    LineTrainConfig,
    TrainConfig,
    defaults_help,
    from_options,
)


def test_options_not_given_keep_the_config_defaults() -> None:
    config = from_options(LineTrainConfig, patience=None, batch_size=8, mix={"real_lines": 1.0})
    assert config.patience == LineTrainConfig.patience == 6 and config.batch_size == 8
    assert config.mix == {"real_lines": 1.0}
    assert from_options(DetectorTrainConfig, steps_per_epoch=None).steps_per_epoch == 50
    assert defaults_help("patience") == "Default 4 (chars), 6 (lines), 8 (pages)."
    assert defaults_help("epochs") == "Default 10."
    lines_pages = defaults_help("steps_per_epoch", "lines", "pages")
    assert lines_pages == "Default 200 (lines), 50 (pages)."
    with pytest.raises(TypeError):
        from_options(TrainConfig, steps_per_epoch=3)  # chars have no such option


def _plan(built: list):
    import keras

    from textrec_cli.training.loop import FitPlan

    class Batches(keras.utils.PyDataset):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, index: int):
            rng = np.random.default_rng(index)
            x = rng.normal(size=(8, 3)).astype("float32")
            return x, x.sum(1, keepdims=True)

    def build():
        built.append(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]))
        return built[-1]

    def compile_model(model, learning_rate) -> None:
        built.append(model)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", run_eagerly=True)

    return FitPlan(
        build=build,
        compile=compile_model,
        schedule=keras.optimizers.schedules.CosineDecay(0.01, 6),
        train_data=Batches(),
        steps_per_epoch=2,
        monitor="loss",
        describe="sums",
    )


def test_fit_run_saves_resumes_where_it_stopped_and_obeys_the_clock(workdir: Path) -> None:
    from textrec_cli.training.loop import fit_run

    run = workdir / "run"
    built: list = []
    fit = fit_run(_plan(built), TrainConfig(model="dense", epochs=2), run, use_wandb=False)
    assert fit.metrics()["epochs_run"] == 2 and fit.run is None
    assert (run / "checkpoints" / "best.keras").is_file()
    assert json.loads((run / "checkpoints" / "state.json").read_text())["epoch"] == 2

    built.clear()
    config = TrainConfig(model="dense", epochs=3)
    fit = fit_run(_plan(built), config, run, use_wandb=False, resume=True)
    assert len(built) == 1  # resumed from last.keras: compiled, never built afresh
    assert fit.metrics()["epochs_run"] == 1
    assert int(built[0].optimizer.iterations) == 3 * 2  # the schedule continued, not restarted
    with open(run / "history.csv") as fh:
        assert [row["epoch"] for row in csv.DictReader(fh)] == ["0", "1", "2"]

    clock = workdir / "clock"
    fit = fit_run(_plan([]), TrainConfig(model="dense", time_budget=1e-3), clock, use_wandb=False)
    assert fit.metrics()["epochs_run"] == 1  # the budget ended the run, not 1_000_000 epochs


def test_cli_options_left_out_take_each_kinds_defaults(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli_helpers import run_cli

    from textrec_cli.training import detector_train, line_train

    seen: list = []
    monkeypatch.setattr(detector_train, "train_detector", lambda c, *a: seen.append(c) or {})
    monkeypatch.setattr(line_train, "train_lines", lambda c, *a: seen.append(c) or {})
    for args in ("--model line_detector", "--model crnn --patience 2 --dataset real_lines"):
        result = run_cli("train", *args.split(), "--no-wandb", "--json")
        assert result.exit_code == 0, result.stderr
    assert seen == [
        DetectorTrainConfig(),
        LineTrainConfig(model="crnn", patience=2, mix={"real_lines": 1.0}),
    ]
    result = run_cli("train", "--model", "cnn", "--steps-per-epoch", "3", "--lr", "0.1")
    assert result.exit_code == 1
    assert "--steps-per-epoch: not an option for char models" in result.stderr
    monkeypatch.setenv("COLUMNS", "400")  # rich would wrap the help text
    help_text = " ".join(run_cli("train", "--help").stdout.split())
    assert defaults_help("patience") in help_text and "[default: 4]" not in help_text
