"""`train --strategy`: mirrored over 2 logical CPUs, multiworker from TF_CONFIG, clear refusals.

Logical devices must be set before TensorFlow initialises, so each case runs in its own process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from line_fixture import make_lines_folder

from textrec_cli.errors import TextrecError
from textrec_cli.training.distribute import make_strategy, strategy_scope

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "WANDB_MODE": "disabled", **env}
    environ["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd, env=environ, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_mirrored_line_training_on_two_logical_cpus(tmp_path: Path) -> None:
    make_lines_folder(tmp_path / "lines")
    result = _python(
        """
        import json, sys
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        from textrec_cli.training.distribute import make_strategy
        print(json.dumps({"replicas": make_strategy("mirrored").num_replicas_in_sync}))
        from textrec_cli.cli import app
        app(["train", "--model", "crnn", "--dataset", "real_lines", "--lines-dir", "lines",
             "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4", "--val-lines", "2",
             "--strategy", "mirrored", "--no-wandb", "--json", "--output", "run",
             "--data-dir", "data"], standalone_mode=False)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert lines[0] == {"replicas": 2}
    assert lines[-1]["metrics"]["epochs_run"] == 1
    metadata = json.loads((tmp_path / "run" / "metadata.json").read_text())
    assert metadata["task"] == "line" and (tmp_path / "run" / "model.keras").is_file()


def test_multiworker_builds_from_a_single_worker_tf_config(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    tf_config = {
        "cluster": {"worker": [f"localhost:{port}"]},
        "task": {"type": "worker", "index": 0},
    }
    result = _python(
        """
        import keras
        import tensorflow as tf
        from textrec_cli.training.distribute import strategy_scope
        with strategy_scope("multiworker") as strategy:
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        kind = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        print(kind, strategy.num_replicas_in_sync, model.distribute_strategy is strategy)
        """,
        tmp_path,
        TF_CONFIG=json.dumps(tf_config),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-3:] == ["True", "1", "True"]


def test_default_is_a_no_op_and_bad_settings_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with strategy_scope("default") as strategy:
        assert strategy is None
    assert make_strategy(None) is None
    with pytest.raises(TextrecError, match="must be one of default, mirrored, multiworker"):
        make_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(TextrecError, match="needs TF_CONFIG"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(TextrecError, match="TF_CONFIG is not valid"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"index": 3}}')
    with pytest.raises(TextrecError, match="outside cluster.worker"):
        make_strategy("multiworker")


def test_non_tensorflow_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(TextrecError, match="needs the tensorflow Keras backend, not jax"):
        make_strategy("mirrored")
