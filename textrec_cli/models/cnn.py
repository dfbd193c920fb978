"""cnn: a small residual CNN, the shipped character model.

Downsamples early (28 -> 14 -> 7) so a CPU trains it in minutes, with residual blocks at each
scale and global pooling so it does not memorise glyph positions.
"""

from __future__ import annotations

import keras
from keras import layers


def _residual_block(x, filters: int, dropout: float):
    shortcut = x
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    y = layers.SpatialDropout2D(dropout)(y) if dropout else y
    return layers.Activation("relu")(layers.Add()([shortcut, y]))


def _downsample(x, filters: int):
    x = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def build(
    input_shape: tuple[int, ...],
    num_classes: int,
    widths: tuple[int, ...] = (32, 64, 128),
    dropout: float = 0.1,
) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    for i, filters in enumerate(widths):
        if i > 0:
            x = _downsample(x, filters)
        x = _residual_block(x, filters, dropout)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="cnn")
