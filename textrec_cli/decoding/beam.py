"""CTC prefix beam search, n-best lists and exact likelihoods via keras.ops (the backend's own
decoder); the greedy path is `decoding/greedy.py`, the LM-scored beam `decoding/lm.py`."""

from __future__ import annotations

import numpy as np
from keras import ops

from textrec_cli.models import BLANK
from textrec_cli.models.ctc import PAD, ctc_loss, encode


def beam_decode(
    log_probs: np.ndarray, charset: list[str], beam_width: int = 16
) -> list[tuple[str, float]]:
    """CTC prefix beam search via keras.ops (the backend's own decoder). Confidence is the
    best path's probability normalised per frame, comparable to greedy's."""
    lengths = np.full((log_probs.shape[0],), log_probs.shape[1], dtype="int32")
    decoded, scores = ops.ctc_decode(
        log_probs, lengths, strategy="beam_search", beam_width=beam_width, top_paths=1,
        mask_index=BLANK,
    )  # fmt: skip
    decoded = np.asarray(decoded)[0]
    scores = np.asarray(scores).reshape(log_probs.shape[0], -1)[:, 0]
    results = []
    for row, score in zip(decoded, scores, strict=True):
        chars = [charset[k - 1] for k in row if k > 0]
        frames = max(1, log_probs.shape[1])
        # tf returns a log-probability, other backends a negative one: take the magnitude
        results.append(("".join(chars), float(np.exp(-abs(float(score)) / frames))))
    return results


def nbest(
    log_probs: np.ndarray, charset: list[str], n: int = 4, beam_width: int = 16
) -> list[list[str]]:
    """Up to n distinct candidate texts per line from CTC prefix beam search (best first)."""
    lengths = np.full((log_probs.shape[0],), log_probs.shape[1], dtype="int32")
    decoded, _ = ops.ctc_decode(
        log_probs, lengths, strategy="beam_search", beam_width=max(beam_width, n), top_paths=n,
        mask_index=BLANK,
    )  # fmt: skip
    paths = np.asarray(decoded)  # (n, B, T), padded with -1 (or 0)
    results = []
    for line in range(log_probs.shape[0]):
        texts: list[str] = []
        for path in paths[:, line]:
            text = "".join(charset[k - 1] for k in path if k > 0)
            if text not in texts:
                texts.append(text)
        results.append(texts)
    return results


def log_likelihood(log_probs: np.ndarray, texts: list[str], charset: list[str]) -> np.ndarray:
    """Exact log P(text | frames) summed over all CTC alignments (minus the CTC loss)."""
    index = {c: i for i, c in enumerate(charset)}
    seqs = [encode(t, index) for t in texts]
    labels = np.full((len(seqs), max(1, max(len(s) for s in seqs))), PAD, dtype="int32")
    for row, seq in enumerate(seqs):
        labels[row, : len(seq)] = seq
    return -np.asarray(ctc_loss(labels, ops.convert_to_tensor(log_probs)), dtype="float64")
