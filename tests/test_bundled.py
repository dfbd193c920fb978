"""The models that ship in the package: present, small, documented, and reading real input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from cli_helpers import json_lines, run_cli
from PIL import Image

from textrec_cli import settings
from textrec_cli.data.charsets import EMNIST_BYCLASS, LINE_CHARSET
from textrec_cli.inference.recognizer import choose_mode

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def _bundle_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir())


def test_bundled_char_model_is_small_and_documented() -> None:
    folder = settings.BUNDLED_CHAR_MODEL
    assert _bundle_bytes(folder) < 5 * 1024 * 1024
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["task"] == "char" and metadata["mapping"] == EMNIST_BYCLASS
    assert metadata["dataset"]["name"] == "synthetic_chars" and metadata["dataset"]["checksum"]
    assert "textrec train --model" in metadata["how_trained"]  # the exact commands
    assert metadata["evaluations"] and "accuracy" in metadata["evaluations"][0]


def test_bundled_line_model_is_small_and_documented() -> None:
    folder = settings.BUNDLED_LINE_MODEL
    assert _bundle_bytes(folder) < 20 * 1024 * 1024
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["task"] == "line" and metadata["charset"] == LINE_CHARSET
    assert "textrec train --model" in metadata["how_trained"]  # the exact commands
    assert any("cer" in e for e in metadata["evaluations"])


def test_mode_is_chosen_by_shape() -> None:
    assert choose_mode(Image.new("L", (300, 60))) == "line"
    assert choose_mode(Image.new("L", (60, 70))) == "char"


def test_predict_examples_with_bundled_models(workdir: Path) -> None:
    files = [EXAMPLES / "char_A.png", EXAMPLES / "line_ms.png", EXAMPLES / "char_7.png"]
    result = run_cli("predict", *files, "--json")
    assert result.exit_code == 0, result.stderr
    rows = json_lines(result.stdout)
    assert [r["mode"] for r in rows] == ["char", "line", "char"]
    assert rows[0]["text"] == "A" and rows[2]["text"] == "7"
    assert rows[1]["text"].strip() and rows[1]["model_version"]


def test_bundled_char_model_reads_held_out_fonts(shared_fonts: Path) -> None:
    """Glyphs from font families never used in training, through the real predict path."""
    from textrec_cli.data.charsets import EMNIST_BYCLASS as classes
    from textrec_cli.data.fonts import discover_fonts, split_families
    from textrec_cli.data.synthetic_chars import available_chars, render_sample
    from textrec_cli.inference.predictor import load_predictor

    sources = discover_fonts(shared_fonts)
    split = split_families([s.family for s in sources])
    test_fonts = [s for s in sources if split[s.family] == "test"]
    rng = np.random.default_rng(99)
    glyphs, labels = [], []
    for source in test_fonts:
        for char in available_chars(source, classes):
            glyphs.append(render_sample(source, char, rng))
            labels.append(classes.index(char))
    probs = load_predictor().predict_arrays(np.stack(glyphs))
    accuracy = float(np.mean(np.argmax(probs, axis=1) == np.array(labels)))
    assert accuracy > 0.70, accuracy
