"""A tiny EMNIST `matlab.zip` in exactly the published layout, so tests never need the 700 MB file.

Each class draws a bright 3x3 blob at a class-dependent cell of an 8x8 grid (learnable), plus a
constant bar along the top-left of row 0 so a transposition bug is visible; all white on black.
Images are stored column-major like the real data (read back with `.swapaxes(1, 2)`).
"""

from __future__ import annotations

import string
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import scipy.io

_DIGITS = string.digits
_UPPER = string.ascii_uppercase
_LOWER = string.ascii_lowercase

# subset -> (labels, characters); labels are what the .mat stores, characters its mapping codes.
SUBSET_CLASSES: dict[str, tuple[list[int], str]] = {
    "byclass": (list(range(62)), _DIGITS + _UPPER + _LOWER),
    "bymerge": (list(range(47)), _DIGITS + _UPPER + "abdefghnqrt"),
    "balanced": (list(range(47)), _DIGITS + _UPPER + "abdefghnqrt"),
    "digits": (list(range(10)), _DIGITS),
    "mnist": (list(range(10)), _DIGITS),
    "letters": (list(range(1, 27)), _UPPER),
}

BAR_COLS = 14  # row 0, columns [0, BAR_COLS) are always bright


def blob_origin(index: int) -> tuple[int, int]:
    """Top-left (row, col) of the 3x3 blob of class `index` (0-based position in the mapping)."""
    return 2 + (index // 8) * 3, 2 + (index % 8) * 3


def class_image(index: int, rng: np.random.Generator) -> np.ndarray:
    """One (28, 28) uint8 image in display orientation: dim noise, the class blob, the top bar."""
    image = rng.integers(0, 40, size=(28, 28), dtype=np.uint8)
    row, col = blob_origin(index)
    image[row : row + 3, col : col + 3] = rng.integers(200, 256, size=(3, 3), dtype=np.uint8)
    image[0, :BAR_COLS] = 255
    return image


def _split(n_per_class: int, n_classes: int, labels: list[int], rng: np.random.Generator) -> dict:
    order = rng.permutation(np.repeat(np.arange(n_classes), n_per_class))
    images = np.zeros((len(order), 28, 28), dtype=np.uint8)
    for k, index in enumerate(order):
        images[k] = class_image(int(index), rng)
    stored = images.swapaxes(1, 2).reshape(len(order), 784)  # column-major, like the real file
    return {
        "images": np.ascontiguousarray(stored, dtype=np.uint8),
        "labels": np.asarray([labels[i] for i in order], dtype=np.uint8).reshape(-1, 1),
    }


def make_emnist_matlab_zip(
    path: Path,
    n_per_class_train: int = 6,
    n_per_class_test: int = 2,
    subsets: tuple[str, ...] = ("byclass",),
    seed: int = 0,
) -> Path:
    """Write a small `matlab.zip` with `matlab/emnist-<subset>.mat` members; return `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path, "w") as zf:
        for subset in subsets:
            labels, chars = SUBSET_CLASSES[subset]
            mapping = np.array(
                [[lab, ord(ch)] for lab, ch in zip(labels, chars, strict=True)], dtype=np.int32
            )
            dataset = {
                "train": _split(n_per_class_train, len(labels), labels, rng),
                "test": _split(n_per_class_test, len(labels), labels, rng),
                "mapping": mapping,
            }
            mat = Path(tmp) / f"emnist-{subset}.mat"
            scipy.io.savemat(mat, {"dataset": dataset}, do_compression=True)
            zf.write(mat, f"matlab/emnist-{subset}.mat", compress_type=zipfile.ZIP_DEFLATED)
    return path
