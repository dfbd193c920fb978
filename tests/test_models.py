from __future__ import annotations

import numpy as np
import pytest

from textrec_cli.errors import TextrecError
from textrec_cli.models import MODELS, build_model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registered_models_output_class_probabilities(name: str) -> None:
    model = build_model(name, (28, 28, 1), 62)
    x = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1)).astype("uint8")
    probs = np.asarray(model.predict(x, verbose=0))
    assert probs.shape == (3, 62)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(TextrecError, match="unknown model 'resnet999'"):
        build_model("resnet999", (28, 28, 1), 10)


def test_cnn_is_small_enough_to_bundle() -> None:
    assert build_model("cnn", (28, 28, 1), 62).count_params() < 1_250_000  # < 5 MB float32
