"""Start training from another model's weights: exact fine-tuning, or a shared front end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textrec_cli.errors import InputError


def load_donor(path: Path) -> Any:
    """The Keras model at `path` (a .keras file or a model folder), or a clear InputError."""
    import keras

    import textrec_cli.models.transformer  # noqa: F401  (registers its custom layers)
    from textrec_cli.models.store import MODEL_FILE

    source = path / MODEL_FILE if path.is_dir() else path
    if not source.is_file():
        raise InputError(f"--init-from: no model at {path}")
    return keras.saving.load_model(source, compile=False)


def copy_all(donor: Any, model: Any) -> None:
    """Every weight, for the same architecture and class count (fine-tuning)."""
    if [w.shape for w in donor.get_weights()] != [w.shape for w in model.get_weights()]:
        raise InputError("--init-from: the model has a different architecture or class count")
    model.set_weights(donor.get_weights())


def copy_matching_prefix(donor: Any, model: Any) -> int:
    """Copy weighted layers in order while their types and shapes agree; returns how many.

    Lets a new head (e.g. line_tcn's convolutions) start on a trained crnn's front end.
    """

    def weighted(m: Any) -> list[Any]:
        return [layer for layer in m.layers if layer.weights]

    copied = 0
    for source, target in zip(weighted(donor), weighted(model), strict=False):
        same_type = type(source) is type(target)
        shapes = [tuple(w.shape) for w in source.weights] == [
            tuple(w.shape) for w in target.weights
        ]
        if not (same_type and shapes):
            break
        target.set_weights(source.get_weights())
        copied += 1
    if copied == 0:
        raise InputError("--init-from: no leading layers match the model being trained")
    return copied
