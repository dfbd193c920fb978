"""Width-bucketed, deterministic line batches for the fast recipe, prepared ahead in a thread.

Batch `k` is a pure function of (seed, k): a run resumed at step k draws exactly the batches an
uninterrupted run would, with no data-order state to save. Lines are grouped by stem width into
buckets (quantiles over all sources), and a batch draws from one bucket, so it pads little; the
source of each line still follows the mix weights exactly, because a bucket is chosen with the
probability of its weighted mass and a source within it in proportion to its share there.
Augmentation's width stretch is drawn once per batch and every line is stretched towards the
batch's median width times it: random widths per line padded a third of each batch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import keras
import numpy as np

from textrec_cli.data.augment import STRETCH_SIGMA, augment_line_fast, stretch_to_width
from textrec_cli.training.line_batches import pad_batch


@dataclass
class LinePool:
    """Stems held in memory, each draw augmented with probability `p_augment`."""

    images: list[np.ndarray]
    texts: list[str]
    augment: float = 1.0
    p_augment: float = 0.85
    widths: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.widths = np.array([image.shape[1] for image in self.images], dtype=np.int64)

    def draw(
        self, index: int, rng: np.random.Generator, width: int | None = None
    ) -> tuple[np.ndarray, str]:
        """Line `index`, augmented or not; with `width`, stretched towards that width either way
        (within the augmentation's stretch range), so a batch's lines pad little."""
        image, text = self.images[index], self.texts[index]
        if self.augment > 0 and rng.random() < self.p_augment:
            image = augment_line_fast(image, rng, self.augment, width)
        elif width is not None and self.augment > 0:
            image = stretch_to_width(image, width, self.augment)
        return fit_ctc(image, text), text


def ctc_min_width(text: str, frame_px: int = 4) -> int:
    """Pixels a line needs for CTC to align `text`: a frame per character plus a blank frame
    between repeated ones (models emit a frame per `frame_px` pixels)."""
    repeats = sum(a == b for a, b in zip(text, text[1:], strict=False))
    return frame_px * (len(text) + repeats)


def fit_ctc(image: np.ndarray, text: str) -> np.ndarray:
    """Widen a line too narrow for its text (small writing, or squeezed by augmentation), so no
    sample has an impossible CTC alignment (an infinite loss)."""
    need = ctc_min_width(text)
    if image.shape[1] >= need:
        return image
    from PIL import Image

    widened = Image.fromarray(image).resize((need, image.shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(widened)


class BucketedBatches:
    """`batch(step)` -> (uint8 images (B, H, W, 1), int labels (B, L) padded with PAD)."""

    def __init__(
        self,
        pools: dict[str, LinePool],
        weights: dict[str, float],
        charset: list[str],
        batch_size: int = 32,
        seed: int = 0,
        buckets: int = 6,
        max_width: int = 1600,
        stretch_batches: bool = True,
    ) -> None:
        self.names = [n for n in pools if weights.get(n, 0) > 0 and len(pools[n].texts)]
        if not self.names:
            raise ValueError("no line source with a positive weight has lines")
        self.pools = [pools[n] for n in self.names]
        self.index = {c: i for i, c in enumerate(charset)}
        self.batch_size, self.seed, self.max_width = batch_size, seed, max_width
        all_widths = np.concatenate([p.widths for p in self.pools])
        self.edges = np.unique(np.quantile(all_widths, np.linspace(0, 1, buckets + 1)[1:-1]))
        n_buckets = len(self.edges) + 1
        self.members = [
            [np.flatnonzero(np.digitize(p.widths, self.edges) == b) for b in range(n_buckets)]
            for p in self.pools
        ]
        w = np.array([weights[n] for n in self.names], dtype=np.float64)
        frac = np.array(
            [
                [len(m) / len(p.texts) for m in ms]
                for p, ms in zip(self.pools, self.members, strict=True)
            ]
        )
        mass = (w / w.sum())[:, None] * frac  # (sources, buckets)
        self.p_bucket = mass.sum(0) / mass.sum()
        self.p_source = mass / np.maximum(mass.sum(0, keepdims=True), 1e-12)
        strength = max(p.augment for p in self.pools)
        self.stretch_sigma = STRETCH_SIGMA * strength if stretch_batches else 0.0
        # TensorFlow traces once for variable shapes; JAX/torch compile per shape, so snap wider
        tf = keras.backend.backend() == "tensorflow"
        self.pad = (
            {"width_step": 32}
            if tf
            else {"width_step": 128, "label_step": 16, "labels_per_pixel": 1 / 8}
        )

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng((self.seed, step))
        bucket = int(rng.choice(len(self.p_bucket), p=self.p_bucket))
        sources = rng.choice(len(self.pools), size=self.batch_size, p=self.p_source[:, bucket])
        members = [self.members[s][bucket] for s in sources]
        picks = [(s, int(m[rng.integers(len(m))])) for s, m in zip(sources, members, strict=True)]
        width = None
        if self.stretch_sigma > 0:  # one random stretch per batch, towards its median width
            median = float(np.median([self.pools[s].widths[i] for s, i in picks]))
            width = int(round(median * np.exp(rng.normal(0, self.stretch_sigma))))
        images, texts = [], []
        for s, i in picks:
            image, text = self.pools[s].draw(i, rng, width)
            images.append(image)
            texts.append(text)
        # pad_batch squeezes lines over max_width: never below what their text needs
        limit = max(self.max_width, max(ctc_min_width(t) for t in texts))
        return pad_batch(images, texts, self.index, limit, **self.pad)

    def padding_fraction(self, steps: int = 50, start: int = 0) -> float:
        """Share of batch pixels that are padding, over `steps` batches (for the benchmark)."""
        padded = used = 0
        for step in range(start, start + steps):
            x, _ = self.batch(step)
            padded += x.shape[0] * x.shape[2]
            used += int((x[:, :, :, 0].max(axis=1) > 0).sum())
        return 1.0 - used / max(padded, 1)


def prefetch(
    stream: BucketedBatches, start: int, stop: int, depth: int = 6
) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """(step, batch) for start <= step < stop, prepared by one background thread.

    Augmentation is NumPy/Pillow C code that overlaps the model step, which itself spends
    its time in TensorFlow's own threads without the GIL."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop_event = threading.Event()

    def produce() -> None:
        try:
            for step in range(start, stop):
                if stop_event.is_set():
                    return
                buffer.put((step, stream.batch(step)))
        except BaseException as exc:  # surface data errors in the training thread
            buffer.put((None, exc))
        buffer.put((None, None))

    worker = threading.Thread(target=produce, name="line-batches", daemon=True)
    worker.start()
    try:
        while True:
            step, item = buffer.get()
            if step is None:
                if isinstance(item, BaseException):
                    raise item
                return
            yield step, item
    finally:
        stop_event.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
