"""EMNIST: fetch NIST's `matlab.zip` (or use a local copy) and turn one subset into our HDF5 format.

Only the one `.mat` member needed is extracted, so the ~700 MB archive never lands on disk twice.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import scipy.io
from rich.console import Console

from textrec_cli.data.download import download_file
from textrec_cli.data.h5store import CharDataset, Split, write_dataset
from textrec_cli.errors import InputError
from textrec_cli.fileio import sha256_file

NAME = "emnist"
URLS = [
    "https://s3-us-west-2.amazonaws.com/fsdl-public-assets/matlab.zip",
    "https://biometrics.nist.gov/cs_links/EMNIST/matlab.zip",
]
SHA256 = "e1fa805cdeae699a52da0b77c2db17f6feb77eed125f9b45c022e7990444df95"

_MEMBER = re.compile(r"^matlab/emnist-([a-z]+)\.mat$")


def raw_path(data_dir: Path) -> Path:
    return Path(data_dir) / "raw" / NAME / "matlab.zip"


def processed_path(data_dir: Path) -> Path:
    return Path(data_dir) / "processed" / f"{NAME}.h5"


def prepare(
    data_dir: Path,
    source: Path | None = None,
    subset: str = "byclass",
    val_fraction: float = 0.1,
    seed: int = 0,
    show_progress: bool = True,
) -> Path:
    """Build `processed_path(data_dir)` from `source` (any local archive) or the published one.

    The output is replaced only after every step succeeded, so a bad archive never costs data.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    console = Console(stderr=True)
    if source is not None:
        archive = Path(source)
        if not archive.is_file():
            raise InputError(f"EMNIST archive not found: {archive}")
        archive_sha = sha256_file(archive)
        if archive_sha != SHA256:
            console.print(
                f"warning: {archive} is not the published EMNIST archive "
                f"(sha256 {archive_sha}, expected {SHA256}); using it anyway",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
    else:
        archive = download_file(URLS, raw_path(data_dir), SHA256, show_progress=show_progress)
        archive_sha = SHA256
    out = processed_path(data_dir)
    with _status(console, show_progress, f"reading emnist-{subset} from {archive.name}") as say:
        train, test, mapping = _load_subset(archive, subset, out.parent)
        say(f"splitting {val_fraction:.0%} of {len(train.y)} training images into val")
        train, val = stratified_split(train, val_fraction, seed)
        say(f"writing {out}")
        metadata = {
            "source": str(archive),
            "archive_sha256": archive_sha,
            "subset": subset,
            "published_sha256_ok": archive_sha == SHA256,
            "val_fraction": val_fraction,
            "seed": seed,
        }
        splits = {"train": train, "val": val, "test": test}
        dataset = CharDataset(name=NAME, mapping=mapping, splits=splits, metadata=metadata)
        write_dataset(out, dataset)
    return out


@contextlib.contextmanager
def _status(console: Console, show: bool, message: str) -> Iterator[Callable[[str], None]]:
    """Yield a function that updates a spinner line on stderr (a no-op when progress is off)."""
    if not show:
        yield lambda _msg: None
        return
    with console.status(message) as status:
        yield lambda msg: status.update(msg)


def _load_subset(archive: Path, subset: str, scratch: Path) -> tuple[Split, Split, list[str]]:
    """Extract and parse `matlab/emnist-<subset>.mat`; every archive problem is one InputError."""
    member = f"matlab/emnist-{subset}.mat"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zf, tempfile.TemporaryDirectory(dir=scratch) as tmp:
            names = zf.namelist()
            if member not in names:
                found = sorted(m.group(1) for m in map(_MEMBER.match, names) if m)
                raise InputError(
                    f"{archive} has no {member}; subsets in it: {', '.join(found) or 'none'}"
                )
            mat_path = zf.extract(member, tmp)
            return _parse_mat(mat_path, f"{member} in {archive}")
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InputError(f"{archive} is not a valid zip (truncated download?): {exc}") from None
    except OSError as exc:
        raise InputError(f"cannot read EMNIST archive {archive}: {exc}") from None


def _parse_mat(mat_path: str, label: str) -> tuple[Split, Split, list[str]]:
    try:
        dataset = scipy.io.loadmat(mat_path)["dataset"]
        raw_mapping = np.asarray(dataset["mapping"][0, 0])
        raw_train, raw_test = dataset["train"][0, 0], dataset["test"][0, 0]
        order = np.argsort(raw_mapping[:, 0], kind="stable")
        labels = raw_mapping[order, 0].astype(np.int64)
        mapping = [chr(int(code)) for code in raw_mapping[order, 1]]
        train = _to_split(raw_train, labels)
        test = _to_split(raw_test, labels)
    except InputError as exc:
        raise InputError(f"unreadable {label}: {exc}") from None
    except Exception as exc:  # scipy raises many types (MatReadError, ValueError, TypeError, ...)
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"unreadable {label}: {reason}") from None
    if len(np.unique(labels)) != len(labels):
        raise InputError(f"unreadable {label}: duplicate labels in mapping")
    return train, test, mapping


def _to_split(raw: np.ndarray, labels: np.ndarray) -> Split:
    """Un-transpose the column-major images and turn labels into indices into the mapping."""
    images = np.asarray(raw["images"][0, 0])
    y_raw = np.asarray(raw["labels"][0, 0]).reshape(-1).astype(np.int64)
    if images.ndim != 2 or images.shape[1] != 784 or len(images) != len(y_raw):
        shapes = f"{images.shape} and {y_raw.shape}"
        raise InputError(f"expected images (N, 784) and N labels, got {shapes}")
    index = np.searchsorted(labels, y_raw)
    valid = index < len(labels)
    if not valid.all() or not (labels[index[valid]] == y_raw).all():
        raise InputError("labels missing from the mapping")
    x = np.ascontiguousarray(images.astype(np.uint8, copy=False).reshape(-1, 28, 28).swapaxes(1, 2))
    return Split(x=x, y=index)


def stratified_split(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Hold out `fraction` of each class (rounded, at least one kept for training), seeded."""
    rng = np.random.default_rng(seed)
    held = []
    for cls in np.unique(split.y):
        members = np.flatnonzero(split.y == cls)
        k = min(int(np.floor(len(members) * fraction + 0.5)), len(members) - 1)
        held.append(rng.permutation(members)[:k])
    mask = np.zeros(len(split.y), dtype=bool)
    if held:
        mask[np.concatenate(held)] = True
    return (
        Split(x=split.x[~mask], y=split.y[~mask]),
        Split(x=split.x[mask], y=split.y[mask]),
    )
