"""line_tcn: the crnn's convolutional front end + a residual stack of separable 1-D convolutions.

The lean line model for CPUs and LiteRT: no recurrence, so every frame is computed in parallel
and the graph converts to builtin LiteRT ops with a dynamic batch and width. Six blocks with
kernel 9 see 49 frames (about 200 px, 10 characters at height 40) — the context the BiLSTMs
gave crnn, at a fraction of the latency. The front end and the first Dense match crnn's layer
for layer, so `--init-from` a trained crnn starts it with learned visual features.
"""

from __future__ import annotations

import keras
from keras import layers

from textrec_cli.models.line_blocks import conv_frontend


def tcn_stack(inputs, num_classes: int, units: int, blocks: int, kernel: int, dropout: float):
    """uint8 image -> (frame features (B, T, units), CTC log-probs (B, T, C + 1)).

    Shared with `transformer`, whose encoder is this stack layer for layer (so a trained
    line_tcn warm-starts it, CTC head included)."""
    x = conv_frontend(inputs)
    x = layers.Dense(units, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    for _ in range(blocks):
        y = layers.SeparableConv1D(units, kernel, padding="same", use_bias=False)(x)
        y = layers.BatchNormalization(momentum=0.9)(y)
        y = layers.Activation("relu")(y)
        y = layers.Dropout(dropout)(y)
        x = layers.Add()([x, y])
    return x, layers.Dense(num_classes + 1, activation="log_softmax")(x)


def build(
    input_shape: tuple[int, ...],
    num_classes: int,
    units: int = 256,
    blocks: int = 6,
    kernel: int = 9,
    dropout: float = 0.2,
) -> keras.Model:
    """num_classes counts the characters; the blank is added here."""
    inputs = keras.Input(shape=(input_shape[0], None, 1), dtype="uint8")
    _, outputs = tcn_stack(inputs, num_classes, units, blocks, kernel, dropout)
    return keras.Model(inputs, outputs, name="line_tcn")
