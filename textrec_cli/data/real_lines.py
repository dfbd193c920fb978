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
from textrec_cli.errors import InputError, UnsafePathError
from textrec_cli.fileio import sha256_file
from textrec_cli.progress import progress_bar, stderr_console
from textrec_cli.stems import line

NAME = "real_lines"
SPLITS = ("train", "val", "test")
# what people write for the three splits; anything else is kept as written, and reported
SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test",
}  # fmt: skip


def split_name(raw: str | None) -> str:
    """train/val/test for any case or common synonym (`VAL`, `valid`, `Training`); an empty
    split is train. Without this, `VAL` rows ended as "no lines in split 'val'"."""
    name = (raw or "").strip() or "train"
    return SPLIT_ALIASES.get(name.lower(), name)


def read_labels(folder: Path) -> list[dict[str, str]]:
    """Rows of labels.tsv; a missing file, missing columns, bad UTF-8, an oversized field or a
    row without its `file` or `text` is one InputError naming the file, row and problem."""
    labels = folder / "labels.tsv"
    if not labels.is_file():
        raise InputError(f"{folder} has no labels.tsv (tab-separated: file, text[, split])")
    row_number = 1
    try:
        with open(labels, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            missing = {"file", "text"} - set(reader.fieldnames or [])
            if missing:
                raise InputError(f"{labels} lacks column(s): {', '.join(sorted(missing))}")
            rows = []
            for row in reader:
                row_number = reader.line_num
                absent = [c for c in ("file", "text") if row.get(c) is None]
                if absent:
                    raise InputError(
                        f"{labels}: line {row_number} has no {' or '.join(absent)} "
                        "(too few tab-separated fields)"
                    )
                rows.append(row)
            return rows
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{labels}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        ) from None
    except csv.Error as exc:
        raise InputError(f"{labels}: line {row_number + 1}: {exc}") from None


def inside_path(folder: Path, name: str) -> Path:
    """`folder/name`, refused (UnsafePathError) if `name` is absolute, has a `..` part, or
    resolves through a symlink outside `folder`: paths from a labels.tsv or a Label Studio export
    are untrusted data, never a way to read (or copy) another file of the machine."""
    relative = Path(name)
    if not name or relative.is_absolute() or ".." in relative.parts or "\\" in name:
        raise UnsafePathError(f"{name!r} is not a relative path inside {folder}")
    path = Path(folder) / relative
    root = Path(folder).resolve()
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise UnsafePathError(f"{name!r} leads outside {folder} (to {resolved})")
    return path


def cache_path(folder: Path, data_dir: Path, height: int) -> Path:
    key = hashlib.sha1(f"{folder.resolve()}|{height}".encode()).hexdigest()[:12]
    return Path(data_dir) / "processed" / f"real_lines-{folder.name}-{key}-h{height}.h5"


def load(
    folder: Path, data_dir: Path, height: int = line.HEIGHT, show_progress: bool = True
) -> LineDataset:
    """The folder as a LineDataset (train/val/test), built once and cached."""
    from textrec_cli.image_io import load_image

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
    if not rows:  # a header only: a set with nothing in it yet (`label-import --allow-empty`)
        return LineDataset(f"{NAME}:{folder.name}", height, {}, {"source": str(folder)})
    paths = {}  # every path checked before any work: one error line, nothing half-read
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        try:
            paths[number] = inside_path(folder, row["file"])
        except UnsafePathError as exc:
            raise InputError(f"{folder / 'labels.tsv'}: row {number}: file {exc}") from None
    charset = set(LINE_CHARSET)
    splits: dict[str, LineSplit] = {}
    skipped: dict[str, int] = {"unreadable": 0, "empty": 0, "unknown_chars": 0}
    with progress_bar(f"reading {folder.name} lines", len(rows), show_progress) as advance:
        for number, row in enumerate(rows, start=2):  # row 1 is the header
            advance(1)
            text = normalize_text(row["text"])
            if not text:
                skipped["empty"] += 1
                continue
            if unknown_chars(text, charset):
                skipped["unknown_chars"] += 1
                continue
            try:
                stem = line.line_stem(load_image(paths[number]), height)
            except InputError:  # unreadable, or so long a line that its stem is over the limit
                skipped["unreadable"] += 1
                continue
            split = splits.setdefault(split_name(row.get("split")), LineSplit([], []))
            split.images.append(stem)
            split.texts.append(text)
    if not splits:
        raise InputError(f"no usable lines in {folder} (skipped: {skipped})")
    if any(skipped.values()):
        stderr_console.print(f"{folder.name}: skipped lines {skipped}", highlight=False)
    odd = sorted(set(splits) - set(SPLITS))
    if odd:
        counts = ", ".join(f"{name!r}: {len(splits[name].texts)}" for name in odd)
        stderr_console.print(
            f"{folder / 'labels.tsv'}: split names not train/val/test ({counts} lines) are kept "
            f"as written; splits found: {', '.join(sorted(splits))}",
            highlight=False,
            soft_wrap=True,
        )
    metadata = {"source": str(folder), "labels_sha256": labels_sha, "skipped": skipped}
    dataset = LineDataset(f"{NAME}:{folder.name}", height, splits, metadata)
    dataset.checksum = write_lines(cached, dataset)
    return dataset
