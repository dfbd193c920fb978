"""The convolutional front end shared by the line models: image (H, W) -> frames (W/4, D).

Width is downsampled 4x (about 3 frames per character at height 40: enough for CTC's blanks
between repeated letters); height is pooled to 2 rows, then folded into the features.
"""

from __future__ import annotations

from keras import layers


def conv_bn(x, filters: int, kernel: int | tuple[int, int] = 3, strides: int | tuple = 1):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.Activation("relu")(x)


def conv_frontend(inputs, widths: tuple[int, int, int, int] = (16, 32, 64, 96)):
    """uint8 (B, H, W, 1) -> float (B, W/4, features)."""
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = conv_bn(x, widths[0])
    x = layers.MaxPooling2D((2, 2))(x)
    x = conv_bn(x, widths[1])
    x = layers.MaxPooling2D((2, 2))(x)
    x = conv_bn(x, widths[2])
    x = conv_bn(x, widths[2])
    x = layers.MaxPooling2D((2, 1))(x)
    x = conv_bn(x, widths[3])
    x = layers.MaxPooling2D((2, 1))(x)
    rows, channels = x.shape[1], x.shape[3]
    x = layers.Permute((2, 1, 3))(x)  # (B, W/4, rows, C): width becomes time
    return layers.Reshape((-1, rows * channels))(x)


def strided_frontend(inputs, widths: tuple[int, ...] = (24, 48, 64, 96)):
    """uint8 (B, H, W, 1) -> float (B, W/4, features), striding from the first layer.

    The same 4x width reduction as `conv_frontend` with ~6x fewer multiply-adds: convolutions
    at full and half resolution hold most of the pooled front end's cost, and on a 2-core CPU
    that cost is most of a training step. Height 40 -> 20 -> 10 -> 5 -> 3 rows; a fifth width
    adds a stride-1 layer at 10 rows for more capacity where characters take shape."""
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = conv_bn(x, widths[0], strides=2)
    x = conv_bn(x, widths[1], strides=2)
    for extra in widths[4:]:
        x = conv_bn(x, extra)
    x = conv_bn(x, widths[2], strides=(2, 1))
    x = conv_bn(x, widths[3], strides=(2, 1))
    rows, channels = x.shape[1], x.shape[3]
    x = layers.Permute((2, 1, 3))(x)  # (B, W/4, rows, C): width becomes time
    return layers.Reshape((-1, rows * channels))(x)
