"""Line packs: every real line of some folders, stemmed and JPEG-encoded, in one small HDF5 file.

A pack is what travels to a lent GPU machine (64 MiB for code, wheels and data together): the
11,467 usable real lines of `../shared/data` are 207 MiB as raw stems at height 40 and 44.7 MiB
here. `train` and `evaluate` read a pack wherever they take a lines folder.

Layout: root attrs `format`, `height`, `charset` (JSON), `provenance` (JSON: sources with their
labels/images sha256 and counts, JPEG quality, textrec version) and `header_sha256`; one group
per split with `jpeg` (the JPEGs' bytes, concatenated), `jpeg_bytes` (their lengths),
`widths`, `texts`, `source` (index into provenance sources) and attr `sha256` over that content,
checked on every read.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from PIL import Image

from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.data.line_store import LineSplit
from textrec_cli.errors import InputError
from textrec_cli.fileio import atomic_path, sha256_file
from textrec_cli.progress import progress_bar
from textrec_cli.stems import line

FORMAT = "textrec-line-pack-1"
# JPEG quality of the stems: 75 keeps the mean absolute pixel error at 2.75/255 (well under the
# augmentation's changes) and all shared real lines at 43.7 MiB (70: 40.3 MiB, 3.34/255)
DEFAULT_QUALITY = 75


@dataclass
class LinePack:
    """A pack read back: decoded stems per split plus what it was made from."""

    height: int
    charset: list[str]
    splits: dict[str, LineSplit]
    provenance: dict[str, Any] = field(default_factory=dict)


def is_pack(path: str | Path) -> bool:
    """A pack is a file (a lines folder is a directory); the format is checked on read."""
    path = Path(path)
    return path.is_file() or (not path.exists() and path.suffix in (".h5", ".hdf5"))


def encode_jpeg(stem: np.ndarray, quality: int = DEFAULT_QUALITY) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(stem, mode="L").save(buffer, "JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def decode_jpeg(data: bytes | np.ndarray) -> np.ndarray:
    with Image.open(io.BytesIO(bytes(data))) as image:
        return np.asarray(image.convert("L"), dtype=np.uint8)


def _split_digest(jpegs: list[bytes], widths: np.ndarray, texts: list[str], source) -> str:
    digest = hashlib.sha256()
    for data, width, text, src in zip(jpegs, widths, texts, source, strict=True):
        digest.update(len(data).to_bytes(8, "little") + bytes(data))
        digest.update(f"{int(width)}|{int(src)}|{text}\n".encode())
    return digest.hexdigest()


def _header_digest(height: int, charset: str, provenance: str) -> str:
    return hashlib.sha256(f"{FORMAT}|{height}|{charset}|{provenance}".encode()).hexdigest()


def _images_sha256(folder: Path) -> str:
    """One digest over labels.tsv order and every image file it names (missing ones included)."""
    from textrec_cli.data.real_lines import read_labels

    digest = hashlib.sha256()
    for row in read_labels(folder):
        image = folder / row["file"]
        digest.update(row["file"].encode() + b"\0")
        digest.update(sha256_file(image).encode() if image.is_file() else b"missing")
    return digest.hexdigest()


def write_pack(
    path: str | Path,
    folders: list[Path],
    data_dir: Path,
    height: int = line.HEIGHT,
    quality: int = DEFAULT_QUALITY,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Pack the lines of `folders` (stems cached by real_lines) atomically; returns a summary."""
    from textrec_cli import __version__
    from textrec_cli.data import real_lines

    if not folders:
        raise InputError("pack needs at least one --lines-dir FOLDER (images + labels.tsv)")
    if not 1 <= quality <= 95:
        raise InputError(f"--quality must be 1..95, not {quality}")
    sources, per_split = [], {}
    for index, folder in enumerate(folders):
        dataset = real_lines.load(Path(folder), data_dir, height, show_progress)
        sources.append(
            {
                "name": Path(folder).name,
                "folder": str(folder),
                "labels_sha256": dataset.metadata.get("labels_sha256", ""),
                "images_sha256": _images_sha256(Path(folder)),
                "skipped": dataset.metadata.get("skipped", {}),
                "counts": {name: len(part) for name, part in dataset.splits.items()},
            }
        )
        for name, part in dataset.splits.items():
            bucket = per_split.setdefault(name, ([], [], []))
            bucket[0].extend(part.images)
            bucket[1].extend(part.texts)
            bucket[2].extend([index] * len(part))
    provenance = json.dumps(
        {
            "sources": sources,
            "jpeg_quality": quality,
            "textrec_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        ensure_ascii=False,
    )
    charset = json.dumps(LINE_CHARSET, ensure_ascii=False)
    total = sum(len(texts) for _, texts, _ in per_split.values())
    error_sum, pixels = 0.0, 0
    with (
        atomic_path(path) as tmp,
        h5py.File(tmp, "w") as f,
        progress_bar(f"packing {total} lines", total, show_progress) as advance,
    ):
        f.attrs.update(format=FORMAT, height=height, charset=charset, provenance=provenance)
        f.attrs["header_sha256"] = _header_digest(height, charset, provenance)
        for name, (images, texts, source) in per_split.items():
            jpegs = []
            for stem in images:
                data = encode_jpeg(stem, quality)
                error_sum += float(np.abs(decode_jpeg(data).astype(np.int16) - stem).sum())
                pixels += stem.size
                jpegs.append(data)
                advance(1)
            widths = np.array([img.shape[1] for img in images], dtype=np.int32)
            group = f.create_group(name)
            # one byte string + lengths: HDF5 variable-length rows cost ~190 bytes of heap each
            blob = np.frombuffer(b"".join(jpegs), dtype=np.uint8)
            group.create_dataset("jpeg", data=blob)
            group.create_dataset("jpeg_bytes", data=np.array([len(d) for d in jpegs], np.int64))
            group.create_dataset("widths", data=widths)
            group.create_dataset("texts", data=texts, dtype=h5py.string_dtype())
            group.create_dataset("source", data=np.array(source, dtype=np.int16))
            group.attrs["sha256"] = _split_digest(jpegs, widths, texts, source)
    return {
        "path": str(path),
        "bytes": Path(path).stat().st_size,
        "lines": {name: len(texts) for name, (_, texts, _) in per_split.items()},
        "height": height,
        "jpeg_quality": quality,
        "mean_abs_pixel_error": round(error_sum / max(pixels, 1), 3),
        "sha256": sha256_file(path),
    }


def read_pack(path: str | Path, splits: tuple[str, ...] | None = None) -> LinePack:
    """Decode the requested splits (all by default); any damage is one clear InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"line pack not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise InputError(f"{path} is not a textrec line pack (make one: `textrec pack`)")
            height, charset = int(f.attrs["height"]), str(f.attrs["charset"])
            provenance = str(f.attrs["provenance"])
            if f.attrs.get("header_sha256") != _header_digest(height, charset, provenance):
                raise InputError(f"line pack {path} is corrupt: header checksum mismatch")
            loaded = {}
            for name in splits or tuple(f.keys()):
                if name not in f:
                    continue
                group = f[name]
                blob = group["jpeg"][()].tobytes()
                ends = np.cumsum(group["jpeg_bytes"][()])
                if len(blob) != (int(ends[-1]) if len(ends) else 0):
                    raise InputError(f"line pack {path} is corrupt: JPEG data truncated")
                jpegs = [blob[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
                widths = group["widths"][()]
                texts = [t.decode() if isinstance(t, bytes) else t for t in group["texts"][()]]
                source = group["source"][()]
                if group.attrs.get("sha256") != _split_digest(jpegs, widths, texts, source):
                    raise InputError(f"line pack {path} is corrupt: checksum mismatch in {name!r}")
                images = [decode_jpeg(data) for data in jpegs]
                shapes = [(height, int(w)) for w in widths]
                if [img.shape for img in images] != shapes:
                    raise InputError(f"line pack {path} is corrupt: image sizes disagree")
                loaded[name] = LineSplit(images, texts)
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"corrupt or unreadable line pack {path}: {first}") from None
    return LinePack(height, json.loads(charset), loaded, json.loads(provenance))
