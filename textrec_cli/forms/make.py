"""`textrec forms make`: draw forms (Pillow) and save them as one printable A4 PDF + a manifest.

The page is drawn as an image at the layout's 150 dpi, so the synthetic round trip (fill, then
photograph) starts from exactly what the printer gets. The manifest beside the PDF lists each form's
prompts; `forms read` can also re-draw them from the id (language, seed, index) and checks them
against the id's digest either way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from textrec_cli.errors import InputError
from textrec_cli.fileio import atomic_path, write_json
from textrec_cli.forms import layout
from textrec_cli.forms.layout import FormId, prompts_digest
from textrec_cli.forms.prompts import form_prompts

MAX_FORMS = 1000  # one PDF; larger print runs are several calls (--first)
MAX_SEED, MAX_INDEX = 999_999_999, 999_999  # what the form id's digits hold
RULE_GRAY = 185  # light: it guides the pen but is not ink to the line detector


@dataclass(frozen=True)
class Form:
    id: FormId
    prompts: list[str]


def plan_forms(
    count: int,
    seed: int = 0,
    lang: str = "en",
    licence: str = "cc-by-4.0",
    prompts: int = 5,
    corpus: Path | None = None,
    first: int = 0,
) -> list[Form]:
    """Forms `first`..`first+count-1` of this seed: their ids and prompts (no drawing)."""
    if not 1 <= count <= MAX_FORMS:
        raise InputError(f"--count must be 1 to {MAX_FORMS}, not {count}")
    if lang not in layout.LANGUAGES:
        raise InputError(f"--lang must be one of {', '.join(layout.LANGUAGES)}, not {lang!r}")
    if licence not in layout.LICENCES:
        raise InputError(f"--licence must be one of {', '.join(layout.LICENCES)}, not {licence!r}")
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"--seed must be 0 to {MAX_SEED}")
    if not 0 <= first <= MAX_INDEX - count:
        raise InputError(f"--first must be 0 to {MAX_INDEX - count} (form indexes stop there)")
    layout.blocks(prompts)  # checks the prompt count
    forms = []
    for index in range(first, first + count):
        texts = form_prompts(lang, seed, index, prompts, corpus)
        forms.append(Form(FormId(lang, seed, index, licence, prompts_digest(texts)), texts))
    return forms


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # Pillow's bundled sans serif: no font files needed


def qr_modules(payload: str) -> np.ndarray:
    """The QR symbol (True = dark module), quiet zone excluded; `read` rebuilds it for geometry."""
    import zxingcpp

    symbol = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level="Q")
    return np.asarray(symbol.to_image(scale=1, add_quiet_zones=False)) < 128


def qr_symbol_box(payload: str) -> tuple[int, int, int, int]:
    """Where the QR symbol's outer edges fall on the page (whole modules, centred in QR_BOX)."""
    n = qr_modules(payload).shape[0]
    x0, y0, x1, y1 = layout.QR_BOX
    module = min(x1 - x0, y1 - y0) // n
    left, top = x0 + (x1 - x0 - module * n) // 2, y0 + (y1 - y0 - module * n) // 2
    return left, top, left + module * n, top + module * n


def render_form(form: Form) -> Image.Image:
    """The form as a grayscale page image at layout.DPI."""
    page = Image.new("L", (layout.PAGE_W, layout.PAGE_H), 255)
    draw = ImageDraw.Draw(page)
    half = layout.MARK // 2
    for cx, cy in layout.MARK_CENTERS:
        draw.rectangle((cx - half, cy - half, cx + half, cy + half), fill=0)  # centred on c
    modules = qr_modules(form.id.payload)
    left, top, right, bottom = qr_symbol_box(form.id.payload)
    qr = Image.fromarray(np.where(modules, 0, 255).astype(np.uint8))
    page.paste(qr.resize((right - left, bottom - top), Image.Resampling.NEAREST), (left, top))
    x = layout.LEFT
    draw.text((x, 95), "Handwriting form", font=_font(40), fill=0)
    draw.text((x, 150), f"Form {form.id.label}", font=_font(26), fill=0)
    licence = layout.LICENCES[form.id.licence]
    notes = (
        "Copy each printed line by hand on the ruled line under it.",
        "Write no name or e-mail anywhere on this form.",
        f"By handing it in you release your handwriting under {licence}.",
    )
    for i, note in enumerate(notes):
        draw.text((x, 200 + 34 * i), note, font=_font(22), fill=60)
    for block, prompt in zip(layout.blocks(len(form.prompts)), form.prompts, strict=True):
        draw.text((block.prompt_box[0], block.prompt_box[1] + 6), prompt, font=_font(30), fill=0)
        x0, _, x1, _ = block.writing_box
        draw.line((x0, block.rule_y, x1, block.rule_y), fill=RULE_GRAY, width=2)
    return page


def make_forms(
    forms: list[Form], output: Path, advance: Callable[[int], None] = lambda n=1: None
) -> Path:
    """Write the PDF (one form per A4 page) and `<output>.json` listing every form's prompts."""
    check_pdf_path(output)
    pages = []
    for form in forms:
        pages.append(render_form(form))
        advance(1)
    with atomic_path(output) as tmp:
        pages[0].save(
            tmp, "PDF", resolution=float(layout.DPI), save_all=True, append_images=pages[1:]
        )
    write_json(manifest_path(output), manifest(forms))
    return output


def check_pdf_path(output: Path) -> None:
    if output.suffix.lower() != ".pdf":
        raise InputError(f"--output must end in .pdf, not {output.name!r}")
    if output.is_dir():
        raise InputError(f"--output {output} is a folder")


def manifest_path(pdf: Path) -> Path:
    return pdf.with_suffix(".json")


def manifest(forms: list[Form]) -> dict:
    return {
        "scheme": layout.ID_SCHEME,
        "forms": {f.id.payload: {"label": f.id.label, "prompts": f.prompts} for f in forms},
    }
