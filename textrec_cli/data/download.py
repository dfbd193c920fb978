"""Resumable, checksummed downloads with mirror fallback, so a flaky network never corrupts data."""

from __future__ import annotations

import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from textrec_cli.errors import TextrecError
from textrec_cli.fileio import sha256_file

CHUNK = 1 << 16
USER_AGENT = "textrec-download/1"


class _FetchError(Exception):
    """One URL failed; the caller reports it and tries the next mirror."""


def download_file(
    urls: list[str],
    dest: Path,
    sha256: str | None,
    *,
    show_progress: bool = True,
    timeout: float = 60,
) -> Path:
    """Fetch `dest` from the first working URL, resuming a `.part` file, and verify its sha256.

    `dest` is replaced atomically and only by a verified file; a valid `dest` is reused offline.
    """
    dest = Path(dest)
    if dest.is_file() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    console = Console(stderr=True)
    for url in urls:
        try:
            _fetch(url, part, timeout, console, show_progress)
            break
        except (_FetchError, OSError, ValueError, http.client.HTTPException) as exc:
            console.print(
                f"download from {url} failed: {_describe(exc)}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
    else:
        tried = ", ".join(urls) or "(no URLs)"
        raise TextrecError(
            f"could not download {dest.name} from any of: {tried}; "
            f"download it yourself and pass --from PATH"
        )
    actual = sha256_file(part)
    if sha256 is not None and actual != sha256:
        part.unlink(missing_ok=True)
        raise TextrecError(f"checksum mismatch for {dest.name}: expected {sha256}, got {actual}")
    os.replace(part, dest)
    return dest


def _describe(exc: BaseException) -> str:
    """One line for the stderr report, whatever layer of urllib raised."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return " ".join(str(exc).split()) or type(exc).__name__


def _fetch(url: str, part: Path, timeout: float, console: Console, show_progress: bool) -> None:
    """Fill `part` with the whole body of `url`, resuming from its current size over HTTP."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        source = Path(urllib.request.url2pathname(parsed.path))
        with open(source, "rb") as src, open(part, "wb") as out:
            _copy(src, out, 0, source.stat().st_size, url, console, show_progress)
        return
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not offset:
            raise
        # Range not satisfiable: the .part is already complete, or is stale and must restart.
        total = _total_from_content_range(exc.headers.get("Content-Range", ""))
        if total == offset:
            return
        part.unlink()
        _fetch(url, part, timeout, console, show_progress)
        return
    with response:
        if getattr(response, "status", 200) != 206:  # the server ignored Range: start over
            offset, mode = 0, "wb"
        elif _start_from_content_range(response.headers.get("Content-Range", "")) == offset:
            mode = "ab"
        else:
            part.unlink()
            raise _FetchError("server answered a different byte range than requested")
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        with open(part, mode) as out:
            _copy(response, out, offset, total, url, console, show_progress)


def _copy(
    src: BinaryIO,
    out: BinaryIO,
    offset: int,
    total: int | None,
    url: str,
    console: Console,
    show_progress: bool,
) -> None:
    """Stream `src` into `out` with a bytes/speed/ETA bar; a short body is an error, not success."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    name = Path(urllib.parse.urlparse(url).path).name or url
    done = offset
    with Progress(*columns, console=console, disable=not show_progress, transient=True) as bar:
        task = bar.add_task(name, total=total, completed=offset)
        for block in iter(lambda: src.read(CHUNK), b""):
            out.write(block)
            done += len(block)
            bar.update(task, completed=done)
    if total is not None and done != total:
        raise _FetchError(f"connection closed after {done} of {total} bytes")


def _start_from_content_range(value: str) -> int | None:
    match = re.match(r"bytes\s+(\d+)-", value or "")
    return int(match.group(1)) if match else None


def _total_from_content_range(value: str) -> int | None:
    match = re.match(r"bytes\s+[\d*-]+/(\d+)", value or "")
    return int(match.group(1)) if match else None
