"""Read many line images with a CTC line model: stem, batch by width, decode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from textrec_cli.containers import Prediction
from textrec_cli.models.ctc import beam_decode, greedy_decode
from textrec_cli.models.store import SavedModel
from textrec_cli.stems.line import line_stem, padded_batches

# Batch widths are rounded up to this many pixels, so compiled predict functions see few shapes
# (each new shape is a retrace under TensorFlow, a recompile under JAX).
WIDTH_STEP = 64


def _forward(model: Any, x: np.ndarray) -> np.ndarray:
    """The compiled predict function (tf.function / jax.jit): ~10x faster than eager calls.

    Under a multi-replica tf.distribute strategy predict_on_batch hands every replica the whole
    batch and concatenates their outputs, so there the eager call is the correct one.
    """
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is not None and getattr(strategy, "num_replicas_in_sync", 1) > 1:
        return np.asarray(model(x, training=False))
    return np.asarray(model.predict_on_batch(x))


@dataclass
class LineReader:
    saved: SavedModel
    batch_size: int = 32
    beam_width: int = 0  # 0 = greedy

    @property
    def charset(self) -> list[str]:
        return self.saved.metadata["charset"]

    @property
    def height(self) -> int:
        return int(self.saved.metadata["input_shape"][0])

    @property
    def version(self) -> str:
        return self.saved.version

    def read_stems(self, stems: list[np.ndarray]) -> list[tuple[str, float]]:
        """Stemmed lines -> (text, confidence); batches similar widths to limit padding."""
        results: list[tuple[str, float] | None] = [None] * len(stems)
        for chunk, x in padded_batches(stems, self.batch_size, WIDTH_STEP):
            log_probs = _forward(self.saved.model, x)
            if self.beam_width > 1:
                decoded = beam_decode(log_probs, self.charset, self.beam_width)
            else:
                decoded = greedy_decode(log_probs, self.charset)
            for i, result in zip(chunk, decoded, strict=True):
                results[i] = result
        return [r for r in results if r is not None]

    def predict_images(self, items: list[tuple[str, Image.Image]]) -> list[Prediction]:
        stems = [line_stem(image, self.height) for _, image in items]
        return [
            Prediction(
                file=name, text=text, confidence=conf, mode="line", model_version=self.version
            )
            for (name, _), (text, conf) in zip(items, self.read_stems(stems), strict=True)
        ]
