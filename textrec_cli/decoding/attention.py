"""Decoding a trained `transformer`: greedy, beam search and exact scores, all with KV caches.

Greedy decoding runs its whole loop inside one compiled graph (a while loop over the decoder's
cached `step`), so a batch of lines costs one `predict_on_batch`, not one Python call per
character. Beam search (and the uncached reference decoder the tests compare against) loop in
numpy over compiled functions.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers, ops

from textrec_cli.models.transformer import PAD, special_tokens


def step_limit(frames):
    """Most characters a line of `frames` encoder frames (4 px each) can hold, plus EOS: half a
    frame per character is already far denser than handwriting (~5 frames per character), so
    a decoder that never emits EOS stops there instead of at max_len."""
    return frames // 2 + 8


class _GreedyLoop(layers.Layer):
    """memory (N, T, D) -> (tokens (N, L), token log-probs (N, L)); PAD after EOS."""

    def __init__(self, decoder: Any, bos: int, eos: int, max_len: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.decoder, self.bos, self.eos, self.max_len = decoder, bos, eos, max_len

    def call(self, memory):
        dec, length = self.decoder, self.max_len
        n = ops.shape(memory)[0]
        cross = dec.cross_cache(memory)
        cache = dec.empty_cache(n, length)
        eye = ops.eye(length)
        limit = ops.minimum(length, step_limit(ops.shape(memory)[1]))

        def cond(t, token, done, out, lp, *cache):
            return ops.logical_and(t < limit, ops.logical_not(ops.all(done)))

        def body(t, token, done, out, lp, *cache):
            slot = ops.broadcast_to(ops.take(eye, t, axis=0), (n, length))
            logp, cache = dec.step(token, slot, list(cache), cross)
            nxt = ops.where(done, PAD, ops.cast(ops.argmax(logp, axis=-1), "int32"))
            best = ops.where(done, 0.0, ops.max(logp, axis=-1))
            out = out + ops.cast(slot, "int32") * ops.expand_dims(nxt, 1)
            lp = lp + slot * ops.expand_dims(best, 1)
            done = ops.logical_or(done, nxt == self.eos)
            return (t + 1, nxt, done, out, lp, *cache)

        start = (
            ops.convert_to_tensor(0, "int32"),
            ops.full((n,), self.bos, "int32"),
            ops.zeros((n,), "bool"),
            ops.zeros((n, length), "int32"),
            ops.zeros((n, length)),
        )
        result = ops.while_loop(cond, body, (*start, *cache))
        return result[3], result[4]


class _Step(layers.Layer):
    def __init__(self, decoder: Any, **kwargs) -> None:
        super().__init__(**kwargs)
        self.decoder = decoder

    def call(self, token, slot, cache, cross):
        logp, cache = self.decoder.step(token, slot, cache, cross)
        return [logp, *cache]


class _Cross(layers.Layer):
    def __init__(self, decoder: Any, **kwargs) -> None:
        super().__init__(**kwargs)
        self.decoder = decoder

    def call(self, memory):
        return self.decoder.cross_cache(memory)


class AttentionDecoding:
    """Compiled pieces of one transformer, sharing its weights."""

    def __init__(self, model: Any, num_classes: int, max_len: int | None = None) -> None:
        self.model, self.num_classes = model, num_classes
        self.bos, self.eos = special_tokens(num_classes)
        self.decoder = model.get_layer("decoder")
        self.max_len = max_len or self.decoder.max_len
        height = model.get_layer("encoder").input_shape[1]
        image = keras.Input((height, None, 1), dtype="uint8")
        features, ctc = model.get_layer("encoder")(image)
        memory = model.get_layer("memory_proj")(features)
        memory = model.get_layer("memory_norm")(model.get_layer("memory_positions")(memory))
        self.encode = keras.Model(image, [memory, ctc])
        tokens, logps = _GreedyLoop(self.decoder, self.bos, self.eos, self.max_len)(memory)
        self.greedy_model = keras.Model(image, [tokens, logps, ctc])
        d_model = self.decoder.d_model
        mem_in = keras.Input((None, d_model))
        tok_in = keras.Input((None,), dtype="int32")
        self.forced = keras.Model([tok_in, mem_in], self.decoder([tok_in, mem_in]))
        self.cross = keras.Model(mem_in, _Cross(self.decoder)(mem_in))
        heads, key_dim = self.decoder.heads, self.decoder.key_dim
        token = keras.Input((), dtype="int32")
        slot = keras.Input((self.max_len,))
        cache = [
            keras.Input((self.max_len, heads, key_dim)) for _ in self.decoder.empty_cache(1, 1)
        ]
        cross = [keras.Input((None, heads, key_dim)) for _ in cache]
        self.step = keras.Model(
            [token, slot, cache, cross], _Step(self.decoder)(token, slot, cache, cross)
        )

    def _texts(self, tokens: np.ndarray, logps: np.ndarray, charset: list[str]):
        """Token rows -> (text, confidence = exp(mean log-prob of the tokens incl. EOS))."""
        results = []
        for row, lp in zip(tokens, logps, strict=True):
            ends = np.flatnonzero(row == self.eos)
            n = int(ends[0]) if ends.size else len(row)
            text = "".join(charset[k - 1] for k in row[:n] if 0 < k <= self.num_classes)
            used = lp[: n + 1] if ends.size else lp[:n]
            results.append((text, float(np.exp(used.mean())) if used.size else 0.0))
        return results

    def greedy(self, x: np.ndarray, charset: list[str]) -> list[tuple[str, float]]:
        tokens, logps, _ = self.greedy_model.predict_on_batch(x)
        return self._texts(np.asarray(tokens), np.asarray(logps), charset)

    def greedy_uncached(self, x: np.ndarray, charset: list[str]) -> list[tuple[str, float]]:
        """Reference decoder: re-runs the whole prefix through `call` at every step."""
        memory, _ = self.encode.predict_on_batch(x)
        n = len(x)
        prefix = np.full((n, 1), self.bos, "int32")
        lps = np.zeros((n, 0), "float32")
        done = np.zeros(n, bool)
        for _ in range(min(self.max_len, step_limit(memory.shape[1]))):
            logp = np.asarray(self.forced.predict_on_batch([prefix, memory]))[:, -1]
            nxt = np.where(done, PAD, logp.argmax(-1)).astype("int32")
            best = np.where(done, 0.0, logp.max(-1)).astype("float32")
            prefix = np.concatenate([prefix, nxt[:, None]], axis=1)
            lps = np.concatenate([lps, best[:, None]], axis=1)
            done |= nxt == self.eos
            if done.all():
                break
        return self._texts(prefix[:, 1:], lps, charset)

    def beam(
        self, x: np.ndarray, charset: list[str], beam_width: int = 4, alpha: float = 1.0
    ) -> list[list[tuple[str, float, float]]]:
        """n-best per line: (text, confidence, total log-prob), best first by the
        length-normalised score total / len(tokens) ** alpha (Wu et al. 2016)."""
        memory, _ = self.encode.predict_on_batch(x)
        b, k = len(x), beam_width
        n = b * k
        cross = [np.repeat(np.asarray(c), k, axis=0) for c in self.cross.predict_on_batch(memory)]
        cache = [np.asarray(c) for c in self.decoder.empty_cache(n, self.max_len)]
        tokens = np.zeros((n, 0), "int32")
        lps = np.zeros((n, 0), "float32")
        score = np.tile(np.r_[0.0, np.full(k - 1, -np.inf)], b)  # one live beam per line at t=0
        done = np.zeros(n, bool)
        last = np.full(n, self.bos, "int32")
        eye = np.eye(self.max_len, dtype="float32")
        for t in range(min(self.max_len, step_limit(memory.shape[1]))):
            slot = np.repeat(eye[t : t + 1], n, axis=0)
            out = self.step.predict_on_batch([last, slot, cache, cross])
            logp, cache = np.asarray(out[0]), [np.asarray(c) for c in out[1:]]
            vocab = logp.shape[1]
            cand = score[:, None] + logp
            # a finished beam has one continuation: itself, unchanged (token PAD, log-prob 0)
            cand[done] = -np.inf
            cand[done, PAD] = score[done]
            flat = cand.reshape(b, k * vocab)
            top = np.argsort(-flat, axis=1, kind="stable")[:, :k]
            parent = (top // vocab + np.arange(b)[:, None] * k).reshape(-1)
            nxt = (top % vocab).reshape(-1).astype("int32")
            step_lp = logp[parent, nxt]
            step_lp[done[parent]] = 0.0
            score = flat[np.arange(b)[:, None], top].reshape(-1)
            done = done[parent] | (nxt == self.eos)
            tokens = np.concatenate([tokens[parent], nxt[:, None]], axis=1)
            lps = np.concatenate([lps[parent], step_lp[:, None]], axis=1)
            cache = [c[parent] for c in cache]
            last = nxt
            if done.all():
                break
        texts = self._texts(tokens, lps, charset)
        lengths = np.maximum((tokens != PAD).sum(axis=1), 1)
        normed = score / lengths**alpha
        results = []
        for line in range(b):
            rows = range(line * k, (line + 1) * k)
            best = sorted((r for r in rows if np.isfinite(score[r])), key=lambda r: -normed[r])
            results.append([(texts[r][0], texts[r][1], float(score[r])) for r in best])
        return results

    def log_likelihood(self, x: np.ndarray, texts: list[str], charset: list[str]) -> np.ndarray:
        """Exact log P(text + EOS | image) under the decoder (teacher-forced), per line."""
        from textrec_cli.models.ctc import encode
        from textrec_cli.models.transformer import teacher_forcing

        index = {c: i for i, c in enumerate(charset)}
        seqs = [encode(t, index) for t in texts]
        # a text the decoder cannot emit (longer than its positions) has probability 0
        fits = np.array([len(s) < self.max_len for s in seqs])
        seqs = [s[: self.max_len - 1] for s in seqs]
        labels = np.full((len(seqs), max(1, max(len(s) for s in seqs))), -1, "int32")
        for row, seq in enumerate(seqs):
            labels[row, : len(seq)] = seq
        dec_in, dec_out = teacher_forcing(labels, self.num_classes)
        memory, _ = self.encode.predict_on_batch(x)
        logp = np.asarray(self.forced.predict_on_batch([dec_in, memory]))
        picked = np.take_along_axis(logp, dec_out[..., None], axis=-1)[..., 0]
        return np.where(fits, (picked * (dec_out != PAD)).sum(axis=1), -np.inf)
