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
# A line's stem (height 40) may be at most this wide: aspect 100:1, ~3.5x the widest real line in
# ../shared (1154 px). Without it a 20000x1 image became an 800000-px stem (22 s, 7 GB).
MAX_LINE_WIDTH = int(os.environ.get("TEXTREC_MAX_LINE_WIDTH", 4000))
# Progressive JPEGs with more scans than this are refused before decoding: each scan re-decodes
# the whole image (15,000 scans = 12 s for a 559 KB file); real encoders write about 10.
MAX_JPEG_SCANS = int(os.environ.get("TEXTREC_MAX_JPEG_SCANS", 100))

# `textrec serve` deadlines (seconds): a request's head (request line + headers) must arrive
# within SERVE_HEADER_TIMEOUT_S of connecting or of the previous response, its body within
# SERVE_BODY_TIMEOUT_S (else 408); an idle keep-alive connection is closed after SERVE_KEEP_ALIVE_S.
SERVE_HEADER_TIMEOUT_S = float(os.environ.get("TEXTREC_SERVE_HEADER_TIMEOUT", 10))
SERVE_BODY_TIMEOUT_S = float(os.environ.get("TEXTREC_SERVE_BODY_TIMEOUT", 30))
SERVE_KEEP_ALIVE_S = int(os.environ.get("TEXTREC_SERVE_KEEP_ALIVE", 5))
SERVE_MAX_HEAD_BYTES = 16 * 1024  # h11's bound on a request head

# The prediction store's retention (`serve --retention-days/--max-store-mb`, 0 = no limit):
# images and rows older than STORE_RETENTION_DAYS go; past STORE_MAX_MB the oldest images go,
# then the oldest rows. Checked every STORE_PRUNE_EVERY writes (20 unique 2 MB uploads once grew
# an unpruned store 1.8 -> 41 MB).
STORE_RETENTION_DAYS = 30.0
STORE_MAX_MB = 1024.0
STORE_PRUNE_EVERY = 100


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


def wandb_mode() -> str:
    """W&B's mode: WANDB_MODE when set, else online with WANDB_API_KEY and offline without.

    The one rule for training runs and sweeps alike."""
    return os.environ.get("WANDB_MODE") or (
        "online" if os.environ.get("WANDB_API_KEY") else "offline"
    )
