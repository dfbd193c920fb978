"""A tiny `real_lines` folder (line PNGs + labels.tsv), rendered with PIL's built-in font."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

TEXTS = ["hello world", "the cat sat", "Vive le roi!", "abc 123", "ligne écrite", "go on"]


def render(text: str, size: int = 28) -> Image.Image:
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left + 16, bottom - top + 16), 250)
    ImageDraw.Draw(image).text((8 - left, 8 - top), text, font=font, fill=20)
    return image


def make_lines_folder(folder: Path, repeats: int = 2) -> Path:
    (folder / "lines").mkdir(parents=True, exist_ok=True)
    rows = ["file\tsplit\ttext"]
    for r in range(repeats):
        for i, text in enumerate(TEXTS):
            name = f"lines/{r}_{i}.png"
            render(text).save(folder / name)
            split = "val" if i == 0 else "train"
            rows.append(f"{name}\t{split}\t{text}")
    (folder / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder
