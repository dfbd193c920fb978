"""Batches of whole lines for CTC training: a weighted mix of sources, padded per batch.

A source is anything with `sample(rng) -> (image, text)`: stored lines (real, IAM, EMNIST Lines,
with augmentation) or a generator (synthetic handwriting). Mixing happens per sample, so every
batch holds real and synthetic lines in the configured proportions.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from textrec_cli import settings
from textrec_cli.data.augment import augment_line
from textrec_cli.models.ctc import PAD, encode


@dataclass
class StoredLines:
    """Lines held in memory; each draw is augmented (training only)."""

    images: list[np.ndarray]
    texts: list[str]
    augment: float = 1.0

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        i = int(rng.integers(len(self.texts)))
        image = self.images[i]
        if self.augment > 0 and rng.random() < 0.8:
            image = augment_line(image, rng, self.augment)
        return image, self.texts[i]


def pad_batch(
    images: list[np.ndarray],
    texts: list[str],
    index: dict[str, int],
    max_width: int,
    odd: bool = False,
    width_step: int = 8,
    label_step: int = 2,
    labels_per_pixel: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad images with background (0) to a common width; labels with PAD.

    Width rounds up to a multiple of `width_step`, label length to one of `label_step` and to
    at least `labels_per_pixel` x width. With `odd`, both then get a parity offset (width +4,
    length +1) so consecutive batches never share a shape (see LineBatches)."""
    fitted = []
    for image in images:
        if image.shape[1] > max_width:  # squeeze over-long lines rather than crop their text
            from PIL import Image

            image = np.asarray(Image.fromarray(image).resize((max_width, image.shape[0])))
        fitted.append(image)
    height = fitted[0].shape[0]
    width = int(np.ceil(max(i.shape[1] for i in fitted) / width_step) * width_step)
    width += 4 if odd else 0
    x = np.zeros((len(fitted), height, width, 1), dtype=np.uint8)
    for k, image in enumerate(fitted):
        x[k, :, : image.shape[1], 0] = image
    labels = [encode(t, index) for t in texts]
    length = label_step * int(np.ceil(max(len(seq) for seq in labels) / label_step))
    length = max(length, int(width * labels_per_pixel)) + (1 if odd else 0)
    y = np.full((len(labels), max(length, 1)), PAD, dtype=np.int32)
    for k, seq in enumerate(labels):
        y[k, : len(seq)] = seq
    return x, y


class LineBatches(keras.utils.PyDataset):
    """`steps` batches per epoch drawn from weighted sources; new draws every epoch (seeded).

    Batch shapes depend on the backend. TensorFlow traces one function for variable shapes, if
    it sees two different ones first (odd/even parity). JAX and PyTorch compile per shape, so
    there widths snap to steps of 128 px and labels pad to width / 8 (CTC needs 2 frames per
    label at most, a frame is 4 px): about one shape per width step, 13 in all.
    """

    def __init__(
        self,
        sources: dict[str, object],
        weights: dict[str, float],
        charset: list[str],
        batch_size: int = 32,
        steps: int = 200,
        max_width: int = 1600,
        seed: int = 0,
        workers: int | None = None,
    ) -> None:
        # worker processes are forked per epoch, so they see the current epoch and mix weights
        workers = workers or settings.data_workers()
        super().__init__(
            workers=workers, use_multiprocessing=workers > 1, max_queue_size=max(10, 2 * workers)
        )
        self.sources, self.names = sources, list(sources)
        total = sum(weights[n] for n in self.names)
        self.p = np.array([weights[n] / total for n in self.names])
        self.index = {c: i for i, c in enumerate(charset)}
        # Keras infers the tf.data signature from the first two batches; at least two steps,
        # and alternating shape parity, make width and label length always read as variable.
        self.batch_size, self.steps, self.max_width = batch_size, max(2, steps), max_width
        self.seed, self.epoch = seed, 0
        self.variable_shapes = keras.backend.backend() == "tensorflow"

    def set_weights(self, weights: dict[str, float]) -> None:
        """Change the mix (curriculum) from the next batch on."""
        total = sum(weights.get(n, 0.0) for n in self.names)
        self.p = np.array([weights.get(n, 0.0) / total for n in self.names])

    def __len__(self) -> int:
        return self.steps

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def __getitem__(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng((self.seed, self.epoch, step))
        picks = rng.choice(len(self.names), size=self.batch_size, p=self.p)
        images, texts = [], []
        for k in picks:
            image, text = self.sources[self.names[k]].sample(rng)
            images.append(image)
            texts.append(text)
        if self.variable_shapes:
            return pad_batch(images, texts, self.index, self.max_width, odd=step % 2 == 1)
        return pad_batch(
            images, texts, self.index, self.max_width, width_step=128, label_step=16,
            labels_per_pixel=1 / 8,
        )  # fmt: skip


class AttentionBatches(LineBatches):
    """The same batches with teacher-forcing inputs and targets for attention decoders
    (`transformer`): image + BOS-shifted text in, CTC labels + EOS-terminated text out."""

    def __getitem__(self, step: int) -> tuple[dict, dict]:
        from textrec_cli.models.transformer import teacher_forcing

        x, y = super().__getitem__(step)
        dec_in, dec_out = teacher_forcing(y, len(self.index))
        return {"image": x, "tokens": dec_in}, {"ctc": y, "dec": dec_out}
