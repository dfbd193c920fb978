"""CTC pieces shared by every line model: the loss, decoding and per-line confidence.

Blank is class 0; character i of the charset is class i + 1. Models output log-probabilities
(B, T, C + 1); `keras.ops.ctc_loss` re-normalises them, which is a no-op on log-softmax output.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from textrec_cli.models.ctc_decode import BLANK
from textrec_cli.models.ctc_decode import greedy_decode as greedy_decode  # re-exported

PAD = -1  # label padding in batches


def ctc_loss(y_true, y_pred):
    """Keras loss: y_true (B, L) int labels padded with PAD; all T frames are valid."""
    if keras.backend.backend() == "tensorflow":
        return _tf_native_ctc_loss(y_true, y_pred)
    y_true = ops.cast(y_true, "int32")
    target_length = ops.sum(ops.cast(y_true != PAD, "int32"), axis=1)
    target = ops.where(y_true == PAD, 0, y_true)
    batch, frames = ops.shape(y_pred)[0], ops.shape(y_pred)[1]
    output_length = ops.full((batch,), frames, dtype="int32")
    return ops.ctc_loss(target, y_pred, target_length, output_length, mask_index=BLANK)


def _tf_native_ctc_loss(y_true, y_pred):
    """TensorFlow's C++ CTC kernel, reached through sparse labels: the same loss and gradient
    as `keras.ops.ctc_loss` (whose dense-label path is a graph of scans) at ~13x the speed on a
    CPU, where it was a third of a training step. A text longer than its frames allow has no
    alignment: the kernel gives it loss 0 and no gradient (the dense path: inf), so one such
    line cannot stop a run."""
    import tensorflow as tf

    y_true = tf.cast(y_true, tf.int32)
    where = tf.where(y_true != PAD)
    # the kernel wants the blank last and time first: classes 1..C become 0..C-1
    labels = tf.SparseTensor(where, tf.gather_nd(y_true, where) - 1, tf.shape(y_true, tf.int64))
    logits = tf.transpose(y_pred, [1, 0, 2])
    logits = tf.concat([logits[:, :, BLANK + 1 :], logits[:, :, : BLANK + 1]], axis=2)
    batch, frames = tf.shape(y_pred)[0], tf.shape(y_pred)[1]
    return tf.compat.v1.nn.ctc_loss(
        labels, logits, tf.fill([batch], frames), preprocess_collapse_repeated=False,
        ctc_merge_repeated=True, ignore_longer_outputs_than_inputs=True, time_major=True,
    )  # fmt: skip


def encode(text: str, index: dict[str, int]) -> list[int]:
    """Text to class ids (1-based; characters outside the charset are dropped)."""
    return [index[c] + 1 for c in text if c in index]


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


def output_frames(model: keras.Model, width: int) -> int:
    """Frames the model emits for an input of `width` pixels (for CTC length checks)."""
    height = model.input_shape[1]
    dummy = np.zeros((1, height, width, 1), dtype="uint8")
    return int(model(dummy, training=False).shape[1])
