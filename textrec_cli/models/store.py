"""A trained model on disk: a folder with `model.keras` and `metadata.json` (mapping, shape, data).

The metadata travels with the weights so `predict`, `evaluate` and serving need nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textrec_cli.errors import InputError
from textrec_cli.fileio import atomic_path, write_json

MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"


@dataclass
class SavedModel:
    model: Any  # keras.Model
    metadata: dict[str, Any]
    path: Path

    @property
    def mapping(self) -> list[str]:
        return self.metadata["mapping"]

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", self.path.name))


def save_model(model: Any, run_dir: Path, metadata: dict[str, Any]) -> Path:
    """Write model and metadata atomically (a crash never leaves a half-saved model)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(run_dir / MODEL_FILE) as tmp:
        model.save(tmp)
    write_json(run_dir / METADATA_FILE, metadata)
    return run_dir


def load_model(path: str | Path) -> SavedModel:
    """Load a model folder (or its model.keras); clear one-line errors for what is wrong."""
    import keras

    path = Path(path)
    run_dir = path.parent if path.suffix == ".keras" else path
    model_file, meta_file = run_dir / MODEL_FILE, run_dir / METADATA_FILE
    if not run_dir.exists():
        raise InputError(f"model not found: {path}")
    if not model_file.is_file() or not meta_file.is_file():
        raise InputError(
            f"not a textrec model folder (needs {MODEL_FILE} and {METADATA_FILE}): {path}"
        )
    try:
        metadata = json.loads(meta_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"corrupt model metadata {meta_file}: {exc}") from None
    import textrec_cli.models.transformer  # noqa: F401  (registers its custom layers)

    try:
        model = keras.saving.load_model(model_file, compile=False)
    except Exception as exc:  # Keras raises many types for a damaged archive
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot load model {model_file}: {first_line}") from None
    return SavedModel(model, metadata, run_dir)
