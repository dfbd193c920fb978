"""Read many line images with a line model (CTC or attention): stem, batch by width, decode."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image

from textrec_cli.containers import Prediction
from textrec_cli.decoding.beam import beam_decode
from textrec_cli.decoding.beam import log_likelihood as ctc_log_likelihood
from textrec_cli.decoding.beam import nbest as ctc_nbest
from textrec_cli.decoding.greedy import greedy_decode
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
    lm: Any = None  # a CTC decoder with a character language model (decoding/lm.py)

    @property
    def charset(self) -> list[str]:
        return self.saved.metadata["charset"]

    @property
    def height(self) -> int:
        return int(self.saved.metadata["input_shape"][0])

    @property
    def version(self) -> str:
        return self.saved.version

    @property
    def attention(self) -> bool:
        return self.saved.metadata.get("decoder") == "attention"

    @cached_property
    def decoding(self) -> Any:
        """Compiled greedy/beam decoders of an attention model (built once)."""
        from textrec_cli.decoding.attention import AttentionDecoding

        return AttentionDecoding(self.saved.model, len(self.charset))

    def decode_batch(self, x: np.ndarray) -> list[tuple[str, float]]:
        """One padded batch (B, H, W, 1) -> (text, confidence) per line."""
        if self.attention:
            if self.beam_width > 1:
                return [
                    nbest[0][:2] for nbest in self.decoding.beam(x, self.charset, self.beam_width)
                ]
            return self.decoding.greedy(x, self.charset)
        log_probs = _forward(self.saved.model, x)
        if self.lm is not None:
            return self.lm.decode(log_probs)
        if self.beam_width > 1:
            return beam_decode(log_probs, self.charset, self.beam_width)
        return greedy_decode(log_probs, self.charset)

    def log_probs(self, x: np.ndarray) -> np.ndarray:
        """CTC frame log-probs (B, T, C + 1): a CTC model's output, an attention model's
        auxiliary CTC head."""
        if self.attention:
            return np.asarray(self.decoding.encode.predict_on_batch(x)[1])
        return _forward(self.saved.model, x)

    def candidates(self, x: np.ndarray, n: int) -> list[list[str]]:
        """Up to n distinct texts per line, best first (beam search of either kind)."""
        if self.attention and n <= 1:
            return [[text] for text, _ in self.decoding.greedy(x, self.charset)]
        if self.attention:
            return [
                list(dict.fromkeys(text for text, _, _ in hyps))
                for hyps in self.decoding.beam(x, self.charset, n)
            ]
        return ctc_nbest(self.log_probs(x), self.charset, n)

    def log_likelihood(self, x: np.ndarray, texts: list[str]) -> np.ndarray:
        """Exact log P(text | image) per row of x (CTC: over all alignments; attention:
        teacher-forced, EOS included)."""
        if self.attention:
            return self.decoding.log_likelihood(x, texts, self.charset)
        return ctc_log_likelihood(self.log_probs(x), texts, self.charset)

    def read_stems(self, stems: list[np.ndarray]) -> list[tuple[str, float]]:
        """Stemmed lines -> (text, confidence); batches similar widths to limit padding."""
        results: list[tuple[str, float] | None] = [None] * len(stems)
        for chunk, x in padded_batches(stems, self.batch_size, WIDTH_STEP):
            for i, result in zip(chunk, self.decode_batch(x), strict=True):
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
