"""The one on-disk format of line datasets: HDF5 of variable-width line images + transcriptions.

Images are stored already through the line stem (fixed height, ink bright on black, uint8) and
concatenated along the width, with offsets, so one file holds any mix of line lengths compactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from textrec_cli.errors import InputError
from textrec_cli.fileio import atomic_path, sha256_file

FORMAT = "textrec-lines-1"


@dataclass
class LineSplit:
    images: list[np.ndarray]  # each uint8 (H, W_i), ink bright
    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class LineDataset:
    name: str
    height: int
    splits: dict[str, LineSplit]
    metadata: dict[str, Any] = field(default_factory=dict)
    checksum: str = ""


def write_lines(path: str | Path, dataset: LineDataset) -> str:
    """Atomic write; returns the file's sha256."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["name"] = dataset.name
        f.attrs["height"] = dataset.height
        f.attrs["metadata"] = json.dumps(dataset.metadata)
        for split_name, split in dataset.splits.items():
            widths = np.array([img.shape[1] for img in split.images], dtype=np.int64)
            pixels = (
                np.concatenate(split.images, axis=1)
                if split.images
                else np.zeros((dataset.height, 0), np.uint8)
            )
            group = f.create_group(split_name)
            group.create_dataset("pixels", data=pixels.astype(np.uint8), compression="lzf")
            group.create_dataset("widths", data=widths)
            group.create_dataset("texts", data=split.texts, dtype=h5py.string_dtype())
    return sha256_file(path)


def read_lines(path: str | Path, splits: tuple[str, ...] | None = None) -> LineDataset:
    """Read a line dataset; a missing or damaged file is one clear InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"line dataset not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise InputError(f"{path} is not a textrec line dataset")
            loaded = {}
            for name in splits or tuple(f.keys()):
                if name not in f:
                    continue
                pixels = f[name]["pixels"][()]
                widths = f[name]["widths"][()]
                bounds = np.concatenate([[0], np.cumsum(widths)])
                images = [pixels[:, bounds[i] : bounds[i + 1]] for i in range(len(widths))]
                texts = [t.decode() if isinstance(t, bytes) else t for t in f[name]["texts"][()]]
                loaded[name] = LineSplit(images, texts)
            dataset = LineDataset(
                str(f.attrs["name"]),
                int(f.attrs["height"]),
                loaded,
                json.loads(f.attrs.get("metadata", "{}")),
            )
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"corrupt or unreadable line dataset {path}: {exc}") from None
    dataset.checksum = sha256_file(path)
    return dataset
