"""LiteRT export: the exported graphs agree with Keras, and serving never imports TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from PIL import Image
from serving_helpers import EXAMPLES, bundled_exports

from textrec_cli import settings
from textrec_cli.errors import InputError
from textrec_cli.image_io import load_image
from textrec_cli.models import build_model
from textrec_cli.models.store import load_model, save_model
from textrec_cli.serving.export import _is_recurrent, export_model
from textrec_cli.serving.runtime import CharRuntime, LineRuntime, load_exported
from textrec_cli.stems.char import char_stem
from textrec_cli.stems.line import line_stem

CHARSET = list("abc ")


def _tiny(tmp_path: Path, name: str, **options) -> Path:
    if name in ("crnn", "line_cnn"):
        model = build_model(name, (40, None, 1), len(CHARSET), **options)
        meta = {"task": "line", "input_shape": [40, None, 1], "charset": CHARSET}
    else:
        model = build_model(name, (28, 28, 1), 5)
        meta = {"task": "char", "input_shape": [28, 28, 1], "mapping": list("ABCDE")}
    return save_model(model, tmp_path / name, {**meta, "version": f"tiny-{name}"})


def test_char_export_agrees_with_keras_at_any_batch(tmp_path: Path) -> None:
    source = _tiny(tmp_path, "lenet")
    runtime = load_exported(export_model(source, tmp_path / "export"))
    assert isinstance(runtime, CharRuntime) and runtime.dynamic
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    expected = np.asarray(load_model(source).model(x, training=False))
    np.testing.assert_allclose(runtime.graphs[0].run(x), expected, atol=1e-5)
    np.testing.assert_allclose(runtime.graphs[0].run(x[:1]), expected[:1], atol=1e-5)


def test_conv_line_model_exports_dynamic_width(tmp_path: Path) -> None:
    source = _tiny(tmp_path, "line_cnn")
    runtime = load_exported(export_model(source, tmp_path / "export"))
    assert isinstance(runtime, LineRuntime) and runtime.dynamic
    assert runtime.metadata["export"]["files"][0]["input_shape"] == [None, 40, None, 1]
    keras_model = load_model(source).model
    for width in (64, 132):
        x = np.random.default_rng(width).integers(0, 256, (2, 40, width, 1), dtype=np.uint8)
        out = runtime.graphs[0].run(x)
        assert out.shape == (2, width // 4, len(CHARSET) + 1)
        np.testing.assert_allclose(out, np.asarray(keras_model(x, training=False)), atol=1e-4)


def test_recurrent_line_model_exports_width_buckets(tmp_path: Path) -> None:
    source = _tiny(tmp_path, "crnn", rnn_units=8)
    keras_model = load_model(source).model
    assert _is_recurrent(keras_model)  # so export picks buckets for it by default
    runtime = load_exported(export_model(source, tmp_path / "export", widths=(128, 64)))
    assert not runtime.dynamic
    assert [g.input_shape for g in runtime.graphs] == [[1, 40, 64, 1], [1, 40, 128, 1]]
    x = np.random.default_rng(1).integers(0, 256, (1, 40, 128, 1), dtype=np.uint8)
    np.testing.assert_allclose(
        runtime.graphs[1].run(x), np.asarray(keras_model(x, training=False)), atol=1e-4
    )
    # a stem is padded to the smallest bucket that fits; wider ones are squeezed into the largest
    graph, padded, frames = runtime.line_input(np.full((40, 70), 255, np.uint8))
    assert graph is runtime.graphs[1] and padded.shape == (1, 40, 128, 1) and frames == 18
    graph, squeezed, frames = runtime.line_input(np.full((40, 500), 255, np.uint8))
    assert squeezed.shape == (1, 40, 128, 1) and frames == 32
    assert runtime.predict(Image.new("L", (300, 40), 255)).mode == "line"


def test_bundled_models_export_agrees_with_keras() -> None:
    char_dir, line_dir = bundled_exports()
    char_keras = load_model(settings.BUNDLED_CHAR_MODEL).model
    stems = np.stack([char_stem(load_image(p)) for p in sorted(EXAMPLES.glob("char_*.png"))])
    x = stems[..., None]
    char = load_exported(char_dir)
    np.testing.assert_allclose(
        char.graphs[0].run(x), np.asarray(char_keras(x, training=False)), atol=1e-4
    )
    line = load_exported(line_dir)
    stem = line_stem(load_image(EXAMPLES / "line_ms.png"))
    graph, padded, _ = line.line_input(stem)
    line_keras = load_model(settings.BUNDLED_LINE_MODEL).model
    np.testing.assert_allclose(
        graph.run(padded), np.asarray(line_keras(padded, training=False)), atol=1e-3
    )
    ops = {op["op_name"] for op in graph.interpreter._get_ops_details()}
    assert not any(op.startswith("Flex") for op in ops)


def test_export_metadata_and_integrity_checks(tmp_path: Path) -> None:
    source = _tiny(tmp_path, "lenet")
    export = export_model(source, tmp_path / "export")
    meta = json.loads((export / "metadata.json").read_text())
    assert meta["mapping"] == list("ABCDE") and meta["version"] == "tiny-lenet"
    assert meta["export"]["format"] == "litert" and len(meta["export"]["files"][0]["sha256"]) == 64
    with pytest.raises(InputError, match="textrec export"):
        load_exported(source)  # a Keras folder is not servable as is
    (export / "model.tflite").write_bytes(b"tampered")
    with pytest.raises(InputError, match="checksum mismatch"):
        load_exported(export)


def test_export_cli(tmp_path: Path) -> None:
    source = _tiny(tmp_path, "lenet")
    result = run_cli("export", source, "--output", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["files"][0]["file"] == "model.tflite"
    bad = run_cli("export", tmp_path / "missing")
    assert bad.exit_code == 2 and "model not found" in bad.stderr
    bad_widths = run_cli("export", source, "--widths", "64")
    assert bad_widths.exit_code == 1 and "line models only" in bad_widths.stderr


def test_serving_path_never_imports_tensorflow_or_keras() -> None:
    char_dir, line_dir = bundled_exports()
    script = f"""
import base64, sys
from fastapi.testclient import TestClient
from textrec_cli.serving import lambda_handler
from textrec_cli.serving.app import create_app
from textrec_cli.serving.runtime import ServingRecognizer
rec = ServingRecognizer.from_paths([{str(char_dir)!r}, {str(line_dir)!r}])
client = TestClient(create_app(rec))
for name in ("char_A.png", "line_ms.png"):
    data = open({str(EXAMPLES)!r} + "/" + name, "rb").read()
    r = client.post("/v1/predict", json={{"image": base64.b64encode(data).decode()}})
    assert r.status_code == 200, r.text
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print(heavy)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
