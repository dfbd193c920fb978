"""`textrec predict` on LiteRT: the Keras path's readings, without TensorFlow, nothing on stderr.

The bundled models ship their LiteRT form (`assets/models/*/litert`); `predict` reads with it
whenever every model it may need has one, and falls back to Keras otherwise.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED
from xml_schemas import assert_valid

from textrec_cli import settings
from textrec_cli.data.page_xml import read_page_file
from textrec_cli.image_io import load_image
from textrec_cli.inference.litert import LITERT_DIR, litert_folder
from textrec_cli.serving.lite_recognizer import LiteRecognizer, lite_recognizer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
COPISTE = SHARED / "data" / "copiste"
BUNDLED = (settings.BUNDLED_CHAR_MODEL, settings.BUNDLED_LINE_MODEL, settings.BUNDLED_DETECTOR)
NO_TENSORFLOW = ROOT / "tests" / "no_tensorflow"  # sitecustomize: importing TF raises


def val_rows(table: Path) -> list[dict[str, str]]:
    with open(table, encoding="utf-8", newline="") as handle:
        return [r for r in csv.DictReader(handle, delimiter="\t") if r["split"] == "val"]


@pytest.fixture(scope="module")
def val_page() -> Path:
    return COPISTE / "pages" / val_rows(COPISTE / "pages" / "pages.tsv")[0]["image"]


@pytest.fixture(scope="module")
def items(val_page: Path) -> list[tuple[str, object]]:
    """A character, the README's line, shared val lines (varied hands and widths) and a page."""
    rows = val_rows(COPISTE / "labels.tsv")
    paths = [EXAMPLES / "char_A.png", EXAMPLES / "line_ms.png"]
    paths += [COPISTE / r["file"] for r in rows[:: max(len(rows) // 8, 1)][:8]]
    return [(str(p), load_image(p)) for p in [*paths, val_page]]


def test_bundled_models_ship_their_litert_form() -> None:
    for model in BUNDLED:
        folder = litert_folder(model)
        assert folder == model / LITERT_DIR and (folder / "model.tflite").is_file()
        meta = json.loads((folder / "metadata.json").read_text())
        assert meta["version"] == json.loads((model / "metadata.json").read_text())["version"]
        assert "lm" not in meta["export"]  # the bundled LM is attached at load, not copied


@pytest.mark.parametrize("lm", [False, True], ids=["greedy", "lm"])
def test_litert_reads_like_keras(items, lm: bool) -> None:
    from textrec_cli.inference.recognizer import Recognizer

    items = items if not lm else items[:-1]  # the LM changes line decoding only: one page will do
    lite = lite_recognizer(None, "auto", lm)
    assert isinstance(lite, LiteRecognizer)
    got, want = lite.predict_images(items), Recognizer(None, "auto", lm).predict_images(items)
    modes = ["char", *["line"] * 9, "page"][: len(items)]
    assert [p.mode for p in got] == [p.mode for p in want] == modes
    for a, b in zip(got, want, strict=True):
        assert (a.file, a.text, a.model_version) == (b.file, b.text, b.model_version)
        assert a.confidence == pytest.approx(b.confidence, abs=2e-3), a.file
        assert [x for x, _ in a.alternatives] == [x for x, _ in b.alternatives]
    if lm:
        return
    page, keras_page = got[-1], want[-1]
    assert len(page.lines) >= 10
    assert [ln.polygon for ln in page.lines] == [ln.polygon for ln in keras_page.lines]


def test_keras_path_for_models_without_litert(tmp_path: Path) -> None:
    keras_only = tmp_path / "line_tcn"
    keras_only.mkdir()
    for name in ("model.keras", "metadata.json"):
        shutil.copyfile(settings.BUNDLED_LINE_MODEL / name, keras_only / name)
    assert litert_folder(keras_only) is None and lite_recognizer(keras_only) is None
    # a litert/ exported from other weights is never used
    shutil.copytree(settings.BUNDLED_LINE_MODEL / LITERT_DIR, keras_only / LITERT_DIR)
    assert litert_folder(keras_only) == keras_only / LITERT_DIR
    with open(keras_only / "model.keras", "ab") as handle:
        handle.write(b"\0")
    assert litert_folder(keras_only) is None and lite_recognizer(keras_only) is None
    # an export folder given as --model reads with LiteRT
    assert lite_recognizer(settings.BUNDLED_LINE_MODEL / LITERT_DIR, "line") is not None
    from textrec_cli.inference.commands import _recognizer
    from textrec_cli.inference.recognizer import Recognizer

    plain = tmp_path / "plain"
    shutil.copytree(keras_only, plain, ignore=shutil.ignore_patterns(LITERT_DIR))
    shutil.copyfile(settings.BUNDLED_LINE_MODEL / "model.keras", plain / "model.keras")
    assert isinstance(_recognizer(plain, "auto", None), Recognizer)
    assert isinstance(_recognizer(None, "auto", None), LiteRecognizer)


CHECK = """
import json, sys
from textrec_cli.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    heavy = sorted(m for m in ("tensorflow", "keras", "jax", "torch", "absl") if m in sys.modules)
    print(json.dumps({"heavy_modules": heavy}))
"""


def run_predict(*args: str) -> subprocess.CompletedProcess:
    """`textrec ARGS` in a fresh interpreter as a user's shell runs it (no TF log settings),
    with TensorFlow made unimportable; the last stdout line lists heavy modules loaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(NO_TENSORFLOW), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", CHECK, *map(str, args)], capture_output=True, text=True,
        env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip


def test_predict_never_loads_tensorflow_and_keeps_stderr_empty() -> None:
    result = run_predict("predict", EXAMPLES / "line_ms.png", EXAMPLES / "char_A.png", "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    *rows, last = result.stdout.strip().splitlines()
    assert json.loads(last) == {"heavy_modules": []}
    line, char = (json.loads(row) for row in rows)
    assert line["mode"] == "line" and "station" in line["text"] and char["text"] == "A"


@pytest.mark.parametrize("fmt", ["alto", "page"])
def test_predict_page_writes_valid_xml_without_tensorflow(
    tmp_path: Path, val_page: Path, fmt: str
) -> None:
    result = run_predict("predict", val_page, "--format", fmt, "--output", tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    target = tmp_path / f"{val_page.stem}.{fmt}.xml"
    assert result.stderr.splitlines() == [f"wrote {target}"]
    *rows, last = result.stdout.strip().splitlines()
    assert json.loads(last) == {"heavy_modules": []}
    assert_valid(target)  # the official ALTO 4.4 / PAGE 2019 XSD
    page = read_page_file(target)
    [prediction] = [json.loads(row) for row in rows]
    assert [ln.text for ln in page.lines] == [ln["text"] for ln in prediction["lines"]]
    assert len(page.lines) >= 10


def test_keras_fallback_is_quiet_too(tmp_path: Path) -> None:
    """A model without a LiteRT form loads TensorFlow, silently (no absl/CUDA lines)."""
    keras_only = tmp_path / "line_tcn"
    keras_only.mkdir()
    for name in ("model.keras", "metadata.json"):
        shutil.copyfile(settings.BUNDLED_LINE_MODEL / name, keras_only / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))}
    result = subprocess.run(
        [sys.executable, "-m", "textrec_cli.cli", "predict", "--model", str(keras_only),
         str(EXAMPLES / "line_ms.png"), "--json"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "station" in json.loads(result.stdout)["text"]


SERVE_CHECK = """
import json, sys
from PIL import Image
from textrec_cli.serving.export import bundled_exports
from textrec_cli.serving.runtime import ServingRecognizer
folders = bundled_exports()
recognizer = ServingRecognizer.from_paths(folders)
prediction = recognizer.predict(Image.open(sys.argv[1]), name="line")
print(json.dumps({"text": prediction.text, "folders": [str(f) for f in folders],
                  "tensorflow": "tensorflow" in sys.modules}))
"""


def test_serve_exports_bundled_models_from_their_litert_form(tmp_path: Path) -> None:
    """`serve`'s cached exports of the bundled models are copied from litert/ (+ the LM for the
    line model): no TensorFlow, the same graphs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(NO_TENSORFLOW), env.get("PYTHONPATH", "")])
    env["TEXTREC_EXPORT_CACHE"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", SERVE_CHECK, str(EXAMPLES / "line_ms.png")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    answer = json.loads(result.stdout)
    assert "station" in answer["text"] and answer["tensorflow"] is False
    char, line, detector = (Path(f) for f in answer["folders"])
    assert (line / "lm" / "lm.json").is_file()
    assert json.loads((line / "metadata.json").read_text())["export"]["lm"] == "lm"
    reference = settings.BUNDLED_LINE_MODEL / "reference.json"  # the drift monitor's, as is
    assert (line / "reference.json").read_bytes() == reference.read_bytes()
    for folder, model in zip((char, line, detector), BUNDLED, strict=True):
        shipped = model / LITERT_DIR / "model.tflite"
        assert (folder / "model.tflite").read_bytes() == shipped.read_bytes()
