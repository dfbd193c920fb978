"""transformer: line_tcn's convolutional encoder + a Transformer decoder over characters.

The encoder is line_tcn layer for layer (a nested model named "encoder"), CTC head included, so
a trained line_tcn warm-starts it and the CTC head trains jointly (Watanabe et al. 2017's joint
CTC-attention). The decoder is pre-norm: causal self-attention, cross-attention to the encoder
frames (+ sinusoidal positions), feed-forward; it predicts the next character from the ones
before (teacher forcing in training, autoregressive at inference: `decoding/attention`).

Tokens: 0 = PAD, 1..C = characters (the CTC ids), C + 1 = BOS, C + 2 = EOS.
Outputs: {"ctc": (B, T, C + 1) log-probs, "dec": (B, L, C + 3) log-probs}.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers, ops

from textrec_cli.models.line_tcn import tcn_stack

PAD = 0


def special_tokens(num_classes: int) -> tuple[int, int]:
    """(BOS, EOS) ids for a charset of `num_classes` characters."""
    return num_classes + 1, num_classes + 2


def sinusoids(length: int, dim: int) -> np.ndarray:
    """Vaswani et al.'s fixed position table (length, dim): no weights, any length up to it."""
    position = np.arange(length)[:, None]
    rate = np.exp(-math.log(10000.0) * np.arange(0, dim, 2) / dim)
    table = np.zeros((length, dim), dtype="float32")
    table[:, 0::2] = np.sin(position * rate)
    table[:, 1::2] = np.cos(position * rate)
    return table


@keras.saving.register_keras_serializable(package="textrec")
class AddPositions(layers.Layer):
    """x (B, T, D) + the sinusoid table's first T rows."""

    def __init__(self, max_len: int = 2048, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_len = max_len

    def call(self, x):
        table = ops.convert_to_tensor(sinusoids(self.max_len, x.shape[-1]))
        return x + ops.expand_dims(table[: ops.shape(x)[1]], 0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "max_len": self.max_len}


@keras.saving.register_keras_serializable(package="textrec")
class TextDecoder(layers.Layer):
    """Stack of pre-norm decoder blocks with two entry points sharing one set of weights:
    `call` (whole sequences, causal: training and exact scoring) and `step` (one token with
    key/value caches: autoregressive decoding costs one block pass per character)."""

    def __init__(
        self,
        vocab: int,
        d_model: int = 256,
        heads: int = 4,
        ff: int = 512,
        num_layers: int = 2,
        max_len: int = 256,
        dropout: float = 0.1,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab, self.d_model, self.heads, self.ff = vocab, d_model, heads, ff
        self.num_layers, self.max_len, self.dropout_rate = num_layers, max_len, dropout
        self.key_dim = d_model // heads
        self.embed = layers.Embedding(vocab, d_model)
        self.blocks = []
        for _ in range(num_layers):
            self.blocks.append(
                {
                    "norm1": layers.LayerNormalization(epsilon=1e-5),
                    "self": layers.MultiHeadAttention(heads, self.key_dim, dropout=dropout),
                    "norm2": layers.LayerNormalization(epsilon=1e-5),
                    "cross": layers.MultiHeadAttention(heads, self.key_dim, dropout=dropout),
                    "norm3": layers.LayerNormalization(epsilon=1e-5),
                    "ff1": layers.Dense(ff, activation="relu"),
                    "ff2": layers.Dense(d_model),
                }
            )
        self.drop = layers.Dropout(dropout)
        self.final_norm = layers.LayerNormalization(epsilon=1e-5)
        self.out = layers.Dense(vocab)

    def build(self, input_shape) -> None:
        _, memory_shape = input_shape
        seq = (None, None, self.d_model)
        self.embed.build((None, None))
        for block in self.blocks:
            block["norm1"].build(seq)
            block["self"].build(seq, seq)
            block["norm2"].build(seq)
            block["cross"].build(seq, (None, None, memory_shape[-1]))
            block["norm3"].build(seq)
            block["ff1"].build(seq)
            block["ff2"].build((None, None, self.ff))
        self.final_norm.build(seq)
        self.out.build(seq)
        self.positions = sinusoids(self.max_len, self.d_model)

    def _embed(self, tokens, positions):
        return self.embed(tokens) * math.sqrt(self.d_model) + positions

    def _feed_forward(self, block, x, training=None):
        h = block["ff2"](self.drop(block["ff1"](block["norm3"](x)), training=training))
        return x + self.drop(h, training=training)

    def _head(self, x):
        return ops.log_softmax(self.out(self.final_norm(x)), axis=-1)

    def call(self, inputs, training=None):
        """[tokens (B, L), memory (B, T, D)] -> next-token log-probs (B, L, vocab)."""
        tokens, memory = inputs
        table = ops.convert_to_tensor(self.positions)
        x = self._embed(tokens, ops.expand_dims(table[: ops.shape(tokens)[1]], 0))
        x = self.drop(x, training=training)
        for block in self.blocks:
            h = block["norm1"](x)
            x = x + self.drop(
                block["self"](h, h, use_causal_mask=True, training=training), training=training
            )
            h = block["norm2"](x)
            x = x + self.drop(block["cross"](h, memory, training=training), training=training)
            x = self._feed_forward(block, x, training)
        return self._head(x)

    def compute_output_shape(self, input_shape):
        tokens_shape, _ = input_shape
        return (*tokens_shape, self.vocab)

    # --- cached, one token at a time (inference) ---

    def cross_cache(self, memory) -> list:
        """Keys and values of the encoder frames, per block: computed once per line."""
        kv = []
        for block in self.blocks:
            kv += [block["cross"].key_dense(memory), block["cross"].value_dense(memory)]
        return kv

    def empty_cache(self, batch: int, length: int) -> list:
        """Zeroed self-attention keys/values (batch, length, heads, key_dim) per block."""
        shape = (batch, length, self.heads, self.key_dim)
        return [ops.zeros(shape) for _ in range(2 * self.num_layers)]

    def step(self, token, slot, cache: list, cross: list):
        """Decode position t for every row: token (N,) int, slot (N, Lmax) one-hot of t.

        Writing by one-hot mask instead of dynamic slicing keeps every shape static, so the
        same step compiles once under XLA and converts to builtin LiteRT ops.
        Returns (log-probs (N, vocab), updated cache)."""
        table = ops.convert_to_tensor(self.positions[: slot.shape[-1]])
        x = self._embed(ops.expand_dims(token, 1), ops.expand_dims(ops.matmul(slot, table), 1))
        write = ops.reshape(slot, (-1, slot.shape[-1], 1, 1))
        # attend to positions 0..t: the one-hot plus everything before it
        seen = ops.flip(ops.cumsum(ops.flip(slot, axis=1), axis=1), axis=1)
        visible = ops.expand_dims(ops.cast(seen, "bool"), 1)  # (N, 1, Lmax)
        new_cache = []
        for i, block in enumerate(self.blocks):
            attn = block["self"]
            h = block["norm1"](x)
            k = cache[2 * i] * (1.0 - write) + attn.key_dense(h) * write
            v = cache[2 * i + 1] * (1.0 - write) + attn.value_dense(h) * write
            new_cache += [k, v]
            out, _ = attn._compute_attention(attn.query_dense(h), k, v, attention_mask=visible)
            x = x + attn.output_dense(out)
            cross_attn = block["cross"]
            h = block["norm2"](x)
            q = cross_attn.query_dense(h)
            out, _ = cross_attn._compute_attention(q, cross[2 * i], cross[2 * i + 1])
            x = x + cross_attn.output_dense(out)
            x = self._feed_forward(block, x)
        return self._head(x)[:, 0], new_cache

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocab": self.vocab,
            "d_model": self.d_model,
            "heads": self.heads,
            "ff": self.ff,
            "num_layers": self.num_layers,
            "max_len": self.max_len,
            "dropout": self.dropout_rate,
        }


def build(
    input_shape: tuple[int, ...],
    num_classes: int,
    units: int = 256,
    blocks: int = 6,
    kernel: int = 9,
    encoder_dropout: float = 0.2,
    d_model: int = 256,
    heads: int = 4,
    ff: int = 512,
    decoder_layers: int = 2,
    max_len: int = 256,
    dropout: float = 0.1,
) -> keras.Model:
    """num_classes counts the characters; blank (CTC), PAD, BOS and EOS are added here."""
    image = keras.Input(shape=(input_shape[0], None, 1), dtype="uint8", name="image")
    features, ctc = tcn_stack(image, num_classes, units, blocks, kernel, encoder_dropout)
    encoder = keras.Model(image, [features, ctc], name="encoder")

    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    features, ctc = encoder(image)
    memory = layers.Dense(d_model, name="memory_proj")(features)
    memory = AddPositions(name="memory_positions")(memory)
    memory = layers.LayerNormalization(epsilon=1e-5, name="memory_norm")(memory)
    decoder = TextDecoder(
        num_classes + 3, d_model, heads, ff, decoder_layers, max_len, dropout, name="decoder"
    )
    logits = decoder([tokens, memory])
    return keras.Model(
        {"image": image, "tokens": tokens}, {"ctc": ctc, "dec": logits}, name="transformer"
    )


def teacher_forcing(labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """CTC-style labels (B, L) padded with -1 -> (decoder input, decoder target), PAD = 0:
    input = BOS + text, target = text + EOS."""
    bos, eos = special_tokens(num_classes)
    labels = np.where(labels < 0, PAD, labels).astype("int32")
    lengths = (labels != PAD).sum(axis=1)
    batch = labels.shape[0]
    dec_in = np.concatenate([np.full((batch, 1), bos, "int32"), labels], axis=1)
    dec_out = np.concatenate([labels, np.zeros((batch, 1), "int32")], axis=1)
    dec_out[np.arange(batch), lengths] = eos
    return dec_in, dec_out


def smoothed_nll(smoothing: float = 0.1):
    """Label-smoothed cross-entropy on log-probs, averaged over non-PAD target tokens."""

    def loss(y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        mask = ops.cast(y_true != PAD, y_pred.dtype)
        picked = ops.take_along_axis(y_pred, ops.expand_dims(y_true, -1), axis=-1)[..., 0]
        # smooth over real tokens only: PAD (id 0) is never a target
        uniform = ops.mean(y_pred[..., 1:], axis=-1)
        nll = -((1.0 - smoothing) * picked + smoothing * uniform)
        return ops.sum(nll * mask, axis=-1) / ops.maximum(ops.sum(mask, axis=-1), 1.0)

    return loss


def ctc_model(model: keras.Model) -> keras.Model:
    """The encoder + CTC head alone: image -> CTC log-probs, weights shared with `model`."""
    encoder = model.get_layer("encoder")
    image = keras.Input(shape=(encoder.input_shape[1], None, 1), dtype="uint8")
    return keras.Model(image, encoder(image)[1], name="line_tcn")
