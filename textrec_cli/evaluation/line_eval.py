"""Evaluate a line model: CER, WER, exact match, speed, and the worst lines dumped for a look."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from textrec_cli.data.line_sources import load_line_split, synthetic_generators
from textrec_cli.errors import TextrecError
from textrec_cli.evaluation.text_metrics import line_report
from textrec_cli.fileio import atomic_path, write_json

SYNTHETIC_EVAL_SEED = 2024


def line_pairs(
    dataset: str,
    split: str,
    data_dir: Path,
    height: int,
    lines_dirs: list[Path] | None = None,
    fonts_dir: Path | None = None,
    limit: int | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """Stemmed images and reference texts of one split of a line dataset."""
    if dataset == "synthetic_handwriting":  # the corpus alone: no real text leaks into the test
        generator = synthetic_generators((split,), data_dir, fonts_dir, height)[split]
        rng = np.random.default_rng((SYNTHETIC_EVAL_SEED, ("train", "val", "test").index(split)))
        pairs = [generator.sample(rng) for _ in range(limit or 500)]
        images, texts = [p[0] for p in pairs], [p[1] for p in pairs]
    else:
        images, texts = load_line_split(dataset, split, data_dir, height, lines_dirs)
    if not texts:
        raise TextrecError(f"{dataset} has no lines in split {split!r}")
    if limit:
        images, texts = images[:limit], texts[:limit]
    return images, texts


def evaluate_lines(
    reader: Any,
    dataset: str,
    split: str,
    data_dir: Path,
    lines_dirs: list[Path] | None = None,
    fonts_dir: Path | None = None,
    limit: int | None = None,
    output: Path | None = None,
    worst_dir: Path | None = None,
) -> dict[str, Any]:
    images, refs = line_pairs(dataset, split, data_dir, reader.height, lines_dirs, fonts_dir, limit)
    reader.read_stems(images[:8])  # warm-up, so the timing is steady-state
    started = time.perf_counter()
    decoded = reader.read_stems(images)
    seconds = time.perf_counter() - started
    hyps = [text for text, _ in decoded]
    report = line_report(refs, hyps, files=[f"{split}/{i}" for i in range(len(refs))])
    report.update(
        model=reader.version,
        dataset=dataset,
        split=split,
        ms_per_line=round(1000 * seconds / len(refs), 2),
        mean_confidence=round(float(np.mean([c for _, c in decoded])), 4),
    )
    if worst_dir is not None:
        worst_dir.mkdir(parents=True, exist_ok=True)
        for rank, row in enumerate(report["worst"]):
            index = int(row["index"])
            with atomic_path(worst_dir / f"{rank:02d}.png") as tmp:
                Image.fromarray(255 - images[index]).save(tmp, format="PNG")
            (worst_dir / f"{rank:02d}.txt").write_text(f"ref: {row['ref']}\nhyp: {row['hyp']}\n")
    if output is not None:
        write_json(output, report)
    return report
