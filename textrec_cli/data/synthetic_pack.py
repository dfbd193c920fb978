"""Synthetic handwriting rendered once, in shards, instead of per training step.

Rendering costs ~30 lines per CPU-second, a CPU training step ~100: drawing every synthetic line
afresh would spend most of a run in Pillow. The fast recipe renders `count` lines once (in worker
processes, with a progress bar) into line-store shards of `SHARD` lines cached under
`<data_dir>/processed/`, keyed by the fonts, the text and the height; augmentation then varies
them per draw. Line `i` is seeded by (seed, i), so a shard is the same on every machine, and a
campaign that asks for more lines later renders only the new shards.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from textrec_cli.data.line_store import LineDataset, LineSplit, read_lines, write_lines
from textrec_cli.progress import progress_bar

SHARD = 1000
_GENERATOR = None  # the worker processes' SyntheticHandwriting, inherited by fork


def cache_key(generator, split: str, seed: int) -> str:
    """Fonts, text and height: what makes the rendered lines what they are."""
    digest = hashlib.sha1(f"{split}|{seed}|{generator.height}".encode())
    for font in generator.fonts:
        digest.update(f"{font.path.name}:{font.kind}".encode())
    sentences = getattr(generator.texts, "sentences", [])
    digest.update(str(len(sentences)).encode())
    for words in sentences[:: max(1, len(sentences) // 2000)]:
        digest.update(" ".join(words).encode())
    return digest.hexdigest()[:12]


def _render(args: tuple[int, int, int]) -> tuple[list[np.ndarray], list[str]]:
    seed, start, stop = args
    images, texts = [], []
    for i in range(start, stop):
        image, text = _GENERATOR.sample(np.random.default_rng((seed, i)))
        images.append(image)
        texts.append(text)
    return images, texts


def rendered_lines(
    generator,
    count: int,
    data_dir: Path,
    split: str = "train",
    seed: int = 0,
    workers: int = 2,
    show_progress: bool = True,
) -> tuple[list[np.ndarray], list[str]]:
    """`count` lines from `generator` (a SyntheticHandwriting), rendered once and cached."""
    global _GENERATOR
    key = cache_key(generator, split, seed)
    folder = Path(data_dir) / "processed" / f"synthetic_handwriting-{split}-{key}"
    images: list[np.ndarray] = []
    texts: list[str] = []
    size = max(1, min(SHARD, count))  # a small set (validation) is one small shard
    n_shards = -(-count // size)

    def shard_file(s: int) -> Path:
        return folder / f"shard-{s:04d}-of-{size}.h5"

    missing = [s for s in range(n_shards) if not shard_file(s).is_file()]
    if missing:
        _GENERATOR = generator
        context = multiprocessing.get_context("fork")
        chunks = [
            (seed, s * size + k, min(s * size + k + 50, (s + 1) * size))
            for s in missing
            for k in range(0, size, 50)
        ]
        done: dict[int, tuple[list, list]] = {}
        label = f"rendering {len(missing) * size} synthetic {split} lines"
        with (
            progress_bar(label, len(missing) * size, show_progress) as advance,
            ProcessPoolExecutor(max(1, workers), mp_context=context) as pool,
        ):
            for (_, start, _), (imgs, txts) in zip(chunks, pool.map(_render, chunks), strict=True):
                shard = start // size
                part = done.setdefault(shard, ([], []))
                part[0].extend(imgs)
                part[1].extend(txts)
                advance(len(txts))
                if len(part[1]) == size:
                    dataset = LineDataset(
                        f"synthetic_handwriting:{split}",
                        generator.height,
                        {split: LineSplit(*done.pop(shard))},
                        {"seed": seed, "first_line": shard * size, "key": key},
                    )
                    write_lines(shard_file(shard), dataset)
    for s in range(n_shards):
        part = read_lines(shard_file(s)).splits[split]
        images += part.images
        texts += part.texts
    return images[:count], texts[:count]
