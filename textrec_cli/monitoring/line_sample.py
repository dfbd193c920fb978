"""Labelled real lines read by the model: the material references and CER calibrations are built
from, with the page (or writer) each line belongs to, because lines of one page are alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from textrec_cli.errors import InputError, TextrecError
from textrec_cli.monitoring.records import PredictionRecord, make_record
from textrec_cli.progress import progress_bar

# labels.tsv columns naming the document a line comes from, most specific first
DOCUMENT_COLUMNS = ("document", "page", "writer")


@dataclass(frozen=True)
class LabeledLine:
    path: Path
    text: str  # the transcription (labels.tsv `text`)
    document: str  # page / writer / request: lines of one document are alike
    collection: str  # the folder, or its sub-collection (`poilus`, `peraire`, ...)
    split: str


def _document(row: dict[str, str], folder: Path) -> str:
    for column in DOCUMENT_COLUMNS:
        if (row.get(column) or "").strip():
            return row[column].strip()
    return str(Path(row["file"]).parent)  # one folder of crops = one document


def labeled_lines(folder: Path, splits: tuple[str, ...] | None = None) -> list[LabeledLine]:
    """The rows of a real_lines folder (labels.tsv order), optionally only some splits.

    The collection is the document id's first part when it has one (`poilus/will_12`), else the
    folder's name: HTR-United folders hold several collections, Copiste one."""
    from textrec_cli.data.real_lines import inside_path, read_labels, split_name

    folder = Path(folder)
    lines = []
    for row in read_labels(folder):
        split = split_name(row.get("split"))
        if splits is not None and split not in splits:
            continue
        document = _document(row, folder)
        collection = document.split("/")[0] if "/" in document else folder.name
        lines.append(
            LabeledLine(inside_path(folder, row["file"]), row["text"], document, collection, split)
        )
    return lines


def by_document(lines: list[LabeledLine]) -> list[LabeledLine]:
    """Lines grouped by document (first-seen order), file order kept inside a document."""
    order: dict[str, list[LabeledLine]] = {}
    for line in lines:
        order.setdefault(line.document, []).append(line)
    return [line for group in order.values() for line in group]


def read_lines(
    recognizer, lines: list[LabeledLine], batch_size: int = 64, progress: bool = True
) -> list[tuple[LabeledLine, PredictionRecord]]:
    """Run the model on each line like serving does; (line, record) per readable line, the
    record carrying its document. Unreadable files are skipped (an error if none is left)."""
    from textrec_cli.image_io import load_image

    records: list[tuple[LabeledLine, PredictionRecord]] = []
    skipped = 0
    with progress_bar("reading lines", len(lines), progress) as advance:
        for start in range(0, len(lines), batch_size):
            batch = lines[start : start + batch_size]
            items, kept = [], []
            for line in batch:
                try:
                    items.append((str(line.path), load_image(line.path)))
                    kept.append(line)
                except InputError:
                    skipped += 1
            if items:
                started = time.perf_counter()
                predictions = recognizer.predict_images(items)
                latency = (time.perf_counter() - started) * 1000 / len(items)
                for line, (_, image), prediction in zip(kept, items, predictions, strict=True):
                    record = make_record(image, prediction, latency, "reference")
                    record.document = line.document
                    records.append((line, record))
            advance(len(batch))
    if not records:
        raise TextrecError(f"none of the {len(lines)} line image(s) could be read ({skipped} bad)")
    return records


def sample_documents(
    lines: list[LabeledLine], count: int, per_document: int, seed: int = 0
) -> list[LabeledLine]:
    """About `count` lines spanning many pages and writers, each collection in proportion to
    its lines (documents.pick_documents)."""
    from textrec_cli.monitoring.documents import pick_documents

    groups: dict[str, dict[str, list[int]]] = {}
    for position, line in enumerate(lines):
        groups.setdefault(line.collection, {}).setdefault(line.document, []).append(position)
    picked = pick_documents(
        {name: list(docs.values()) for name, docs in groups.items()}, count, per_document, seed
    )
    return [lines[i] for i in picked]
