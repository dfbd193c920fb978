"""One split of a stored line dataset (real_lines folders or packs, emnist_lines, iam_lines).

Training and evaluation both read stored lines through this, so a dataset added here is
trainable and scorable at once.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from textrec_cli.errors import TextrecError

# every line dataset `train` and `evaluate` know; synthetic_handwriting is generated, not stored
LINE_DATASETS = ("synthetic_handwriting", "real_lines", "emnist_lines", "iam_lines")
STORED = {"emnist_lines": ("emnist_lines", "textrec synth-lines"),
          "iam_lines": ("iam", "textrec download iam --from ARCHIVE")}  # fmt: skip


def load_line_split(
    name: str,
    split: str,
    data_dir: Path,
    height: int,
    lines_dirs: list[str] | list[Path] | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """Stemmed images and texts of `split`; empty lists when the dataset has no such split."""
    from textrec_cli.data import line_pack, line_store, real_lines

    if name == "real_lines":
        if not lines_dirs:
            raise TextrecError(
                "real_lines needs --lines-dir FOLDER (images + labels.tsv) or a `textrec pack` file"
            )
        images, texts = [], []
        for folder in lines_dirs:
            if line_pack.is_pack(folder):
                part = _pack_split(Path(folder), split, height)
            else:
                part = real_lines.load(Path(folder), data_dir, height).splits.get(split)
            if part:
                images += part.images
                texts += part.texts
        return images, texts
    if name not in STORED:
        raise TextrecError(f"unknown line dataset {name!r}")
    module_name, hint = STORED[name]
    path = importlib.import_module(f"textrec_cli.data.{module_name}").processed_path(data_dir)
    if not path.is_file():
        raise TextrecError(f"{name} is not prepared in {data_dir}: run `{hint}`")
    stored = line_store.read_lines(path, (split,))
    if stored.height != height:
        raise TextrecError(f"{path} has height {stored.height}, the model wants {height}")
    part = stored.splits.get(split)
    return (part.images, part.texts) if part else ([], [])


def _pack_split(path: Path, split: str, height: int):
    """One split of a `textrec pack` file, checked against the model's height and charset."""
    from textrec_cli.data.charsets import LINE_CHARSET
    from textrec_cli.data.line_pack import read_pack

    pack = read_pack(path, (split,))
    if pack.height != height:
        raise TextrecError(f"{path} was packed at height {pack.height}, the model wants {height}")
    unknown = set(pack.charset) - set(LINE_CHARSET)
    if unknown:
        raise TextrecError(f"{path} was packed with characters this textrec lacks: {unknown}")
    return pack.splits.get(split)
