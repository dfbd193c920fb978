"""real_lines: any folder of line images + `labels.tsv`, so users train on their own transcriptions.

`labels.tsv` has a header with at least `file` and `text` (paths relative to the folder) and
optionally `split` (train/val/test; rows without one are train). This is the layout of
`../shared/data/copiste` and `../shared/data/htr_united`, and what `label-import` will write.
Lines are stemmed once and cached as a line-store HDF5 keyed by the folder and its labels file.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from textrec_cli.data.charsets import LINE_CHARSET, normalize_text, unknown_chars
from textrec_cli.data.line_store import LineDataset, LineSplit, read_lines, write_lines
from textrec_cli.errors import InputError
from textrec_cli.fileio import sha256_file
from textrec_cli.progress import progress_bar, stderr_console
from textrec_cli.stems import line

NAME = "real_lines"


def read_labels(folder: Path) -> list[dict[str, str]]:
    """Rows of labels.tsv; a missing file or columns is a clear InputError."""
    labels = folder / "labels.tsv"
    if not labels.is_file():
        raise InputError(f"{folder} has no labels.tsv (tab-separated: file, text[, split])")
    with open(labels, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = {"file", "text"} - set(reader.fieldnames or [])
        if missing:
            raise InputError(f"{labels} lacks column(s): {', '.join(sorted(missing))}")
        return list(reader)


def cache_path(folder: Path, data_dir: Path, height: int) -> Path:
    key = hashlib.sha1(f"{folder.resolve()}|{height}".encode()).hexdigest()[:12]
    return Path(data_dir) / "processed" / f"real_lines-{folder.name}-{key}-h{height}.h5"


def load(
    folder: Path, data_dir: Path, height: int = line.HEIGHT, show_progress: bool = True
) -> LineDataset:
    """The folder as a LineDataset (train/val/test), built once and cached."""
    from textrec_cli.inference.image_io import load_image

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"line folder not found: {folder}")
    labels_sha = sha256_file(folder / "labels.tsv") if (folder / "labels.tsv").is_file() else ""
    cached = cache_path(folder, data_dir, height)
    if cached.is_file():
        dataset = read_lines(cached)
        if dataset.metadata.get("labels_sha256") == labels_sha:
            return dataset
    rows = read_labels(folder)
    charset = set(LINE_CHARSET)
    splits: dict[str, LineSplit] = {}
    skipped: dict[str, int] = {"unreadable": 0, "empty": 0, "unknown_chars": 0}
    with progress_bar(f"reading {folder.name} lines", len(rows), show_progress) as advance:
        for row in rows:
            advance(1)
            text = normalize_text(row["text"])
            if not text:
                skipped["empty"] += 1
                continue
            if unknown_chars(text, charset):
                skipped["unknown_chars"] += 1
                continue
            try:
                image = load_image(folder / row["file"])
            except InputError:
                skipped["unreadable"] += 1
                continue
            split = splits.setdefault((row.get("split") or "train").strip(), LineSplit([], []))
            split.images.append(line.line_stem(image, height))
            split.texts.append(text)
    if not splits:
        raise InputError(f"no usable lines in {folder} (skipped: {skipped})")
    if any(skipped.values()):
        stderr_console.print(f"{folder.name}: skipped lines {skipped}", highlight=False)
    metadata = {"source": str(folder), "labels_sha256": labels_sha, "skipped": skipped}
    dataset = LineDataset(f"{NAME}:{folder.name}", height, splits, metadata)
    dataset.checksum = write_lines(cached, dataset)
    return dataset
