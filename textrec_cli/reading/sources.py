"""The pages of an archive: folders, globs, zip or tar files, and text files listing paths.

Every page gets a `key`, the relative path its outputs mirror under the output folder. Names
inside archives are untrusted: an absolute path, a `..` part or a tar link is recorded as a
failed page (with its reason), never a path to write to.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from textrec_cli import settings
from textrec_cli.errors import InputError, LimitError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".jp2", ".pbm", ".pgm"}
)
LIST_SUFFIXES = frozenset({".txt", ".lst", ".list"})
ARCHIVE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip", *LIST_SUFFIXES)


@dataclass(frozen=True)
class PageRef:
    """One page to read: where it comes from, and the key its outputs are written under."""

    key: str  # relative POSIX path, mirrored under the output folder
    origin: str  # what the user recognises: a path, or ARCHIVE:MEMBER
    path: Path  # the file, or the archive holding the member
    member: str | None = None
    archive: str | None = None  # "zip" or "tar"
    error: str | None = None  # refused while listing (unsafe name, link, ...)


def is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def safe_key(name: str) -> str | None:
    """`name` as a relative POSIX path, or None if it is absolute, has `..`, or is empty."""
    if not name or "\x00" in name or "\\" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or len(name) > 1024:
        return None
    parts = [p for p in path.parts if p not in ("", ".")]
    return "/".join(parts) or None


def list_pages(sources: list[Path]) -> list[PageRef]:
    """Every page of every source, in a stable order; keys are prefixed by the source's name
    when several sources are given (so two folders holding `p001.jpg` do not collide)."""
    refs: list[PageRef] = []
    for source in sources:
        found = _source_pages(source)
        if len(sources) > 1:
            found = [_prefixed(ref, source_label(source)) for ref in found]
        refs += found
    return refs


def source_label(source: Path) -> str:
    """A source's name without archive or list suffixes (`scans.tar.gz` -> `scans`); a glob's
    is its fixed leading folder's."""
    parts = Path(source).parts
    fixed = [p for p in parts[: next((i for i, p in enumerate(parts) if glob.has_magic(p)), None)]]
    name = fixed[-1] if fixed else "source"
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return safe_key(name) or "source"


def _prefixed(ref: PageRef, prefix: str) -> PageRef:
    return PageRef(f"{prefix}/{ref.key}", ref.origin, ref.path, ref.member, ref.archive, ref.error)


def _source_pages(source: Path) -> list[PageRef]:
    text = str(source)
    if glob.has_magic(text) and not source.exists():
        return _glob_pages(text)
    if source.is_dir():
        return _folder_pages(source)
    if not source.is_file():
        raise InputError(f"{source}: no such file, folder or glob match")
    if zipfile.is_zipfile(source):
        return _zip_pages(source)
    if _is_tar(source):
        return _tar_pages(source)
    if source.suffix.lower() in LIST_SUFFIXES:
        return _list_pages(source)
    # any other file is one page (a corrupt or non-image file then fails with its reason)
    return [PageRef(source.name, str(source), source)]


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except (OSError, tarfile.TarError):
        return False


def _folder_pages(folder: Path) -> list[PageRef]:
    refs = []
    for root, dirs, files in os.walk(folder):  # never follows directory links: no loops
        dirs.sort()
        for name in sorted(files):
            if is_image_name(name):
                path = Path(root) / name
                refs.append(PageRef(path.relative_to(folder).as_posix(), str(path), path))
    return refs


def _glob_pages(pattern: str) -> list[PageRef]:
    parts = Path(pattern).parts
    fixed = [p for p in parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))]]
    base = Path(*fixed) if fixed else Path(".")
    matches = sorted(glob.glob(pattern, recursive=True))
    paths = [Path(m) for m in matches if Path(m).is_file() and is_image_name(m)]
    if not paths:
        raise InputError(f"{pattern}: no image matches")
    return [PageRef(p.relative_to(base).as_posix(), str(p), p) for p in paths]


def _list_pages(listing: Path) -> list[PageRef]:
    """A text file with one path per line (relative to the file's folder; # comments)."""
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{listing}: not a readable UTF-8 list of paths ({exc})") from None
    base = listing.parent.resolve()
    refs = []
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        path = Path(entry) if Path(entry).is_absolute() else listing.parent / entry
        resolved = path.resolve()
        try:
            key = resolved.relative_to(base).as_posix()
        except ValueError:  # outside the list's folder: mirror its absolute path
            key = resolved.relative_to(resolved.anchor).as_posix()
        refs.append(PageRef(key, entry, path))
    return refs


def _zip_pages(archive: Path) -> list[PageRef]:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{archive}: unreadable zip ({exc})") from None
    refs = []
    for info in infos:
        if info.is_dir() or not is_image_name(info.filename):
            continue
        key = safe_key(info.filename)
        error = None if key else f"unsafe member name {info.filename!r}"
        origin = f"{archive}:{info.filename}"
        ref_key = key or _unsafe_key(origin)
        refs.append(PageRef(ref_key, origin, archive, info.filename, "zip", error))
    return refs


def _tar_pages(archive: Path) -> list[PageRef]:
    try:
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise InputError(f"{archive}: unreadable tar ({exc})") from None
    refs = []
    for member in members:
        if member.isdir() or not is_image_name(member.name):
            continue
        key = safe_key(member.name)
        error = None
        if not key:
            error = f"unsafe member name {member.name!r}"
        elif not member.isfile():
            kind = "link" if member.issym() or member.islnk() else "special file"
            error = f"{member.name!r} is a {kind}, not a regular file"
        origin = f"{archive}:{member.name}"
        ref_key = key or _unsafe_key(origin)
        refs.append(PageRef(ref_key, origin, archive, member.name, "tar", error))
    return refs


def _unsafe_key(origin: str) -> str:
    """A unique placeholder key for a refused member (it is never written)."""
    return "_unsafe/" + hashlib.sha1(origin.encode(), usedforsecurity=False).hexdigest()[:16]


class PageOpener:
    """Reads pages' bytes, keeping each archive open across its members (a tar.gz read in
    order is decompressed once). Every read is capped at the image byte limit."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes or settings.MAX_IMAGE_BYTES
        self._open: dict[Path, zipfile.ZipFile | tarfile.TarFile] = {}

    def read(self, ref: PageRef) -> bytes:
        if ref.error:
            raise InputError(ref.error)
        if ref.archive is None:
            return self._read_file(ref.path)
        handle = self._handle(ref)
        if isinstance(handle, zipfile.ZipFile):
            size = handle.getinfo(ref.member).file_size
            self._check_size(size, ref.origin)
            with handle.open(ref.member) as fh:
                data = fh.read(self.max_bytes + 1)  # the header's size may lie
        else:
            member = handle.getmember(ref.member)
            self._check_size(member.size, ref.origin)
            fh = handle.extractfile(member)
            if fh is None:
                raise InputError(f"{ref.origin}: not a regular file")
            data = fh.read(self.max_bytes + 1)
        self._check_size(len(data), ref.origin)
        return data

    def _read_file(self, path: Path) -> bytes:
        try:
            if not path.is_file():
                raise InputError(f"{path}: not found or not a file")
            self._check_size(path.stat().st_size, str(path))
            with open(path, "rb") as fh:
                data = fh.read(self.max_bytes + 1)
        except OSError as exc:
            raise InputError(f"{path}: unreadable ({exc.strerror or exc})") from None
        self._check_size(len(data), str(path))
        return data

    def _check_size(self, size: int, name: str) -> None:
        if size > self.max_bytes:
            raise LimitError(f"{name}: {size} bytes, over the {self.max_bytes}-byte limit")

    def _handle(self, ref: PageRef) -> zipfile.ZipFile | tarfile.TarFile:
        if ref.path not in self._open:
            try:
                opened: zipfile.ZipFile | tarfile.TarFile = (
                    zipfile.ZipFile(ref.path)  # noqa: SIM115 (closed in close())
                    if ref.archive == "zip"
                    else tarfile.open(ref.path)  # noqa: SIM115
                )
            except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
                raise InputError(f"{ref.path}: unreadable archive ({exc})") from None
            self._open[ref.path] = opened
        return self._open[ref.path]

    def close(self) -> None:
        for handle in self._open.values():
            with contextlib.suppress(OSError):
                handle.close()
        self._open.clear()

    def pages(self, refs: list[PageRef]) -> Iterator[tuple[PageRef, bytes | None, str | None]]:
        """(ref, bytes, None) or (ref, None, reason) for each page, in order."""
        for ref in refs:
            try:
                yield ref, self.read(ref), None
            except InputError as exc:
                yield ref, None, str(exc)
            except Exception as exc:  # zlib, encrypted members, ...: the page fails, not the run
                yield ref, None, f"{ref.origin}: unreadable ({type(exc).__name__}: {exc})"
