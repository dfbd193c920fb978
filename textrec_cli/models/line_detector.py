"""line_detector: a small U-Net that marks each text line's x-height band on a page.

Input: a gray page (H, W, 1) uint8 with H and W multiples of 16 (see stems/page.py); output: the
band probability at half resolution (H/2, W/2, 1). Bands of neighbouring lines stay apart even
where their outlines touch, so connected components of the thresholded map are lines.
"""

from __future__ import annotations

import keras
from keras import layers, models, ops

from textrec_cli.models.line_blocks import conv_bn

STRIDE = 2


def build(
    input_shape: tuple[int | None, ...] = (None, None, 1),
    num_classes: int = 1,
    widths: tuple[int, ...] = (8, 16, 32, 48, 64),
):
    """Encoder of 4 poolings, decoder back to 1/2 resolution with skip connections."""
    inputs = layers.Input(shape=input_shape, dtype="uint8", name="page")
    x = layers.Rescaling(1 / 255.0)(inputs)
    skips = []
    for i, width in enumerate(widths):
        x = conv_bn(x, width)
        if i:
            x = conv_bn(x, width)
        if i < len(widths) - 1:
            skips.append(x)
            x = layers.MaxPooling2D(2)(x)
    # back up to stride 2: skip the full-resolution level (the output is half size)
    for width, skip in zip(reversed(widths[1:-1]), reversed(skips[1:]), strict=True):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = layers.Concatenate()([x, skip])
        x = conv_bn(x, width)
        if width == widths[-2]:  # the coarse level gets two convolutions, fine levels one (CPU)
            x = conv_bn(x, width)
    outputs = layers.Conv2D(num_classes, 1, activation="sigmoid", name="bands")(x)
    return models.Model(inputs, outputs, name="line_detector")


def band_loss(y_true, y_pred):
    """Binary cross-entropy + soft Dice: thin bands are a small fraction of the page."""
    bce = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred))
    inter = ops.sum(y_true * y_pred, axis=(1, 2, 3))
    total = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
    dice = 1 - ops.mean((2 * inter + 1) / (total + 1))
    return bce + 0.5 * dice
