"""Line datasets for training and evaluation: one split of a stored one (real_lines folders or
packs, emnist_lines, iam_lines), and the synthetic_handwriting generators.

Training and evaluation both read lines through this, so a line dataset added to `registry` is
trainable and scorable at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from textrec_cli.data import registry
from textrec_cli.errors import TextrecError

if TYPE_CHECKING:
    from textrec_cli.data.corpus import TextSampler
    from textrec_cli.data.synthetic_handwriting import SyntheticHandwriting

# every line dataset `train` and `evaluate` know; synthetic_handwriting is generated, not stored
LINE_DATASETS = registry.names("line")


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
    dataset = registry.REGISTRY.get(name)
    if dataset is None or dataset.kind != "line" or dataset.prepared not in ("download", "synth"):
        raise TextrecError(f"unknown line dataset {name!r}")
    path = dataset.load().processed_path(data_dir)
    if not path.is_file():
        raise TextrecError(f"{name} is not prepared in {data_dir}: run `{dataset.how}`")
    stored = line_store.read_lines(path, (split,))
    if stored.height != height:
        raise TextrecError(f"{path} has height {stored.height}, the model wants {height}")
    part = stored.splits.get(split)
    return (part.images, part.texts) if part else ([], [])


def line_texts(data_dir: Path, real_texts: list[str] | None = None, seed: int = 0) -> TextSampler:
    """The TextSampler synthetic_handwriting draws from: corpus sentences (English) plus the
    train transcriptions of the real lines (French), so synthesis covers the target's words."""
    from textrec_cli.data.charsets import LINE_CHARSET
    from textrec_cli.data.corpus import TextSampler, corpus_dir, corpus_zips, load_sentences

    folder = corpus_dir(data_dir)
    if folder is None:
        raise TextrecError("no text corpus found: run `textrec download corpus` (or --from ZIP)")
    sentences = load_sentences(corpus_zips(folder)) + list(real_texts or [])
    return TextSampler(sentences, LINE_CHARSET, min_chars=4, max_chars=64, seed=seed)


def synthetic_generators(
    splits: tuple[str, ...],
    data_dir: Path,
    fonts_dir: Path | None,
    height: int,
    real_texts: list[str] | None = None,
    seed: int = 0,
) -> dict[str, SyntheticHandwriting]:
    """A synthetic_handwriting generator per split (train fonts for train, held-out families for
    val/test) drawing from one `line_texts` sampler: the one place trainers and evaluator get it."""
    from textrec_cli.data import synthetic_handwriting as handwriting

    if fonts_dir is None:
        raise TextrecError("synthetic_handwriting needs fonts: --fonts-dir or TEXTREC_FONTS_DIR")
    texts = line_texts(data_dir, real_texts, seed)
    return {split: handwriting.for_split(split, fonts_dir, texts, height) for split in splits}


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
