"""Where a model folder's LiteRT form lives, and whether it still matches the Keras weights.

The bundled models ship one in `litert/` beside `model.keras` (written by `textrec export` through
`scripts/promote_model.py`, without the LM: the bundled LM is attached when it loads), so
`predict`, `serve` and `read` run them on the LiteRT interpreter without TensorFlow. Imports
nothing heavy: callers decide between LiteRT and Keras before loading either.
"""

from __future__ import annotations

import json
from pathlib import Path

from textrec_cli.fileio import sha256_file

LITERT_DIR = "litert"  # a model folder's LiteRT export, beside model.keras
MODEL_FILE = "model.keras"


def litert_folder(model_dir: str | Path) -> Path | None:
    """The LiteRT export that reads exactly like `model_dir` (its `litert/`, or the folder itself
    when it is an export), or None.

    `model_dir/litert` counts only when its recorded source sha256 is this model.keras's, so a
    re-trained or re-promoted model never reads with stale weights."""
    model_dir = Path(model_dir)
    keras_file = model_dir / MODEL_FILE
    folder = model_dir / LITERT_DIR if keras_file.is_file() else model_dir
    try:
        export = json.loads((folder / "metadata.json").read_text())["export"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(export, dict):
        return None
    if keras_file.is_file() and export.get("source_sha256") != sha256_file(keras_file):
        return None
    return folder
