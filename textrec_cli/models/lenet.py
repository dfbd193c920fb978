"""lenet: LeCun's two-conv network, the classic baseline for 28x28 characters."""

from __future__ import annotations

import keras
from keras import layers


def build(input_shape: tuple[int, ...], num_classes: int, dropout: float = 0.25) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(2 * dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="lenet")
