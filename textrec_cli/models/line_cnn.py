"""line_cnn: a sliding-window character CNN over the line (FSDL's first line model), with CTC.

The same convolutional front end as crnn, then 1-D convolutions whose receptive field is the
"window"; no recurrence, so it is the fastest line model and the baseline for crnn.
"""

from __future__ import annotations

import keras
from keras import layers

from textrec_cli.models.line_blocks import conv_frontend


def build(
    input_shape: tuple[int, ...], num_classes: int, window: int = 7, dropout: float = 0.25
) -> keras.Model:
    inputs = keras.Input(shape=(input_shape[0], None, 1), dtype="uint8")
    x = conv_frontend(inputs)
    for _ in range(2):
        x = layers.Conv1D(256, window, padding="same", activation="relu")(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes + 1, activation="log_softmax")(x)
    return keras.Model(inputs, outputs, name="line_cnn")
