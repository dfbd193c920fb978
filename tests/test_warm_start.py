"""Warm starts: a new line head on a trained crnn's front end, and exact fine-tuning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from line_fixture import make_lines_folder

from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.errors import InputError
from textrec_cli.models import build_model
from textrec_cli.training.warm_start import copy_all, copy_matching_prefix


def test_line_tcn_takes_the_crnn_front_end_and_nothing_else() -> None:
    crnn = build_model("crnn", (40, None, 1), len(LINE_CHARSET))
    tcn = build_model("line_tcn", (40, None, 1), len(LINE_CHARSET))
    head_before = [w.copy() for w in tcn.layers[-1].get_weights()]
    copied = copy_matching_prefix(crnn, tcn)
    assert copied == 11  # 5 convolutions, 5 batch norms, the first Dense
    conv_pairs = zip(
        [layer for layer in crnn.layers if layer.weights][:copied],
        [layer for layer in tcn.layers if layer.weights][:copied],
        strict=True,
    )
    for source, target in conv_pairs:
        for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(head_before, tcn.layers[-1].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the output layer is the new model's own


def test_exact_copy_refuses_another_architecture() -> None:
    crnn = build_model("crnn", (40, None, 1), len(LINE_CHARSET))
    tcn = build_model("line_tcn", (40, None, 1), len(LINE_CHARSET))
    with pytest.raises(InputError, match="different architecture"):
        copy_all(crnn, tcn)


def test_train_line_tcn_from_a_saved_crnn(workdir: Path) -> None:
    folder = make_lines_folder(workdir / "lines")
    crnn_file = workdir / "crnn.keras"
    build_model("crnn", (40, None, 1), len(LINE_CHARSET)).save(crnn_file)
    result = run_cli(
        "train", "--model", "line_tcn", "--dataset", "real_lines", "--lines-dir", folder,
        "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2", "--no-wandb",
        "--init-from", crnn_file, "--output", workdir / "run",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "initialized 11 leading layers" in result.stderr
    result = run_cli(
        "train", "--model", "line_tcn", "--dataset", "real_lines", "--lines-dir", folder,
        "--epochs", "1", "--steps-per-epoch", "1", "--no-wandb",
        "--init-from", workdir / "missing", "--output", workdir / "run2",
    )  # fmt: skip
    assert result.exit_code == 2 and "no model at" in result.stderr
