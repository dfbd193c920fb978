"""crnn: convolutional front end + 2 BiLSTM + CTC (Shi et al. 2015), the shipped line model.

Fully convolutional in width, so a line of any length is one forward pass.
"""

from __future__ import annotations

import keras
from keras import layers

from textrec_cli.models.line_blocks import conv_frontend


def build(
    input_shape: tuple[int, ...],
    num_classes: int,
    rnn_units: int = 128,
    rnn_layers: int = 2,
    dropout: float = 0.25,
) -> keras.Model:
    """num_classes counts the characters; the blank is added here."""
    inputs = keras.Input(shape=(input_shape[0], None, 1), dtype="uint8")
    x = conv_frontend(inputs)
    x = layers.Dense(rnn_units * 2, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    for _ in range(rnn_layers):
        x = layers.Bidirectional(layers.LSTM(rnn_units, return_sequences=True))(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes + 1, activation="log_softmax")(x)
    return keras.Model(inputs, outputs, name="crnn")
