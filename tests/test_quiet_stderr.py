"""Commands that load TensorFlow (evaluate, train, export, ...) keep its native log lines
(absl's "All log messages before absl::InitializeLog()", cuInit's failure) off stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from line_fixture import make_lines_folder

ROOT = Path(__file__).resolve().parents[1]
NOISE = ("absl", "cuInit", "cuda", "TensorFlow binary")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))}


def test_evaluate_with_tensorflow_writes_no_native_noise(tmp_path: Path) -> None:
    folder = make_lines_folder(tmp_path / "lines")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "textrec_cli.cli",
            "evaluate",
            "--dataset",
            "real_lines",
            "--lines-dir",
            str(folder),
            "--split",
            "val",
            "--no-lm",
            "--json",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["lines"] == 2
    assert not [word for word in NOISE if word in result.stderr], result.stderr


def test_the_hook_is_what_silences_it() -> None:
    """The same import without the hook is noisy here (so the test above can fail), and
    Python errors raised while loading still reach stderr with it."""
    load = "import keras; keras.ops.ones(1); print('ok')"
    hooked = "from textrec_cli.inference.quiet import quiet_tensorflow_imports as q; q(); "
    plain = subprocess.run(
        [sys.executable, "-c", load], capture_output=True, text=True, env=_env(), timeout=300
    )
    quiet = subprocess.run(
        [sys.executable, "-c", hooked + load + "; raise SystemExit('boom')"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=300,
    )
    assert plain.returncode == 0 and plain.stdout.strip() == "ok"
    assert any(word in plain.stderr for word in NOISE), "no native noise to silence here"
    assert quiet.stdout.strip() == "ok" and quiet.stderr.strip() == "boom"
