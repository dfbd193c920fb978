"""The one on-disk format of every character dataset: HDF5 with splits, mapping and provenance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from textrec_cli.errors import InputError
from textrec_cli.fileio import atomic_path, sha256_file

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass
class Split:
    x: np.ndarray  # uint8 (N, H, W), ink bright on dark (EMNIST convention)
    y: np.ndarray  # int (N,), index into mapping


@dataclass
class CharDataset:
    name: str
    mapping: list[str]
    splits: dict[str, Split]
    metadata: dict[str, Any] = field(default_factory=dict)
    checksum: str = ""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        first = next(iter(self.splits.values()))
        return (int(first.x.shape[1]), int(first.x.shape[2]), 1)


def write_dataset(path: str | Path, dataset: CharDataset) -> str:
    """Write atomically; return the file's sha256 (recorded in every model trained on it)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["name"] = dataset.name
        f.attrs["mapping"] = json.dumps(dataset.mapping)
        f.attrs["metadata"] = json.dumps(dataset.metadata)
        for split_name, split in dataset.splits.items():
            group = f.create_group(split_name)
            group.create_dataset("x", data=split.x.astype(np.uint8), compression="lzf")
            group.create_dataset("y", data=split.y.astype(np.int16), compression="lzf")
    return sha256_file(path)


def read_dataset(path: str | Path, splits: tuple[str, ...] = SPLITS) -> CharDataset:
    """Read a dataset; a missing, truncated or foreign file raises a one-line InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"dataset file not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            mapping = json.loads(f.attrs["mapping"])
            metadata = json.loads(f.attrs.get("metadata", "{}"))
            name = str(f.attrs.get("name", path.stem))
            loaded = {
                s: Split(x=f[s]["x"][()], y=f[s]["y"][()].astype(np.int64))
                for s in splits
                if s in f
            }
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"corrupt or unreadable dataset file {path}: {exc}") from None
    if not loaded:
        raise InputError(f"dataset file {path} has none of the splits {', '.join(splits)}")
    return CharDataset(name, mapping, loaded, metadata, checksum=sha256_file(path))
