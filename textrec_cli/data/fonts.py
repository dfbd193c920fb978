"""Discover handwriting fonts and group them into families, so splits never share a typeface."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

FONT_SUFFIXES = {".ttf", ".otf", ".woff", ".woff2"}
_STYLE = re.compile(
    r"(latin|400|normal|regular|bold|italic|oblique|light|bi|bd|it|font|\d+)+$", re.IGNORECASE
)


@dataclass(frozen=True)
class FontSource:
    path: Path
    family: str
    kind: str  # "outline" (TTF/OTF/WOFF) or "hershey" (stroke font)


def family_of(path: Path) -> str:
    """'DancingScript-Bold.otf' and 'dancing-script-latin-400-normal.woff' are one family."""
    if path.suffix == ".jhf":
        return "hershey-script" if path.stem.startswith("script") else f"hershey-{path.stem}"
    name = path.stem
    parts = re.split(r"[-_ ]+", name)
    while len(parts) > 1 and _STYLE.fullmatch(parts[-1]):
        parts.pop()
    joined = "".join(parts)
    # CamelCase style suffixes glued to the name: dkgBI, dkgBd, PurisaBoldOblique
    joined = re.sub(r"(?<=[a-z])(BI|Bd|It|Bold|Oblique|Italic)+$", "", joined)
    joined = joined.lower()
    return re.sub(r"font$", "", joined) or joined


def discover_fonts(fonts_dir: Path) -> list[FontSource]:
    """All outline fonts in `fonts_dir` and Hershey `.jhf` fonts in it or its `hershey/` folder."""
    sources = [
        FontSource(p, family_of(p), "outline")
        for p in sorted(fonts_dir.iterdir())
        if p.suffix.lower() in FONT_SUFFIXES
    ]
    for folder in (fonts_dir, fonts_dir / "hershey"):
        if folder.is_dir():
            sources += [
                FontSource(p, family_of(p), "hershey") for p in sorted(folder.glob("*.jhf"))
            ]
    return sources


def split_families(
    families: list[str], val_fraction: float = 0.1, test_fraction: float = 0.15
) -> dict[str, str]:
    """Assign whole families to train/val/test by a stable hash (no seed: splits never drift)."""
    ordered = sorted(set(families), key=lambda f: hashlib.sha1(f.encode()).hexdigest())
    n = len(ordered)
    n_test = max(1, round(n * test_fraction)) if n >= 3 else 0
    n_val = max(1, round(n * val_fraction)) if n >= 3 else 0
    split = {}
    for i, family in enumerate(ordered):
        split[family] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return split
