"""Where textrec keeps its files. Environment variables win so tests and DVC can redirect them."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"
BUNDLED_CHAR_MODEL = ASSETS_DIR / "models" / "char_cnn"
BUNDLED_LINE_MODEL = ASSETS_DIR / "models" / "line_tcn"
BUNDLED_DETECTOR = ASSETS_DIR / "models" / "line_detector"
# character 6-gram KenLM for CTC beam search (`--lm`); lm.json holds its val-tuned weight
BUNDLED_LM = ASSETS_DIR / "lm" / "char_lm"
# decode CTC lines with BUNDLED_LM unless --no-lm: the best row within the 10 ms/line budget in
# benchmarks/results/line_models.json (serving exports carry the LM too)
USE_LM = True

# `predict --mode auto`: images at least this many times wider than tall are lines
LINE_ASPECT = 2.5
# ... and images not that wide whose shorter side is at least this many pixels are pages
PAGE_MIN_SIDE = 400

# Images larger than this are refused before decoding (a 20000x20000 PNG would need 400 MB).
MAX_IMAGE_PIXELS = int(os.environ.get("TEXTREC_MAX_IMAGE_PIXELS", 40_000_000))
MAX_IMAGE_BYTES = int(os.environ.get("TEXTREC_MAX_IMAGE_BYTES", 50 * 1024 * 1024))


def data_dir() -> Path:
    """Root for raw downloads and processed datasets (default ./data, like a DVC project)."""
    return Path(os.environ.get("TEXTREC_DATA_DIR", "data"))


def runs_dir() -> Path:
    return Path(os.environ.get("TEXTREC_RUNS_DIR", "runs"))


def data_workers() -> int:
    """Processes drawing line-training batches ($TEXTREC_DATA_WORKERS, default 1): synthesis runs
    ~30 lines per CPU-second, so a GPU eating 1,000 lines/s needs most of its machine's cores."""
    return max(1, int(os.environ.get("TEXTREC_DATA_WORKERS", "1")))


def fonts_dir() -> Path | None:
    """Handwriting fonts for synthesis: $TEXTREC_FONTS_DIR, ./fonts, or ../shared/fonts."""
    candidates = [os.environ.get("TEXTREC_FONTS_DIR"), "fonts", "../shared/fonts"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None
