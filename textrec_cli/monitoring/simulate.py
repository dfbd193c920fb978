"""Raw (unstemmed) synthetic line crops as a production stream, with the shifts monitoring must see.

The reference and the unshifted stream come from the same generator (handwriting fonts, corpus
text, varied paper, ink, size and slant); each shift changes one thing a deployment really meets:
a darker pen, white-on-black scans, a higher-resolution scanner, or another writing system
(Cyrillic, drawn with SteveHand, the one font in ../shared/fonts with Cyrillic glyphs).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from textrec_cli.errors import TextrecError

SHIFTS: tuple[str, ...] = ("none", "darker_ink", "inverted", "larger", "cyrillic")
CYRILLIC_FONT = "SteveHand.ttf"

# Short Cyrillic lines (Russian), for the "different script" shift.
CYRILLIC_TEXTS: tuple[str, ...] = (
    "Добрый день, дорогой друг", "Мы приедем завтра утром", "Письмо пришло вчера вечером",
    "Спасибо за тёплые слова", "Погода сегодня хорошая", "Жду ответа как можно скорее",
    "Встреча назначена на пятницу", "Книга лежит на столе", "Передай привет всей семье",
    "Москва, двадцатое марта", "Ученик читает новую книгу", "Зима в этом году снежная",
    "Счёт оплачен полностью", "Адрес остался прежним", "Цены выросли в январе",
    "Поезд уходит в семь часов", "Шкаф стоит у окна", "Яблоки собрали в саду",
    "Щедрый подарок от бабушки", "Эта дорога ведёт к реке",
)  # fmt: skip

_FALLBACK_TEXTS: tuple[str, ...] = (
    "the quick brown fox jumps", "Dear Sir, thank you for your letter", "meeting at nine",
    "We shall arrive on Monday", "Paris, le 3 mars 1921", "a line of handwriting",
    "Please find enclosed the bill", "the weather has been fine", "Votre lettre est arrivée",
)  # fmt: skip


@functools.lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=size)


def _text_sampler(seed: int):
    """Corpus lines when a corpus is around (the training text), else a few built-in ones."""
    from textrec_cli.data.corpus import TextSampler, corpus_dir, load_sentences

    folder = corpus_dir()
    path = folder / "inaugural.zip" if folder else None
    sentences = load_sentences([path]) if path and path.is_file() else list(_FALLBACK_TEXTS)
    return TextSampler(sentences, min_chars=8, max_chars=36, seed=seed)


def _latin_fonts(fonts_dir: Path) -> list[tuple[str, frozenset[str]]]:
    from textrec_cli.data.fonts import discover_fonts
    from textrec_cli.data.synthetic_handwriting import font_coverage

    fonts = []
    for source in discover_fonts(fonts_dir):
        if source.kind != "outline":
            continue
        drawn, caps_only = font_coverage(source)
        if not caps_only and len(drawn) > 60:
            fonts.append((str(source.path), drawn))
    if not fonts:
        raise TextrecError(f"no usable handwriting fonts in {fonts_dir}")
    return fonts


def render_line(text: str, font_path: str, rng: np.random.Generator, shift: str) -> Image.Image:
    """One gray line crop: dark ink on light paper (unless shifted), slanted, noisy."""
    size = int(rng.integers(28, 44)) * (3 if shift == "larger" else 1)
    font = _font(font_path, size)
    left, top, right, bottom = font.getbbox(text)
    pad_x, pad_y = int(rng.integers(size // 4, size)), int(rng.integers(size // 6, size // 2))
    width, height = right - left + 2 * pad_x, bottom - top + 2 * pad_y
    canvas = Image.new("L", (width, height), 0)
    ImageDraw.Draw(canvas).text((pad_x - left, pad_y - top), text, font=font, fill=255)
    shear = float(rng.normal(0.05, 0.12))
    canvas = canvas.transform(
        canvas.size, Image.Transform.AFFINE, (1, shear, -shear * height / 2, 0, 1, 0),
        resample=Image.Resampling.BILINEAR,
    )  # fmt: skip
    ink = np.asarray(canvas, dtype=np.float32) / 255.0
    paper = rng.uniform(195, 250)
    ink_level = rng.uniform(0, 20) if shift == "darker_ink" else rng.uniform(60, 140)
    gray = paper * (1 - ink) + ink_level * ink + rng.normal(0, rng.uniform(1, 6), ink.shape)
    gray = np.clip(gray, 0, 255)
    if shift == "inverted":
        gray = 255.0 - gray
    return Image.fromarray(gray.astype(np.uint8))


def line_stream(fonts_dir: Path, shift: str = "none", seed: int = 0) -> Iterator[Image.Image]:
    """An endless, seeded stream of line images under one shift (see SHIFTS)."""
    if shift not in SHIFTS:
        raise TextrecError(f"unknown shift {shift!r}; choose from {', '.join(SHIFTS)}")
    rng = np.random.default_rng(seed)
    if shift == "cyrillic":
        font_path = Path(fonts_dir) / CYRILLIC_FONT
        if not font_path.is_file():
            raise TextrecError(f"{font_path} is missing: the Cyrillic shift needs it")
        while True:
            text = CYRILLIC_TEXTS[int(rng.integers(len(CYRILLIC_TEXTS)))]
            yield render_line(text, str(font_path), rng, shift)
    fonts = _latin_fonts(Path(fonts_dir))
    sampler = _text_sampler(seed)
    while True:
        path, drawn = fonts[int(rng.integers(len(fonts)))]
        text = " ".join("".join(c for c in sampler.sample(rng) if c in drawn).split())
        if text:
            yield render_line(text, path, rng, shift)
