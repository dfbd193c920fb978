"""real_pages: a folder of page images with ALTO v4 or PAGE-XML ground truth (line polygons + text).

Layouts read: `pages.tsv` (header with `image`, `alto` or `xml`, optional `split`; the layout of
`../shared/data/copiste/pages`), or else every `*.xml` under the folder paired with the image its
XML names (eScriptorium and Transkribus exports). Pages without a split are `train`.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textrec_cli.data.page_xml import Page, PageLine, read_page_file
from textrec_cli.errors import InputError

NAME = "real_pages"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")


@dataclass
class PageSample:
    image_path: Path
    page: Page
    split: str


def default_folder() -> Path | None:
    """$TEXTREC_PAGES_DIR, data/raw/pages, or ../shared/data/copiste/pages."""
    candidates = [os.environ.get("TEXTREC_PAGES_DIR"), "data/raw/pages",
                  "../shared/data/copiste/pages"]  # fmt: skip
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def resolve_folder(folder: Path | None) -> Path:
    folder = folder or default_folder()
    if folder is None:
        raise InputError(
            "no page folder: give one (images + ALTO/PAGE-XML) or set TEXTREC_PAGES_DIR"
        )
    if not Path(folder).is_dir():
        raise InputError(f"page folder not found: {folder}")
    return Path(folder)


def load(folder: Path | None = None, split: str | None = None) -> list[PageSample]:
    """Pages of `split` (all when None), each with its image path and parsed ground truth."""
    folder = resolve_folder(folder)
    table = folder / "pages.tsv"
    samples = _from_table(folder, table) if table.is_file() else _from_xml_files(folder)
    if split is not None:
        samples = [s for s in samples if s.split == split]
    if not samples:
        raise InputError(f"no pages{f' in split {split!r}' if split else ''} in {folder}")
    return samples


def _from_table(folder: Path, table: Path) -> list[PageSample]:
    with open(table, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        return []
    xml_key = "alto" if "alto" in rows[0] else "xml"
    if "image" not in rows[0] or xml_key not in rows[0]:
        raise InputError(f"{table} needs columns image and alto (or xml)")
    return [
        PageSample(folder / row["image"], repair_baselines(read_page_file(folder / row[xml_key])),
                   (row.get("split") or "train").strip())
        for row in rows
    ]  # fmt: skip


def _inside(line: PageLine, slack: float = 0.25) -> bool:
    """Whether the baseline lies within the polygon's box (grown by `slack` of its height)."""
    x0, y0, x1, y1 = line.box
    pad = slack * (y1 - y0 + 1)
    return all(x0 - pad <= x <= x1 + pad and y0 - pad <= y <= y1 + pad for x, y in line.baseline)


def repair_baselines(page: Page) -> Page:
    """Rescale baselines left in the original scan's pixels, drop those that still miss their line.

    Some exports rescale polygons to the delivered JPEG but not baselines (`pages_more`: baselines
    ~2.9x too large); a wrong baseline would draw the detector's training band far off the line.
    """
    lines = [ln for ln in page.lines if ln.baseline and ln.polygon]
    if not lines or np.mean([_inside(ln) for ln in lines]) > 0.8:
        return page
    ratios = [
        sum(x for x, _ in ln.baseline) / len(ln.baseline) / max((ln.box[0] + ln.box[2]) / 2, 1)
        for ln in lines
    ]
    k = float(np.median(ratios))
    for line in lines:
        scaled = [(round(x / k), round(y / k)) for x, y in line.baseline]
        line.baseline = scaled if _inside(PageLine(line.polygon, scaled)) else []
    return page


def _from_xml_files(folder: Path) -> list[PageSample]:
    samples = []
    for xml in sorted(folder.rglob("*.xml")):
        try:
            page = read_page_file(xml)
        except InputError:
            continue  # METS and other XML files live beside exports
        image = _find_image(folder, xml, page.image)
        if image is not None:
            samples.append(PageSample(image, page, "train"))
    return samples


def _find_image(folder: Path, xml: Path, name: str) -> Path | None:
    candidates = [xml.parent / name, folder / name, folder / "images" / Path(name).name]
    candidates += [xml.with_suffix(s) for s in IMAGE_SUFFIXES]
    candidates += [xml.parent.parent / "images" / (xml.stem + s) for s in IMAGE_SUFFIXES]
    return next((c for c in candidates if c.is_file()), None)
