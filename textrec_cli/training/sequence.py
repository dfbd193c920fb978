"""Batches for training: class-balanced sampling and on-the-fly augmentation, any Keras backend."""

from __future__ import annotations

import keras
import numpy as np

from textrec_cli.data.augment import augment_glyph


def balanced_indices(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sample `size` indices so every class is drawn equally often (EMNIST ByClass is skewed)."""
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[inverse]
    return rng.choice(len(labels), size=size, replace=True, p=weights / weights.sum())


class GlyphSequence(keras.utils.PyDataset):
    """Yields (x uint8 (B, H, W, 1), y int) batches; reshuffles and re-augments every epoch."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int = 128,
        *,
        augment: float = 0.0,
        balance: bool = False,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.augment, self.balance, self.shuffle = augment, balance, shuffle
        self.seed, self.epoch = seed, 0
        self.order = np.arange(len(x))
        self.on_epoch_end()

    def __len__(self) -> int:
        return int(np.ceil(len(self.x) / self.batch_size))

    def on_epoch_end(self) -> None:
        rng = np.random.default_rng((self.seed, self.epoch))
        if self.balance:
            self.order = balanced_indices(self.y, len(self.y), rng)
        elif self.shuffle:
            self.order = rng.permutation(len(self.x))
        self.epoch += 1

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        batch = self.x[idx]
        if self.augment > 0:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            batch = np.stack([augment_glyph(img, rng, self.augment) for img in batch])
        return batch[..., None], self.y[idx]
