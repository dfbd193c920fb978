from __future__ import annotations

import numpy as np
import pytest

from textrec_cli.errors import TextrecError
from textrec_cli.models import ATTENTION_MODELS, DETECTOR_MODELS, LINE_MODELS, MODELS, build_model

pytestmark = pytest.mark.backends  # all of it runs under TensorFlow and under JAX


@pytest.mark.parametrize("name", sorted(set(MODELS) - LINE_MODELS - DETECTOR_MODELS))
def test_char_models_output_class_probabilities(name: str) -> None:
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


@pytest.mark.parametrize("name", sorted(LINE_MODELS - ATTENTION_MODELS))
def test_line_models_output_per_frame_log_probabilities(name: str) -> None:
    model = build_model(name, (40, None, 1), 30)
    x = np.random.default_rng(0).integers(0, 256, (2, 40, 96, 1)).astype("uint8")
    log_probs = np.asarray(model(x, training=False))
    assert log_probs.shape == (2, 96 // 4, 31)  # 4x width downsampling, blank + 30 classes
    np.testing.assert_allclose(np.exp(log_probs).sum(axis=-1), 1.0, rtol=1e-4)
    wider = np.asarray(model(np.zeros((1, 40, 200, 1), "uint8"), training=False))
    assert wider.shape[1] == 200 // 4  # any line length is one forward pass


def test_transformer_outputs_ctc_frames_and_next_token_log_probabilities() -> None:
    model = build_model("transformer", (40, None, 1), 30, units=32, blocks=1, d_model=32,
                        heads=2, ff=64, decoder_layers=1, max_len=16)  # fmt: skip
    x = np.random.default_rng(0).integers(0, 256, (2, 40, 96, 1)).astype("uint8")
    tokens = np.array([[31, 1, 2, 0], [31, 3, 0, 0]], dtype="int32")  # BOS = 30 + 1
    out = model({"image": x, "tokens": tokens}, training=False)
    ctc, dec = np.asarray(out["ctc"]), np.asarray(out["dec"])
    assert ctc.shape == (2, 96 // 4, 31) and dec.shape == (2, 4, 33)  # + PAD, BOS, EOS
    np.testing.assert_allclose(np.exp(dec).sum(axis=-1), 1.0, rtol=1e-4)
    # causal: a later token never changes an earlier position's prediction
    changed = tokens.copy()
    changed[:, 3] = 5
    again = np.asarray(model({"image": x, "tokens": changed}, training=False)["dec"])
    np.testing.assert_allclose(again[:, :3], dec[:, :3], atol=1e-5)
