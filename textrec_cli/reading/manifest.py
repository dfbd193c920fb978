"""`manifest.jsonl`: one line per page read, appended and fsynced as each page finishes.

It is the run's memory: a rerun skips a page whose last record says `ok` for the same file
hash and model version (and whose outputs exist). A kill -9 can tear only the last line; it is
ignored on reread, and the next append starts on a fresh line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

MANIFEST_FILE = "manifest.jsonl"


def read_manifest(path: Path) -> dict[str, dict[str, Any]]:
    """The last record of each file; torn or garbled lines are skipped."""
    records: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return records
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("file"), str):
                records[record["file"]] = record
    return records


class ManifestWriter:
    """Appends records durably: a line is on disk before the next page is reported done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = False
        if path.is_file() and path.stat().st_size > 0:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
        self._fh: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        if torn:  # a torn last line (kill -9 mid-write) must not swallow the next record
            self._fh.write("\n")

    def append(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
