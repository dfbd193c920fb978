"""Which contribution set a model was trained on: a real_lines folder that label-import wrote
from contributions (labels.tsv with `writer` and `licence` columns) is named by its labels'
hash, which is the same thing DVC versions (`data/contributions`, dvc.yaml).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from textrec_cli.fileio import sha256_file

CONTRIBUTION_COLUMNS = {"writer", "licence"}


def contribution_version(folder: str | Path) -> dict[str, Any] | None:
    """{"path", "labels_sha256", "lines", "writers", "licences", "splits"} for a contributions
    folder; None for any other line folder (or one without a readable labels.tsv)."""
    labels = Path(folder) / "labels.tsv"
    try:
        with open(labels, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            if not set(reader.fieldnames or []) >= CONTRIBUTION_COLUMNS:
                return None
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None  # real_lines.load reports a broken folder with the reason; not this
    return {
        "path": str(folder),
        "labels_sha256": sha256_file(labels),
        "lines": len(rows),
        "writers": len({row["writer"] for row in rows if row.get("writer")}),
        "licences": dict(sorted(Counter(row.get("licence") or "" for row in rows).items())),
        "splits": dict(sorted(Counter(row.get("split") or "train" for row in rows).items())),
    }


def contribution_metadata(lines_dirs: Sequence[str | Path]) -> dict[str, Any]:
    """{"contributions": [version, ...]} when any of `lines_dirs` is a contributions set, else
    {}: merged into a trained model's metadata so it names the handwriting it learned from."""
    found = [v for v in map(contribution_version, lines_dirs) if v is not None]
    return {"contributions": found} if found else {}
