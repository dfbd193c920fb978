"""Model registry: adding an architecture is one file with `build(...)` and one line here.

Every builder takes (input_shape, num_classes, **options) and returns an uncompiled keras.Model
built only from keras.layers / keras.ops, so it runs on any Keras 3 backend.
"""

from __future__ import annotations

import importlib
from typing import Any

from textrec_cli.errors import TextrecError

# A line model's classes: the CTC blank is class 0 and character i of the charset class i + 1.
# Here, not in models/ctc.py, so numpy-only decoding (decoding/greedy.py) reads it without Keras.
BLANK = 0

MODELS: dict[str, str] = {
    "mlp": "textrec_cli.models.mlp",
    "lenet": "textrec_cli.models.lenet",
    "cnn": "textrec_cli.models.cnn",
    "line_cnn": "textrec_cli.models.line_cnn",
    "crnn": "textrec_cli.models.crnn",
    "line_tcn": "textrec_cli.models.line_tcn",
    "transformer": "textrec_cli.models.transformer",
    "line_detector": "textrec_cli.models.line_detector",
}

# Line models read a whole line (CTC, or attention + CTC); the rest classify one 28x28 character.
LINE_MODELS = {"line_cnn", "crnn", "line_tcn", "transformer"}
# Line models that decode autoregressively (an attention decoder) instead of by CTC alone.
ATTENTION_MODELS = {"transformer"}
# Page models find lines on a page (a band map); `train` sends them to training/detector_train.
DETECTOR_MODELS = {"line_detector"}


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, **options: Any):
    """Instantiate a registered architecture by name."""
    if name not in MODELS:
        raise TextrecError(f"unknown model {name!r}; choose from: {', '.join(sorted(MODELS))}")
    module = importlib.import_module(MODELS[name])
    return module.build(tuple(input_shape), num_classes, **options)
