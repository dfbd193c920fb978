"""mlp: the baseline every other model must beat (FSDL's first model)."""

from __future__ import annotations

import keras
from keras import layers


def build(
    input_shape: tuple[int, ...], num_classes: int, hidden: int = 512, dropout: float = 0.3
) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.Flatten()(x)
    for _ in range(2):
        x = layers.Dense(hidden, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mlp")
