"""IAM Handwriting Database lines: crop every handwritten line from its page scan into our format.

Reads FSDL's `iamdb.zip` re-pack, or any zip or directory in the IAM layout (`forms*/<form>.jpg`
page scans, `xml/<form>.xml` annotations, optionally the Aachen `task/*.txt` split lists), without
extracting it: each page is decoded once in memory and its lines are cropped by the union of their
connected-component boxes, as FSDL does, then passed through `line_stem` like every line image.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import os
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from textrec_cli.data.charsets import normalize_text
from textrec_cli.data.download import download_file
from textrec_cli.data.line_store import LineDataset, LineSplit, write_lines
from textrec_cli.errors import InputError
from textrec_cli.fileio import sha256_file
from textrec_cli.progress import progress_bar, stderr_console
from textrec_cli.stems import line

NAME = "iam_lines"
URLS = ["https://s3-us-west-2.amazonaws.com/fsdl-public-assets/iam/iamdb.zip"]
SHA256 = "f3c9e87a88a313e557c6d3548ed8a2a1af2dc3c4a678c5f3fc6f972ba4a50c55"
LICENCE_NOTE = (
    "note: the IAM Handwriting Database may only be used by registered users who accepted its "
    "licence (https://fki.tic.heia-fr.ch/databases/iam-handwriting-database)"
)

LINE_PADDING = 8  # px of page kept around the union of a line's component boxes
VAL_FRACTION = 0.1  # of writers, when no task lists are shipped
TEST_FRACTION = 0.1
SPLITS = ("train", "val", "test")
# Aachen/RWTH "Large Writer Independent Text Line Recognition Task" lists, in priority order:
# an id listed twice ends up in the later (held-out) split, never leaking evaluation data.
TASK_FILES = {
    "trainset.txt": "train",
    "validationset1.txt": "val",
    "validationset2.txt": "val",
    "testset.txt": "test",
}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}

# ElementTree decodes `&quot;` once; some re-packs escape twice, leaving a literal entity behind.
_LEFTOVER_ENTITY = re.compile(r"&(?:quot|amp|apos|lt|gt|#\d+|#x[0-9a-fA-F]+);")


def raw_path(data_dir: Path) -> Path:
    return Path(data_dir) / "raw" / "iam" / "iamdb.zip"


def processed_path(data_dir: Path) -> Path:
    return Path(data_dir) / "processed" / f"{NAME}.h5"


@dataclass(frozen=True)
class _Line:
    id: str
    text: str  # normalized
    box: tuple[int, int, int, int] | None  # x1, y1, x2, y2 (exclusive), unpadded


@dataclass(frozen=True)
class _Form:
    id: str
    writer: str
    xml_name: str
    lines: tuple[_Line, ...]


class _Tree:
    """A zip archive or a directory behind one interface: posix member names and `read`."""

    def __init__(self, path: Path, zf: zipfile.ZipFile | None) -> None:
        self.path, self._zip = path, zf
        if zf is not None:
            self.names = [info.filename for info in zf.infolist() if not info.is_dir()]
        else:
            self.names = [
                (Path(root) / name).relative_to(path).as_posix()
                for root, _dirs, files in os.walk(path)
                for name in files
            ]
        self.names = sorted(n for n in self.names if not _hidden(n))

    def read(self, name: str) -> bytes:
        try:
            if self._zip is not None:
                return self._zip.read(name)
            return (self.path / name).read_bytes()
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise InputError(f"damaged member {name} in {self.path} (truncated?): {exc}") from None
        except OSError as exc:
            raise InputError(f"cannot read {name} from {self.path}: {exc}") from None


def _hidden(name: str) -> bool:
    """macOS resource forks and dot-files sit beside real members in hand-made zips."""
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


@contextlib.contextmanager
def _open_tree(source: Path) -> Iterator[_Tree]:
    if source.is_dir():
        yield _Tree(source, None)
        return
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise InputError(
            f"{source} is not a valid zip archive (truncated download?) "
            f"nor an extracted IAM directory: {exc}"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read IAM archive {source}: {exc}") from None
    with zf:
        yield _Tree(source, zf)


def prepare(
    data_dir: Path,
    source: Path | None = None,
    height: int = line.HEIGHT,
    show_progress: bool = True,
    **_ignored: object,
) -> Path:
    """Build `processed_path(data_dir)` from `source` (zip or extracted dir) or FSDL's download.

    The output is replaced only after every form was read, so a bad source never costs data.
    """
    if height < 8:
        raise InputError(f"line height must be at least 8 px, got {height}")
    if source is None:
        _say(LICENCE_NOTE)
        archive = download_file(URLS, raw_path(data_dir), SHA256, show_progress=show_progress)
        archive_sha: str | None = SHA256
    else:
        archive = Path(source)
        if not archive.exists():
            raise InputError(f"IAM source not found: {archive}")
        archive_sha = sha256_file(archive) if archive.is_file() else None
    with _open_tree(archive) as tree:
        forms, images, task_lists = _scan(tree)
        if task_lists:
            assignment, unlisted = _task_assignment(forms, task_lists)
            split_method = "task-lists"
        else:
            assignment, unlisted = _writer_assignment(forms), 0
            split_method = "writer-hash"
        splits, writers, skipped = _crop_all(tree, forms, images, assignment, height, show_progress)
    skipped["unlisted_lines_dropped"] = unlisted
    if not any(len(s) for s in splits.values()):
        raise InputError(f"no usable IAM lines in {archive}: {_why_empty(skipped, len(forms))}")
    if skipped["forms_without_image"] or skipped["unreadable_images"]:
        missing = skipped["forms_without_image"] + skipped["unreadable_images"]
        _say(f"warning: skipped {missing} of {len(forms)} IAM forms with no readable page image")
    counts = {name: len(split) for name, split in splits.items()}
    metadata = {
        "source": str(archive),
        "archive_sha256": archive_sha,
        "published_sha256_ok": archive_sha == SHA256,
        "split_method": split_method,
        "task_files": sorted(task_lists),
        "counts": counts,
        "writers": {name: len(ids) for name, ids in writers.items()},
        "forms": len(forms),
        "skipped": skipped,
        "line_padding": LINE_PADDING,
    }
    out = processed_path(data_dir)
    write_lines(out, LineDataset(name=NAME, height=height, splits=splits, metadata=metadata))
    return out


def _say(message: str) -> None:
    stderr_console.print(message, highlight=False, markup=False, soft_wrap=True)


def _why_empty(skipped: dict[str, int], n_forms: int) -> str:
    if skipped["forms_without_image"] + skipped["unreadable_images"] >= n_forms:
        return f"none of the {n_forms} forms in xml/ has a readable page image under forms*/"
    return (
        "every line lacked a text, a box or a split ("
        + ", ".join(f"{k}={v}" for k, v in skipped.items() if v)
        + ")"
    )


def _scan(tree: _Tree) -> tuple[list[_Form], dict[str, str], dict[str, list[str]]]:
    """Find and parse the annotations; index page images by form id; read the task lists."""
    xml_names: dict[str, str] = {}
    images: dict[str, str] = {}
    task_names: dict[str, str] = {}
    for name in tree.names:
        path = PurePosixPath(name)
        folder, suffix = path.parent.name.lower(), path.suffix.lower()
        if folder == "xml" and suffix == ".xml":
            xml_names.setdefault(path.stem, name)
        elif folder.startswith("forms") and suffix in IMAGE_SUFFIXES:
            images.setdefault(path.stem, name)
        elif folder == "task" and path.name in TASK_FILES:
            task_names.setdefault(path.name, name)
    if not xml_names:
        raise InputError(f"no xml/ folder with IAM form annotations (*.xml) in {tree.path}")
    forms = [_parse_form(tree.read(name), name) for name in xml_names.values()]
    task_lists = {
        file: [
            entry.split()[0]
            for entry in tree.read(name).decode("utf-8", "replace").splitlines()
            if entry.strip() and not entry.lstrip().startswith("#")
        ]
        for file, name in task_names.items()
    }
    return forms, images, task_lists


def _parse_form(data: bytes, name: str) -> _Form:
    """One `<form>`: its id, writer and handwritten lines (text + union of `cmp` boxes)."""
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise InputError(f"cannot parse IAM XML {name}: {exc}") from None
    form_id = root.get("id") or PurePosixPath(name).stem
    writer = root.get("writer-id") or f"form:{form_id}"
    part = root.find("handwritten-part")
    elements = part.findall("line") if part is not None else list(root.iter("line"))
    lines = []
    for index, element in enumerate(elements):
        text = element.get("text", "")
        if _LEFTOVER_ENTITY.search(text):
            text = html.unescape(text)
        line_id = element.get("id") or f"{form_id}-{index:02d}"
        lines.append(_Line(line_id, normalize_text(text), _union(element.iter("cmp"), name)))
    return _Form(form_id, writer, name, tuple(lines))


def _union(cmps: Iterable[ET.Element], name: str) -> tuple[int, int, int, int] | None:
    boxes = []
    for cmp in cmps:
        try:
            x, y = int(cmp.get("x", "")), int(cmp.get("y", ""))
            w, h = int(cmp.get("width", "")), int(cmp.get("height", ""))
        except ValueError:
            raise InputError(f"bad cmp box {dict(cmp.attrib)} in IAM XML {name}") from None
        if w > 0 and h > 0:
            boxes.append((x, y, x + w, y + h))
    if not boxes:
        return None
    x1s, y1s, x2s, y2s = zip(*boxes, strict=True)
    return min(x1s), min(y1s), max(x2s), max(y2s)


def _task_assignment(
    forms: list[_Form], task_lists: dict[str, list[str]]
) -> tuple[dict[str, str], int]:
    """Line id -> split from the Aachen lists (entries are line ids or form ids).

    Unlisted lines (the lists skip about a quarter of IAM) go to train, as in FSDL's form-level
    split, unless their form or writer is held out: val/test stay writer-independent.
    """
    by_line: dict[str, str] = {}
    by_form: dict[str, str] = {}
    for file, split in TASK_FILES.items():
        for entry in task_lists.get(file, []):
            (by_line if entry.count("-") >= 2 else by_form)[entry] = split
    assignment: dict[str, str] = {}
    for form in forms:
        for ln in form.lines:
            split = by_line.get(ln.id) or by_form.get(form.id)
            if split:
                assignment[ln.id] = split
    held_forms = {f.id for f in forms for ln in f.lines if assignment.get(ln.id) in ("val", "test")}
    held_writers = {f.writer for f in forms if f.id in held_forms}
    unlisted = 0
    for form in forms:
        held = form.id in held_forms or form.writer in held_writers
        for ln in form.lines:
            if ln.id not in assignment:
                if held:
                    unlisted += 1
                else:
                    assignment[ln.id] = "train"
    return assignment, unlisted


def writer_split(writers: Iterable[str]) -> dict[str, str]:
    """Writer -> split, ranked by a stable hash so reruns and machines agree.

    ~10% of writers each for val and test (at least one once there are 3 writers), so the model
    is always scored on hands it never saw.
    """
    ranked = sorted(set(writers), key=lambda w: (hashlib.sha256(w.encode()).hexdigest(), w))
    n = len(ranked)
    n_test = max(1, round(n * TEST_FRACTION)) if n >= 3 else 0
    n_val = max(1, round(n * VAL_FRACTION)) if n >= 3 else 0
    return {
        w: "test" if i < n_test else "val" if i < n_test + n_val else "train"
        for i, w in enumerate(ranked)
    }


def _writer_assignment(forms: list[_Form]) -> dict[str, str]:
    by_writer = writer_split(f.writer for f in forms)
    return {ln.id: by_writer[f.writer] for f in forms for ln in f.lines}


def _crop_all(
    tree: _Tree,
    forms: list[_Form],
    images: dict[str, str],
    assignment: dict[str, str],
    height: int,
    show_progress: bool,
) -> tuple[dict[str, LineSplit], dict[str, set[str]], dict[str, int]]:
    """Decode each page once and stem its assigned lines; count everything left out."""
    splits = {name: LineSplit([], []) for name in SPLITS}
    writers: dict[str, set[str]] = {name: set() for name in SPLITS}
    skipped = dict.fromkeys(
        ("forms_without_image", "unreadable_images", "lines_without_box", "lines_without_text"), 0
    )
    with progress_bar("cropping IAM lines", len(forms), enabled=show_progress) as advance:
        for form in sorted(forms, key=lambda f: f.id):
            advance(1)
            wanted: list[tuple[_Line, tuple[int, int, int, int]]] = []
            for ln in form.lines:
                if ln.id not in assignment:
                    continue
                if not ln.text:
                    skipped["lines_without_text"] += 1
                elif ln.box is None:
                    skipped["lines_without_box"] += 1
                else:
                    wanted.append((ln, ln.box))
            if not wanted:
                continue
            image_name = images.get(form.id) or images.get(PurePosixPath(form.xml_name).stem)
            if image_name is None:
                skipped["forms_without_image"] += 1
                continue
            page = _load_page(tree, image_name)
            if page is None:
                skipped["unreadable_images"] += 1
                continue
            for ln, box in wanted:
                crop = _crop(page, box)
                if crop is None:
                    skipped["lines_without_box"] += 1
                    continue
                split = assignment[ln.id]
                splits[split].images.append(line.line_stem(crop, height))
                splits[split].texts.append(ln.text)
                writers[split].add(form.writer)
    return splits, writers, skipped


def _load_page(tree: _Tree, name: str) -> Image.Image | None:
    """The page in grayscale, or None when the file is not a decodable image."""
    data = tree.read(name)
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def _crop(page: Image.Image, box: tuple[int, int, int, int]) -> Image.Image | None:
    """The padded box clipped to the page; None when it falls outside."""
    x1, y1, x2, y2 = box
    x1, y1 = max(0, x1 - LINE_PADDING), max(0, y1 - LINE_PADDING)
    x2, y2 = min(page.width, x2 + LINE_PADDING), min(page.height, y2 + LINE_PADDING)
    if x2 <= x1 or y2 <= y1:
        return None
    return page.crop((x1, y1, x2, y2))
