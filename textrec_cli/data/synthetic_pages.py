"""synthetic_pages: whole pages composed on the fly from handwritten lines, with exact geometry.

Lines come from real `train` line crops (a `real_lines` folder, default ../shared/data/copiste)
and from synthetic handwriting (fonts + Hershey strokes); they are laid out with margins, indents
and uneven spacing, bent slightly, on varied paper (blank or ruled, tinted, grainy, with
bleed-through, folds), in sizes from small to very large and sometimes with widely spaced words,
next to printed headers and stray marks that are not text; then the page gets a small skew, a
photographed-page perspective and uneven lighting, and sometimes lies on a dark scanner bed with
a ruler. Every geometric step is applied to the line polygons and baselines too, so labels are
exact. Seeded: same seed, same pages.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from textrec_cli.data.page_targets import line_band
from textrec_cli.data.page_xml import Page, PageLine
from textrec_cli.errors import TextrecError

NAME = "synthetic_pages"
HEADERS = [
    "J'accepte les conditions de participation et je consens a la diffusion de ce texte.",
    "Formulaire 12-B  -  Archives  -  page",
    "Please write clearly in black or blue ink within the margins.",
]


def default_lines_dir() -> Path | None:
    folder = Path("../shared/data/copiste")
    return folder if (folder / "labels.tsv").is_file() else None


@dataclass
class SyntheticPages:
    """`sample_page(rng)` -> (gray page, line bands, lines); `render(rng)` -> (image, Page)."""

    crops: list[tuple[Path, str]] = field(default_factory=list)  # real line crops, train split
    handwriting: object | None = None  # a SyntheticHandwriting generator (or None)
    real_share: float = 0.6

    @classmethod
    def for_split(
        cls, split: str, lines_dirs: list[str] | None = None, seed: int = 0, fonts_dir=None
    ) -> SyntheticPages:
        """Real crops of `split` (val pages use val crops) + handwriting fonts of that split."""
        from textrec_cli import settings

        crops: list[tuple[Path, str]] = []
        folders = [Path(p) for p in lines_dirs or []] or [default_lines_dir()]
        for folder in folders:
            if folder is None or not (folder / "labels.tsv").is_file():
                continue
            with open(folder / "labels.tsv", newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
                    if (row.get("split") or "train").strip() == split:
                        crops.append((folder / row["file"], row["text"]))
        handwriting = None
        fonts = fonts_dir or settings.fonts_dir()
        if fonts is not None:
            from textrec_cli.data import synthetic_handwriting
            from textrec_cli.data.corpus import TextSampler

            texts = [t for _, t in crops[:3000]] or HEADERS
            sampler = TextSampler(texts, min_chars=4, max_chars=48, seed=seed)
            handwriting = synthetic_handwriting.for_split(split, Path(fonts), sampler)
        if not crops and handwriting is None:
            raise TextrecError("synthetic_pages needs real line crops (--lines-dir) or fonts")
        return cls(crops, handwriting, 0.6 if crops and handwriting else float(bool(crops)))

    def _line(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        """A handwritten line as ink coverage in [0, 1] (H, W) and its text."""
        if self.crops and rng.random() < self.real_share:
            path, text = self.crops[int(rng.integers(len(self.crops)))]
            gray = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
            paper = np.percentile(gray, 90)
            ink = np.clip((paper - gray) / max(paper - gray.min(), 1.0), 0, 1)
            return ink, text
        stem, text = self.handwriting.sample(rng)
        return stem.astype(np.float32) / 255.0, text

    def render(self, rng: np.random.Generator) -> tuple[Image.Image, Page]:
        width = int(rng.integers(700, 1100))
        height = int(width * rng.uniform(1.25, 1.45))
        page = _paper(width, height, rng)
        lines: list[PageLine] = []
        line_h = float(np.exp(rng.uniform(np.log(18), np.log(80))))  # small .. very large hands
        spacing = line_h * float(rng.uniform(1.25, 2.4))
        left, right = int(rng.integers(30, 160)), int(rng.integers(20, 90))
        y = float(rng.integers(40, 140))
        if rng.random() < 0.6:
            y = _header(page, rng, left, y) + spacing * 0.6
        if rng.random() < 0.4:
            _ruling(page, rng, y, spacing)
        bleed = np.zeros_like(page) if rng.random() < 0.3 else None
        wide_words = rng.random() < 0.25  # a widely spaced hand: the detector must not split it
        while y + line_h * 1.6 < height - 40:
            ink, text = self._line(rng)
            scale = line_h * float(rng.uniform(0.9, 1.15)) / ink.shape[0]
            indent = int(rng.integers(20, 90)) if rng.random() < 0.2 else 0
            room = width - left - right - indent
            new_w = min(room, max(8, round(ink.shape[1] * scale)))
            if rng.random() < 0.15:  # a short last line of a paragraph
                new_w = max(8, new_w // 2)
            new_h = max(4, round(ink.shape[0] * scale))
            ink = np.asarray(Image.fromarray((ink * 255).astype(np.uint8)).resize((new_w, new_h)),
                             dtype=np.float32) / 255  # fmt: skip
            if wide_words:
                ink = _spread_words(ink, rng, room)
                new_w = ink.shape[1]
            line = _place(page, ink, left + indent, int(y), rng, text)
            if line is not None:
                lines.append(line)
                if bleed is not None:
                    bleed[int(y) : int(y) + new_h, left + indent : left + indent + new_w] = ink
            y += spacing * float(rng.uniform(0.85, 1.2))
            if rng.random() < 0.08:
                y += spacing  # a paragraph gap
        if bleed is not None:  # the other side's writing, mirrored, shows through thin paper
            ghost = Image.fromarray((bleed[:, ::-1] * 255).astype(np.uint8))
            ghost = np.asarray(ghost.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32)
            page -= ghost / 255 * float(rng.uniform(15, 45))
        _stray_marks(page, rng)
        if rng.random() < 0.2:
            _fold(page, rng)
        image = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
        image, lines = _photograph(image, lines, rng)
        if rng.random() < 0.3:
            image, lines = _on_scanner_bed(image, lines, rng)
        return image, Page("synthetic.png", image.width, image.height, lines)

    def sample_page(self, rng: np.random.Generator) -> tuple[np.ndarray, list, list[PageLine]]:
        image, page = self.render(rng)
        bands = [line_band(line)[0] for line in page.lines]
        return np.asarray(image, dtype=np.uint8), bands, page.lines

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, list]:
        """(gray page, band polygons): the detector trainer's source interface."""
        gray, bands, _ = self.sample_page(rng)
        return gray, bands


def _spread_words(ink: np.ndarray, rng: np.random.Generator, room: int) -> np.ndarray:
    """Widen the blank gaps between words (column runs without ink) by 1.5..3x, within `room`."""
    blank = ink.max(axis=0) < 0.1
    min_gap = max(2, int(0.25 * ink.shape[0]))
    factor = float(rng.uniform(1.5, 3.0))
    repeats = np.ones(ink.shape[1], dtype=int)
    start = None
    for x, is_blank in enumerate(np.append(blank, False)):
        if is_blank and start is None:
            start = x
        elif not is_blank and start is not None:
            if x - start >= min_gap and start > 0 and x < ink.shape[1]:
                repeats[start:x] = int(round(factor))
            start = None
    spread = np.repeat(ink, repeats, axis=1)
    return spread if spread.shape[1] <= room else ink


def _fold(page: np.ndarray, rng: np.random.Generator) -> None:
    """A fold across the sheet: a soft shadow with a bright crest beside it."""
    h, w = page.shape
    vertical = rng.random() < 0.5
    n = w if vertical else h
    at, width = float(rng.uniform(0.3, 0.7)) * n, float(rng.uniform(3, 12))
    d = np.arange(n) - at
    profile = -float(rng.uniform(10, 35)) * np.exp(-((d / width) ** 2))
    profile += float(rng.uniform(0, 15)) * np.exp(-(((d - 2 * width) / width) ** 2))
    page += profile[None, :] if vertical else profile[:, None]


def _on_scanner_bed(
    image: Image.Image, lines: list[PageLine], rng: np.random.Generator
) -> tuple[Image.Image, list[PageLine]]:
    """The sheet photographed on a dark scanner bed with a margin around it: not text."""
    w, h = image.size
    left, top = int(rng.uniform(0.03, 0.25) * w), int(rng.uniform(0.03, 0.15) * h)
    right, bottom = int(rng.uniform(0.03, 0.25) * w), int(rng.uniform(0.03, 0.15) * h)
    bed = Image.new("L", (w + left + right, h + top + bottom), int(rng.uniform(10, 90)))
    bed.paste(image, (left, top))
    draw = ImageDraw.Draw(bed)
    if rng.random() < 0.5:  # a ruler or a colour chart along one edge
        y = int(rng.uniform(0, max(top - 12, 1)))
        draw.rectangle((left, y, left + w // 2, y + 10), fill=int(rng.uniform(180, 240)))
        for x in range(left, left + w // 2, 8):
            draw.line((x, y, x, y + 5), fill=20)
    moved = [PageLine([(x + left, y + top) for x, y in ln.polygon],
                      [(x + left, y + top) for x, y in ln.baseline], ln.text, ln.id)
             for ln in lines]  # fmt: skip
    return bed, moved


def _paper(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Tinted paper with low-frequency stains and grain."""
    from scipy import ndimage

    base = float(rng.uniform(185, 250))
    stains = ndimage.zoom(rng.normal(0, 1, (height // 64 + 2, width // 64 + 2)), 64, order=1)
    page = base + stains[:height, :width] * float(rng.uniform(0, 8))
    return page + rng.normal(0, float(rng.uniform(0, 6)), (height, width))


def _header(page: np.ndarray, rng: np.random.Generator, left: int, y: float) -> float:
    """Printed lines (not handwriting, so not labelled); returns the y below them."""
    image = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=int(rng.integers(11, 18)))
    for _ in range(int(rng.integers(1, 3))):
        draw.text((left, y), HEADERS[int(rng.integers(len(HEADERS)))], font=font, fill=40)
        y += font.size * 1.4
    page[:] = np.asarray(image, dtype=np.float32)
    return y


def _ruling(page: np.ndarray, rng: np.random.Generator, y: float, spacing: float) -> None:
    """Ruled paper: faint horizontal lines at the writing pitch (the writing sits on them)."""
    shade = float(rng.uniform(20, 60))
    offset = float(rng.uniform(0.6, 0.9)) * spacing
    row = y + offset
    while row < page.shape[0] - 5:
        page[int(row)] -= shade
        row += spacing


def _place(
    page: np.ndarray, ink: np.ndarray, x0: int, y0: int, rng: np.random.Generator, text: str
) -> PageLine | None:
    """Draw a line of ink bent along a gentle curve; its exact polygon and baseline."""
    rows = np.flatnonzero(ink.max(axis=1) > 0.3)
    cols = np.flatnonzero(ink.max(axis=0) > 0.3)
    if rows.size == 0 or cols.size < 4:
        return None
    h, w = ink.shape
    amp = float(rng.uniform(0, 0.12)) * h
    phase, period = float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(1.0, 3.0)) * w
    dy = np.round(amp * np.sin(2 * np.pi * np.arange(w) / period + phase)).astype(int)
    pad = int(np.ceil(amp)) + 1
    bent = np.zeros((h + 2 * pad, w), dtype=np.float32)
    r = np.arange(h)[:, None] + pad + dy[None, :]
    bent[r, np.arange(w)[None, :]] = ink
    y_top = y0 - pad
    hb, wb = bent.shape
    if y_top < 0 or y_top + hb > page.shape[0] or x0 + wb > page.shape[1]:
        return None
    level = float(rng.uniform(10, 90))
    region = page[y_top : y_top + hb, x0 : x0 + wb]
    region[:] = region * (1 - bent) + level * bent
    profile = ink[rows[0] : rows[-1] + 1].sum(axis=1)
    # baseline: where the ink mass of the core ends (descenders are thin below it)
    core = np.flatnonzero(profile >= 0.35 * profile.max())
    base_row = rows[0] + core[-1] + 1
    xs = np.linspace(cols[0], cols[-1], 12).round().astype(int)
    top = [(x0 + x, y0 + rows[0] + dy[x] - 1) for x in xs]
    bottom = [(x0 + x, y0 + rows[-1] + dy[x] + 1) for x in xs[::-1]]
    baseline = [(x0 + x, y0 + base_row + dy[x]) for x in xs]
    return PageLine(top + bottom, baseline, text)


def _stray_marks(page: np.ndarray, rng: np.random.Generator) -> None:
    """Dots, short strokes and a blot that a detector must not call lines."""
    image = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    h, w = page.shape
    for _ in range(int(rng.integers(0, 6))):
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        if rng.random() < 0.5:
            r = float(rng.uniform(1, 6))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=int(rng.integers(20, 120)))
        else:
            dx, dy = rng.uniform(-25, 25, 2)
            draw.line((x, y, x + dx, y + dy), fill=int(rng.integers(20, 120)), width=2)
    page[:] = np.asarray(image, dtype=np.float32)


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3x3 matrix H with dst ~ H src (scikit-image's projective estimate)."""
    from skimage.transform import ProjectiveTransform

    if hasattr(ProjectiveTransform, "from_estimate"):  # scikit-image >= 0.26
        return ProjectiveTransform.from_estimate(src, dst).params
    transform = ProjectiveTransform()
    transform.estimate(src, dst)
    return transform.params


def _photograph(
    image: Image.Image, lines: list[PageLine], rng: np.random.Generator
) -> tuple[Image.Image, list[PageLine]]:
    """Small skew + perspective (a homography applied to image and labels) + uneven lighting."""
    w, h = image.size
    angle = np.deg2rad(float(rng.normal(0, 1.0)))
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    center = np.array([w / 2, h / 2])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = (corners - center) @ rot.T + center + rng.normal(0, 0.015 * w, (4, 2))
    forward = _homography(corners, moved)  # page -> photo
    inverse = np.linalg.inv(forward)
    coeffs = (inverse / inverse[2, 2]).flatten()[:8]
    photo = image.transform((w, h), Image.Transform.PERSPECTIVE, coeffs.tolist(),
                            resample=Image.Resampling.BILINEAR,
                            fillcolor=int(rng.uniform(30, 120)))  # fmt: skip
    light = np.asarray(photo, dtype=np.float32)
    gx, gy = np.meshgrid(np.linspace(-1, 1, w), np.linspace(-1, 1, h))
    light = light * (
        1 + 0.15 * float(rng.uniform(-1, 1)) * gx + 0.1 * float(rng.uniform(-1, 1)) * gy
    )
    photo = Image.fromarray(np.clip(light, 0, 255).astype(np.uint8))

    def warp(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
        p = np.column_stack([np.asarray(points, dtype=np.float64), np.ones(len(points))])
        q = p @ forward.T
        q = q[:, :2] / q[:, 2:3]
        q = np.clip(np.round(q), 0, [w - 1, h - 1]).astype(int)
        return [(int(x), int(y)) for x, y in q]

    moved_lines = [PageLine(warp(ln.polygon), warp(ln.baseline), ln.text, f"l{i}")
                   for i, ln in enumerate(lines)]  # fmt: skip
    return photo, moved_lines
