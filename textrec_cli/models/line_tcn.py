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

from textrec_cli.models.line_blocks import conv_frontend, strided_frontend


def tcn_stack(
    inputs,
    num_classes: int,
    units: int,
    blocks: int,
    kernel: int,
    dropout: float,
    frontend: str = "pooled",
    frontend_widths: tuple[int, ...] | None = None,
    conv: str = "separable",
    dilations: tuple[int, ...] | None = None,
    spatial_dropout: bool = False,
):
    """uint8 image -> (frame features (B, T, units), CTC log-probs (B, T, C + 1)).

    Shared with `transformer`, whose encoder is this stack layer for layer (so a trained
    line_tcn warm-starts it, CTC head included). `frontend="strided"` is the fast recipe's
    cheaper front end (line_blocks.strided_frontend); `conv="dense"` uses plain Conv1D
    blocks, whose gradients TensorFlow computes far faster on a CPU than depthwise ones,
    with `dilations` (one per block) to keep the receptive field at a short kernel.
    `spatial_dropout` drops whole feature channels per line: B x C random numbers instead of
    B x T x C, which on a CPU costs a fifth of the step that element dropout costs."""
    if conv not in ("separable", "dense"):
        raise ValueError(f"conv must be separable or dense, not {conv!r}")
    rates = tuple(dilations) if dilations else (1,) * blocks
    if len(rates) != blocks:
        raise ValueError(f"{blocks} blocks need {blocks} dilations, got {rates}")
    if frontend not in ("pooled", "strided"):
        raise ValueError(f"frontend must be pooled or strided, not {frontend!r}")
    if frontend == "strided":
        x = strided_frontend(inputs, *([tuple(frontend_widths)] if frontend_widths else []))
    else:
        x = conv_frontend(inputs)
    drop = layers.SpatialDropout1D if spatial_dropout else layers.Dropout
    x = layers.Dense(units, activation="relu")(x)
    x = drop(dropout)(x)
    block = layers.SeparableConv1D if conv == "separable" else layers.Conv1D
    for rate in rates:
        y = block(units, kernel, padding="same", dilation_rate=rate, use_bias=False)(x)
        y = layers.BatchNormalization(momentum=0.9)(y)
        y = layers.Activation("relu")(y)
        y = drop(dropout)(y)
        x = layers.Add()([x, y])
    return x, layers.Dense(num_classes + 1, activation="log_softmax")(x)


def build(
    input_shape: tuple[int, ...],
    num_classes: int,
    units: int = 256,
    blocks: int = 6,
    kernel: int = 9,
    dropout: float = 0.2,
    frontend: str = "pooled",
    frontend_widths: tuple[int, ...] | None = None,
    conv: str = "separable",
    dilations: tuple[int, ...] | None = None,
    spatial_dropout: bool = False,
) -> keras.Model:
    """num_classes counts the characters; the blank is added here."""
    inputs = keras.Input(shape=(input_shape[0], None, 1), dtype="uint8")
    _, outputs = tcn_stack(
        inputs, num_classes, units, blocks, kernel, dropout, frontend, frontend_widths, conv,
        dilations, spatial_dropout,
    )  # fmt: skip
    return keras.Model(inputs, outputs, name="line_tcn")
