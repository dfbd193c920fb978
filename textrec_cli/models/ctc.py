"""CTC pieces shared by every line model's training: the loss and the label encoding.

Blank is class 0 (`models.BLANK`); character i of the charset is class i + 1. Decoding the
outputs is `decoding/`'s. Models output log-probabilities
(B, T, C + 1); `keras.ops.ctc_loss` re-normalises them, which is a no-op on log-softmax output.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from textrec_cli.models import BLANK

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
        labels,
        logits,
        tf.fill([batch], frames),
        preprocess_collapse_repeated=False,
        ctc_merge_repeated=True,
        ignore_longer_outputs_than_inputs=True,
        time_major=True,
    )


def encode(text: str, index: dict[str, int]) -> list[int]:
    """Text to class ids (1-based; characters outside the charset are dropped)."""
    return [index[c] + 1 for c in text if c in index]


def output_frames(model: keras.Model, width: int) -> int:
    """Frames the model emits for an input of `width` pixels (for CTC length checks)."""
    height = model.input_shape[1]
    dummy = np.zeros((1, height, width, 1), dtype="uint8")
    return int(model(dummy, training=False).shape[1])
