"""emnist_lines ("synth-lines"): real sentences written with handwritten character glyphs.

FSDL's EMNIST Lines, improved where it hurt transfer to real lines: glyphs are cropped to their
ink and sized by letter class (x-height letters small, descenders below the baseline), so case is
visible as it is on paper; punctuation, which EMNIST lacks, is drawn as pen strokes instead of
being dropped; spacing, baseline and size vary per glyph and per line; and every line goes
through `line_stem`, like real lines and `predict` inputs. Each split writes with its own
split's glyphs and sentences, so test lines share neither glyph samples nor text with training.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from textrec_cli.data.charsets import normalize_text
from textrec_cli.data.corpus import TextSampler, corpus_dir, corpus_zips, load_sentences
from textrec_cli.data.h5store import CharDataset, Split
from textrec_cli.data.line_store import LineDataset, LineSplit, write_lines
from textrec_cli.errors import TextrecError
from textrec_cli.progress import progress_bar
from textrec_cli.stems import line

NAME = "emnist_lines"
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}

# Glyph height and top, in units of the line's cap height, relative to the baseline (y down).
X_HEIGHT = 0.64
_SMALL = set("acemnorsuvwxz")
_DESCENDING = set("gpqy")
_MEDIUM = set("it")  # taller than x-height, shorter than capitals


def processed_path(data_dir: Path) -> Path:
    return Path(data_dir) / "processed" / f"{NAME}.h5"


# ---- punctuation: pen strokes in cap-height units, (x, y) with y=0 the baseline, y<0 up ------

_Stroke = list[tuple[float, float]]
_HOOK: _Stroke = [(0, -0.78), (0.08, -0.97), (0.28, -1.0), (0.4, -0.86), (0.36, -0.66)]
_PAREN = [(0.22 * (1 - np.sin(t)), -1.05 + 0.65 * (1 - np.cos(t))) for t in np.linspace(0, 3.1, 9)]
# char -> strokes; a one-point stroke is a dot
_PUNCTUATION: dict[str, list[_Stroke]] = {
    ".": [[(0, 0)]],
    ",": [[(0.04, -0.02)], [(0.06, -0.02), (0.04, 0.12), (-0.04, 0.24)]],
    "'": [[(0.05, -1.0), (0, -0.74)]],
    '"': [[(0.05, -1.0), (0, -0.74)], [(0.22, -1.0), (0.17, -0.74)]],
    "-": [[(0, -0.36), (0.2, -0.37), (0.4, -0.35)]],
    ":": [[(0, -0.52)], [(0, 0)]],
    ";": [[(0.04, -0.52)], [(0.04, -0.02)], [(0.06, -0.02), (0.04, 0.12), (-0.04, 0.24)]],
    "!": [[(0.06, -1.0), (0.03, -0.6), (0, -0.3)], [(0, 0)]],
    "?": [[*_HOOK, (0.22, -0.5), (0.2, -0.3)], [(0.2, 0)]],
    "(": [_PAREN],
    ")": [[(0.22 - x, y) for x, y in _PAREN]],
    "/": [[(0.42, -1.0), (0, 0.12)]],
}
PUNCTUATION = "".join(_PUNCTUATION)


def draw_punctuation(char: str, cap: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A punctuation mark as ink-bright float (h, w) and its top (px, relative to the baseline)."""
    pen = cap * rng.uniform(0.08, 0.12)
    wobble = 0.012 * cap  # per point; each stroke also shifts as a whole
    ss = 4  # supersampling, for anti-aliased strokes like the glyphs' own
    top, left = -1.3 * cap, -0.4 * cap
    size = (round(1.2 * cap * ss), round(1.8 * cap * ss))
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    for stroke in _PUNCTUATION[char]:
        dx, dy = rng.normal(0, 2.5 * wobble, size=2) - (left, top)
        points = [
            (
                (x * cap + rng.normal(0, wobble) + dx) * ss,
                (y * cap + rng.normal(0, wobble) + dy) * ss,
            )
            for x, y in stroke
        ]
        if len(points) == 1:
            (px, py), r = points[0], pen * rng.uniform(0.6, 0.85) * ss
            draw.ellipse((px - r, py - 2 * r, px + r, py), fill=255)  # sits on its point
        else:
            draw.line(points, fill=255, width=max(1, round(pen * ss)), joint="curve")
    small = canvas.resize((size[0] // ss, size[1] // ss), Image.Resampling.BOX)
    ink = np.asarray(small.filter(ImageFilter.GaussianBlur(0.5)), dtype=np.float32)
    rows, cols = _ink_extent(ink)
    ink = ink[rows[0] : rows[1], cols[0] : cols[1]]
    return ink * (255.0 / max(float(ink.max()), 1.0)), top + rows[0]


def _ink_extent(ink: np.ndarray, level: float = 20.0) -> tuple[tuple[int, int], tuple[int, int]]:
    mask = ink > level
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return (0, ink.shape[0]), (0, ink.shape[1])
    return (int(rows[0]), int(rows[-1]) + 1), (int(cols[0]), int(cols[-1]) + 1)


# ---- letters and digits from the character dataset -----------------------------------------


class _Glyphs:
    """One split's glyphs by character; each occurrence draws a fresh random sample."""

    def __init__(self, chars: CharDataset, split: Split) -> None:
        self.x = split.x
        self.index = {
            chars.mapping[label]: np.flatnonzero(split.y == label) for label in np.unique(split.y)
        }

    def drawable(self, text: str) -> str:
        """`text` rewritten with what can be drawn: other case or unaccented letter as fallback.

        The transcription always says what is drawn, so a fallback never makes a label lie.
        """
        out = []
        for char in text:
            base = unicodedata.normalize("NFKD", char)[:1]
            options = (char, char.swapcase(), base, base.swapcase())
            if char == " " or char in _PUNCTUATION:
                out.append(char)
            else:
                out.append(next((c for c in options if c in self.index), ""))
        return normalize_text("".join(out))

    def draw(self, char: str, cap: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """A glyph sized for its letter class: float (h, w) and its top relative to the baseline."""
        image = self.x[rng.choice(self.index[char])].astype(np.float32)
        rows, cols = _ink_extent(image)
        image = image[rows[0] : rows[1], cols[0] : cols[1]]
        if char in _SMALL:
            height, top = X_HEIGHT, None
        elif char in _DESCENDING:
            height, top = 1.0, -X_HEIGHT
        elif char == "j":
            height, top = 1.2, -X_HEIGHT - 0.2
        else:
            height, top = (0.85 if char in _MEDIUM else 1.0), None
        height *= cap * rng.uniform(0.9, 1.08)
        scale = min(height / image.shape[0], 1.4 * cap / image.shape[1])
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        resized = Image.fromarray(image.astype(np.uint8)).resize(size, Image.Resampling.LANCZOS)
        glyph = np.asarray(resized, dtype=np.float32)
        return glyph, (-glyph.shape[0] if top is None else top * cap)


# ---- lines ---------------------------------------------------------------------------------


def render_line(text: str, glyphs: _Glyphs, rng: np.random.Generator, height: int) -> np.ndarray:
    """Lay out `text` (drawable characters only) on an ink-bright canvas, then `line_stem` it."""
    cap = rng.uniform(22, 32)  # cap height in px: the line's own writing size
    slope = rng.normal(0, 0.015)
    placed: list[tuple[np.ndarray, int, int]] = []
    x, previous = 0.0, " "
    for char in text:
        if char == " ":
            x += cap * rng.uniform(0.35, 0.65)
            previous = char
            continue
        if char in _PUNCTUATION:
            glyph, top = draw_punctuation(char, cap, rng)
        else:
            glyph, top = glyphs.draw(char, cap, rng)
        if previous != " ":
            if char in _PUNCTUATION or previous in _PUNCTUATION:
                x += cap * rng.uniform(0.04, 0.15)
            else:  # handwriting crowds letters: overlap up to a fifth, lowercase tighter
                loose = 0.1 if char.islower() and previous.islower() else 0.3
                x += glyph.shape[1] * rng.uniform(-0.2, loose)
        jitter = rng.normal(0, 0.03 * cap)
        placed.append((glyph, round(x), round(top + jitter + slope * x)))
        x += glyph.shape[1]
        previous = char
    margin = round(cap * 0.4)
    tops = [t for _, _, t in placed]
    above = max(round(1.3 * cap + rng.uniform(0, 0.15) * cap), -min(tops, default=0))
    below = max(
        round(0.45 * cap + rng.uniform(0, 0.15) * cap),
        max((t + g.shape[0] for g, _, t in placed), default=0),
    )
    canvas = np.zeros((above + below, round(x) + 2 * margin + 1), dtype=np.float32)
    for glyph, left, top in placed:
        h, w = glyph.shape
        region = canvas[above + top : above + top + h, margin + left : margin + left + w]
        np.maximum(region, glyph, out=region)
    return line.line_stem(np.clip(canvas, 0, 255).astype(np.uint8), height)


def build(
    chars: CharDataset,
    sampler: TextSampler | Mapping[str, TextSampler],
    count_per_split: dict[str, int],
    max_length: int = 32,
    height: int = line.HEIGHT,
    seed: int = 0,
    show_progress: bool = False,
) -> LineDataset:
    """`count_per_split[s]` lines per split, written with split `s`'s glyphs.

    `sampler` may be one per split (disjoint text). Same inputs and seed, same dataset.
    """
    splits: dict[str, LineSplit] = {}
    with progress_bar("writing lines", sum(count_per_split.values()), show_progress) as advance:
        for name, count in count_per_split.items():
            if name not in chars.splits:
                raise TextrecError(f"character dataset {chars.name!r} has no {name!r} split")
            glyphs = _Glyphs(chars, chars.splits[name])
            texts_from = sampler[name] if isinstance(sampler, Mapping) else sampler
            rng = np.random.default_rng([seed, *name.encode()])  # per split, order-free
            images, texts = [], []
            for _ in range(100 * count + 100):  # bounded: the glyphs might draw none of the text
                if len(texts) == count:
                    break
                text = glyphs.drawable(texts_from.sample(rng, max_chars=max_length))
                if not text:
                    continue
                images.append(render_line(text, glyphs, rng, height))
                texts.append(text)
                advance(1)
            if len(texts) < count:
                raise TextrecError(f"{chars.name!r} {name} glyphs can draw almost none of the text")
            splits[name] = LineSplit(images, texts)
    metadata = {
        "char_dataset": chars.name,
        "char_dataset_sha256": chars.checksum,
        "max_length": max_length,
        "seed": seed,
        "drawn_punctuation": PUNCTUATION,
    }
    return LineDataset(NAME, height, splits, metadata)


def prepare(
    data_dir: Path,
    char_dataset: str = "synthetic_chars",
    count: int = 10000,
    max_length: int = 32,
    seed: int = 0,
    height: int = line.HEIGHT,
    show_progress: bool = True,
) -> Path:
    """Build `processed_path(data_dir)`: `count` lines split 80/10/10 (atomic write)."""
    from textrec_cli.data import load_char_dataset

    folder = corpus_dir(data_dir)
    if folder is None:
        raise TextrecError(
            "no text corpus found (brown.zip, inaugural.zip or state_union.zip in "
            f"$TEXTREC_CORPUS_DIR, {Path(data_dir) / 'raw' / 'corpus'} or ../shared/corpus): "
            "run `textrec download corpus`"
        )
    zips = corpus_zips(folder)
    chars = load_char_dataset(char_dataset, data_dir)
    samplers = split_samplers(load_sentences(zips), max_length, seed)
    val = test = round(count * SPLIT_FRACTIONS["val"])
    counts = {"train": count - val - test, "val": val, "test": test}
    dataset = build(chars, samplers, counts, max_length, height, seed, show_progress)
    dataset.metadata["corpus"] = [z.name for z in zips]
    path = processed_path(data_dir)
    write_lines(path, dataset)
    return path


def split_samplers(sentences: list[str], max_length: int, seed: int) -> dict[str, TextSampler]:
    """Blocks of 100 consecutive sentences go 8:1:1 to train/val/test: no text seen twice."""
    blocks: dict[str, list[str]] = {name: [] for name in SPLIT_FRACTIONS}
    order = ["train"] * 8 + ["val", "test"]
    for i, sentence in enumerate(sentences):
        blocks[order[(i // 100) % 10]].append(sentence)
    return {
        name: TextSampler(
            part or sentences, min_chars=min(8, max_length), max_chars=max_length, seed=seed
        )
        for name, part in blocks.items()
    }
