"""Line packs (`textrec pack`) and the JAX path to a lent GPU: pack → train under JAX without
TensorFlow → load under TensorFlow with the same logits; the device script end to end on CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from line_fixture import make_lines_folder

from textrec_cli.data import real_lines
from textrec_cli.data.line_pack import read_pack
from textrec_cli.errors import InputError

REPO = Path(__file__).resolve().parents[1]
NO_TENSORFLOW = Path(__file__).resolve().parent / "no_tensorflow"  # as on the GPU machine


def _pack(workdir: Path, name: str = "lines.h5") -> Path:
    folder = make_lines_folder(workdir / "lines")
    result = run_cli("pack", workdir / name, "--lines-dir", folder, "--json")
    assert result.exit_code == 0, result.stderr
    return workdir / name


def _jax_env(workdir: Path) -> dict[str, str]:
    """A subprocess env: JAX backend, TensorFlow and W&B unimportable, the venv's scripts first."""
    env = dict(os.environ, KERAS_BACKEND="jax", WANDB_MODE="disabled", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(NO_TENSORFLOW), str(REPO)])
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["TEXTREC_DATA_DIR"] = str(workdir / "data")
    return env


@pytest.mark.backends
def test_pack_holds_the_stems_and_says_where_they_came_from(workdir: Path) -> None:
    pack_path = _pack(workdir)
    pack = read_pack(pack_path)
    raw = real_lines.load(workdir / "lines", workdir / "data", 40, show_progress=False)
    assert pack.height == 40 and {k: len(v) for k, v in pack.splits.items()} == {
        "train": 10,
        "val": 2,
    }
    assert pack.splits["train"].texts == raw.splits["train"].texts
    for packed, stem in zip(pack.splits["train"].images, raw.splits["train"].images, strict=True):
        assert packed.shape == stem.shape and packed.dtype == np.uint8
        assert np.abs(packed.astype(int) - stem).mean() < 4  # JPEG, quality 75
    [source] = pack.provenance["sources"]
    assert source["name"] == "lines" and source["counts"] == {"train": 10, "val": 2}
    assert len(source["labels_sha256"]) == len(source["images_sha256"]) == 64
    assert pack.provenance["jpeg_quality"] == 75


def test_damaged_pack_is_one_clear_error(workdir: Path) -> None:
    pack_path = _pack(workdir)
    data = bytearray(pack_path.read_bytes())
    (workdir / "truncated.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt or unreadable line pack"):
        read_pack(workdir / "truncated.h5")
    # flip a byte inside the first JPEG (its SOI marker is FF D8 FF)
    offset = bytes(data).index(b"\xff\xd8\xff") + 40
    data[offset] ^= 0xFF
    (workdir / "flipped.h5").write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum mismatch"):
        read_pack(workdir / "flipped.h5")
    for bad in ("truncated.h5", "flipped.h5", "missing.h5"):
        result = run_cli(
            "evaluate", "--dataset", "real_lines", "--lines-dir", workdir / bad, "--split", "val"
        )
        assert result.exit_code == 2 and "line pack" in result.stderr
        assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
    result = run_cli("pack", workdir / "x.h5", "--lines-dir", workdir / "nope")
    assert result.exit_code == 2 and "line folder not found" in result.stderr
    assert not (workdir / "x.h5").exists()
    result = run_cli("pack", workdir / "h32.h5", "--lines-dir", workdir / "lines", "--height", "32")
    assert result.exit_code == 0, result.stderr
    result = run_cli(
        "evaluate", "--dataset", "real_lines", "--lines-dir", workdir / "h32.h5", "--split", "val"
    )
    assert result.exit_code == 1 and "packed at height 32, the model wants 40" in result.stderr


def test_train_and_evaluate_read_a_pack(workdir: Path) -> None:
    pack_path = _pack(workdir)
    run_dir = workdir / "runs" / "packed"
    result = run_cli(
        "train", "--model", "line_cnn", "--dataset", "real_lines", "--lines-dir", pack_path,
        "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4", "--no-wandb",
        "--output", run_dir, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "val_cer_real_lines" in json.loads(result.stdout.strip().splitlines()[-1])["metrics"]
    result = run_cli(
        "evaluate", run_dir, "--dataset", "real_lines", "--lines-dir", pack_path, "--split",
        "val", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["lines"] == 2


_JAX_TRAIN_THEN_LOGITS = """
import sys
import numpy as np
from textrec_cli.cli import app
from textrec_cli.models.store import load_model

run_dir, inputs, logits = sys.argv[1:4]
app(sys.argv[4:], standalone_mode=False)
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
model = load_model(run_dir).model
np.save(logits, np.asarray(model.predict_on_batch(np.load(inputs))))
assert "tensorflow" not in sys.modules and "wandb" not in sys.modules
"""


def test_pack_train_under_jax_then_load_under_tensorflow_gives_the_same_logits(
    workdir: Path,
) -> None:
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the round trip ends under TensorFlow: run it in the default session")
    pack_path = _pack(workdir)
    stems = read_pack(pack_path, ("val",)).splits["val"].images
    inputs = np.zeros((2, 40, 256, 1), np.uint8)
    for k, stem in enumerate(stems):
        inputs[k, :, : min(256, stem.shape[1]), 0] = stem[:, :256]
    np.save(workdir / "inputs.npy", inputs)
    run_dir = workdir / "runs" / "jax"
    args = [
        "train", "--backend", "jax", "--model", "crnn", "--dataset", "real_lines",
        "--lines-dir", str(pack_path), "--epochs", "1", "--steps-per-epoch", "2",
        "--batch-size", "4", "--val-lines", "2", "--no-wandb", "--output", str(run_dir),
    ]  # fmt: skip
    env = _jax_env(workdir)
    del env["KERAS_BACKEND"]  # `--backend jax` picks it
    done = subprocess.run(
        [sys.executable, "-c", _JAX_TRAIN_THEN_LOGITS, str(run_dir), str(workdir / "inputs.npy"),
         str(workdir / "jax_logits.npy"), *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    metadata = json.loads((run_dir / "metadata.json").read_text())
    assert metadata["backend"] == "jax"

    from textrec_cli.models.store import load_model

    tf_logits = np.asarray(load_model(run_dir).model.predict_on_batch(inputs))
    jax_logits = np.load(workdir / "jax_logits.npy")
    assert tf_logits.shape == jax_logits.shape == (2, 64, len(metadata["charset"]) + 1)
    np.testing.assert_allclose(tf_logits, jax_logits, atol=1e-4, rtol=0)


def test_train_on_device_script_runs_on_cpu_without_tensorflow(
    workdir: Path, shared_fonts: Path, shared_corpus: Path
) -> None:
    pack_path = _pack(workdir)
    out = workdir / "OUT"
    env = _jax_env(workdir)
    env.update(
        OUT=str(out), PACK=str(pack_path), FONTS=str(shared_fonts), CORPUS=str(shared_corpus),
        BUDGET="8", MODEL="line_cnn", BATCH="4", STEPS="2", WORKERS="2", PYTHON=sys.executable,
        RUN_DIR=str(workdir / "run"), SITE_DIR=str(workdir / "site"),
    )  # fmt: skip
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "train_on_device.sh"), "--val-lines", "2"],
        env=env, capture_output=True, text=True, timeout=600, cwd=workdir,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    names = {p.name for p in out.iterdir()}
    assert {"model.keras", "metadata.json", "metrics.json", "train.log"} <= names
    assert all(p.stat().st_size < 16 * 2**20 for p in out.iterdir())
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"val_cer_real_lines", "val_cer_synthetic_handwriting"} <= set(metrics)
    # what comes back is a model folder that TensorFlow `evaluate` reads as it is
    result = run_cli(
        "evaluate", out, "--dataset", "real_lines", "--lines-dir", pack_path, "--split", "val",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
