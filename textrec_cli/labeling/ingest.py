"""Bring a Label Studio export back as a `real_lines` folder that `train --lines-dir` reads.

Every task is checked before anything is written: unlabeled or cancelled tasks, empty
transcriptions, characters the line models cannot output, missing images and duplicates (the same
image labeled twice; with different texts both are dropped) are reported, never silently kept.

Contributions (`label-export --source contributions`) come back as `lines/` + labels.tsv with
`writer` and `licence` columns, split by writer (a hash of the writer id, or of the paper form for
form lines): no hand is in both train and val. Lines of no known writer go to train, since
nothing says whose they are.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from textrec_cli.data.charsets import LINE_CHARSET, normalize_text, unknown_chars
from textrec_cli.data.real_lines import inside_path
from textrec_cli.errors import InputError, UnsafePathError
from textrec_cli.fileio import atomic_dir
from textrec_cli.labeling.label_studio import ExportedTask, image_name, parse_export
from textrec_cli.monitoring.store import CONTRIBUTION_LICENCES, WRITER_ID

LABELS_FILE = "labels.tsv"
# written into every folder label-import makes: only such a folder is ever replaced
MARKER_FILE = ".textrec-label-import"
# longer than any line a person writes (the longest real line in ../shared is ~120 characters);
# a 10 MB "transcription" would pass into labels.tsv and break every reader of it
MAX_TEXT_CHARS = 1000
# what label-export writes (a sha256 hex) and any plain file stem; never a path
SAFE_HASH = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass
class Problem:
    task_id: object
    image: str
    kind: str  # unlabeled | cancelled | empty | too_long | unknown_chars | missing_image |
    # unsafe_path | malformed | duplicate | duplicate_conflict | bad_provenance
    detail: str = ""


@dataclass
class ImportReport:
    tasks: int
    imported: int
    output: str | None
    splits: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    writers: int = 0  # distinct writers (contributions only)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for problem in self.problems:
            counts[problem.kind] = counts.get(problem.kind, 0) + 1
        return counts

    def to_dict(self) -> dict:
        return {
            "tasks": self.tasks,
            "imported": self.imported,
            "output": self.output,
            "splits": self.splits,
            "writers": self.writers,
            "problem_counts": self.counts(),
            "problems": [vars(p) for p in self.problems],
        }


def read_export(path: Path) -> list[ExportedTask]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Label Studio export not found: {path}")
    try:
        return parse_export(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not a Label Studio JSON export ({exc})") from None


def _find_image(task: ExportedTask, images_dir: Path) -> Path | None:
    """The task's image inside `images_dir` (by hash, else by the URL's file name). A name that
    leaves the folder (`..`, an absolute path, a symlink pointing out) is never opened."""
    names = [f"{task.image_hash}.png"] if task.image_hash else []
    names.append(image_name(task.image))
    for name in names:
        if name and (images_dir / name).is_file():
            inside_path(images_dir, name)
            return images_dir / name
    return None


def split_of(key: str, val_fraction: float) -> str:
    """Stable split by content: the same image lands in the same split on every import."""
    bucket = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if bucket < val_fraction else "train"


def writer_key(task: ExportedTask) -> str | None:
    """Whose hand a line is: the writer id, else its paper form (one person fills one form)."""
    if task.writer_id:
        return task.writer_id
    return f"form-{task.form_id}" if task.form_id else None


def split_of_writer(writer: str | None, val_fraction: float) -> str:
    """The writer's split, the same on every import; lines of no known writer train."""
    return split_of(f"writer:{writer}", val_fraction) if writer else "train"


def validate(
    tasks: list[ExportedTask], images_dir: Path
) -> tuple[list[tuple[ExportedTask, Path, str]], list[Problem]]:
    """(task, image file, normalized text) for the good tasks, and a Problem for each other."""
    charset = set(LINE_CHARSET)
    problems: list[Problem] = []
    good: dict[str, tuple[ExportedTask, Path, str]] = {}
    conflicted: set[str] = set()
    for task in tasks:

        def report(kind: str, detail: str = "", task: ExportedTask = task) -> None:
            problems.append(Problem(task.task_id, task.image, kind, detail))

        if task.malformed:
            report("malformed", task.malformed)
            continue
        if task.cancelled:
            report("cancelled")
            continue
        if task.image_hash is not None and not SAFE_HASH.fullmatch(task.image_hash):
            report("unsafe_path", f"image_hash {task.image_hash[:80]!r} is not a plain name")
            continue
        odd = [
            f"{name} {value[:40]!r}"
            for name, value in (("writer_id", task.writer_id), ("form_id", task.form_id))
            if value and not WRITER_ID.fullmatch(value)
        ]
        if task.licence is not None and task.licence not in CONTRIBUTION_LICENCES:
            odd.append(f"licence {task.licence[:40]!r}")
        if odd:  # labels.tsv must not get a tab, a newline or an unknown licence from an export
            report("bad_provenance", "; ".join(odd))
            continue
        if task.text is None:
            report("unlabeled")
            continue
        if len(task.text) > MAX_TEXT_CHARS:
            report("too_long", f"{len(task.text)} characters, over the {MAX_TEXT_CHARS} limit")
            continue
        text = normalize_text(task.text)
        if not text:
            report("empty", "the transcription is empty")
            continue
        unknown = unknown_chars(text, charset)
        if unknown:
            report("unknown_chars", "".join(sorted(unknown)))
            continue
        try:
            image = _find_image(task, images_dir)
        except UnsafePathError as exc:
            report("unsafe_path", str(exc))
            continue
        if image is None:
            report("missing_image", f"no {image_name(task.image) or '?'} in {images_dir}")
            continue
        key = task.image_hash or image.name
        if key in conflicted:
            report("duplicate_conflict", f"image {key[:12]} labeled with different texts")
        elif key in good:
            if good[key][2] == text:
                report("duplicate", f"image {key[:12]} labeled twice (same text, kept once)")
            else:
                report("duplicate_conflict", f"{good[key][2]!r} vs {text!r}: both dropped")
                first = good.pop(key)[0]
                detail = f"image {key[:12]} labeled with different texts"
                problems.append(Problem(first.task_id, first.image, "duplicate_conflict", detail))
                conflicted.add(key)
        else:
            good[key] = (task, image, text)
    return list(good.values()), problems


def import_export(
    export_path: Path,
    output: Path,
    images_dir: Path | None = None,
    val_fraction: float = 0.1,
    strict: bool = False,
    allow_empty: bool = False,
) -> ImportReport:
    """Validate the export, then write OUTPUT/images/* + OUTPUT/labels.tsv in one atomic step.
    `allow_empty`: an export with no tasks at all (no contributions reviewed yet) writes an
    empty contributions set, so a pipeline that trains on it still runs."""
    export_path = Path(export_path)
    images_dir = Path(images_dir) if images_dir else export_path.parent / "images"
    check_output(output)
    tasks = read_export(export_path)
    good, problems = validate(tasks, images_dir)
    report = ImportReport(len(tasks), 0, None, problems=problems)
    if strict and problems:
        raise InputError(
            f"{export_path}: {len(problems)} problem(s) {report.counts()}; "
            "nothing written (drop --strict to import the good tasks)"
        )
    if not tasks and allow_empty:
        with atomic_dir(output) as tmp:
            (tmp / "lines").mkdir()
            (tmp / LABELS_FILE).write_text("file\tsplit\twriter\tlicence\ttext\n")
            (tmp / MARKER_FILE).write_text(json.dumps({"export": str(export_path)}) + "\n")
        report.output = str(output)
        return report
    if not good:
        raise InputError(f"{export_path}: no usable transcriptions ({report.counts()})")
    contributed = any(task.licence for task, _, _ in good)
    folder = "lines" if contributed else "images"  # contributions: copiste's layout
    rows = ["file\tsplit\twriter\tlicence\ttext" if contributed else "file\tsplit\ttext"]
    writers = set()
    with atomic_dir(output) as tmp:
        (tmp / folder).mkdir()
        for task, image, text in good:
            key = task.image_hash or image.stem
            name = f"{folder}/{key}{image.suffix.lower()}"
            shutil.copyfile(image, tmp / name)
            if contributed:
                writer = writer_key(task)
                writers.add(writer)
                split = split_of_writer(writer, val_fraction)
                rows.append(f"{name}\t{split}\t{writer or ''}\t{task.licence or ''}\t{text}")
            else:
                split = split_of(key, val_fraction)
                rows.append(f"{name}\t{split}\t{text}")
            report.splits[split] = report.splits.get(split, 0) + 1
        (tmp / LABELS_FILE).write_text("\n".join(rows) + "\n", encoding="utf-8")
        (tmp / MARKER_FILE).write_text(json.dumps({"export": str(export_path)}) + "\n")
    report.imported = len(good)
    report.writers = len(writers - {None})
    report.output = str(output)
    return report


def check_output(output: Path) -> None:
    """Refuse to replace anything but an empty folder or one an earlier label-import wrote: the
    atomic swap deletes what was there, and a user's folder must never go without a word."""
    output = Path(output)
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        raise InputError(f"--output {output} exists and is not a folder: choose another path")
    if output.is_dir() and any(output.iterdir()) and not (output / MARKER_FILE).is_file():
        raise InputError(
            f"--output {output} is a non-empty folder that label-import did not write: "
            "choose a new folder (nothing was changed)"
        )
