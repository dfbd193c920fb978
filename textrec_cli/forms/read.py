"""`textrec forms read`: from a scan or photo of a filled form to stored (line image, prompt) pairs.

Steps: find the form (QR id, corner marks) and warp it flat (`rectify.py`); keep only the writing
areas (the printed prompts would read as lines too); detect the handwritten lines with the bundled
line detector; join pieces of one line the detector split at a wide gap; read each line with the
bundled line model; pair lines with prompts by order and text (`align.py`); store each pair.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from textrec_cli import settings
from textrec_cli.data.page_xml import PageLine
from textrec_cli.errors import InputError
from textrec_cli.forms import layout
from textrec_cli.forms.align import MIN_SIMILARITY, align
from textrec_cli.forms.layout import FormId, prompts_digest
from textrec_cli.forms.prompts import form_prompts
from textrec_cli.forms.rectify import PAPER, locate
from textrec_cli.inference.page_lines import Forward, detect_lines
from textrec_cli.inference.page_reader import ReadStems
from textrec_cli.stems.char import to_gray_array
from textrec_cli.stems.line import line_stem

SAME_ROW = 0.5  # two detections overlapping this much of the shorter one's height are one line
MIN_WIDTH = 40  # form pixels (7 mm): narrower detections are specks or rule ends, never a prompt


@dataclass
class LineModels:
    """The bundled detector and line model as plain functions (LiteRT when installed, else
    Keras: both read the same)."""

    forward: Forward
    detector_metadata: dict[str, Any]
    read_stems: ReadStems
    line_height: int
    version: str


def load_models() -> LineModels:
    from textrec_cli.inference.litert import litert_folder

    detector, line = (
        litert_folder(settings.BUNDLED_DETECTOR),
        litert_folder(settings.BUNDLED_LINE_MODEL),
    )
    try:
        from textrec_cli.serving.runtime import LineRuntime, PageRuntime, load_exported

        if detector is None or line is None:
            raise ImportError
        pages, lines = load_exported(detector), load_exported(line)
        assert isinstance(pages, PageRuntime) and isinstance(lines, LineRuntime)
        lines.keras_batching = True
        return LineModels(
            pages.graphs[0].run,
            pages.metadata,
            lines.read_stems,
            lines.height,
            f"{pages.version}+{lines.version}",
        )
    except ImportError:  # no ai-edge-litert: the Keras path
        from textrec_cli.inference.line_reader import LineReader
        from textrec_cli.inference.page_lines import keras_forward
        from textrec_cli.inference.quiet import load_keras_quietly
        from textrec_cli.models.store import load_model

        load_keras_quietly()
        saved, reader = (
            load_model(settings.BUNDLED_DETECTOR),
            LineReader(load_model(settings.BUNDLED_LINE_MODEL)),
        )
        return LineModels(
            keras_forward(saved.model),
            saved.metadata,
            reader.read_stems,
            reader.height,
            f"{saved.version}+{reader.version}",
        )


class PromptBook:
    """A form id's prompts: from the manifest `forms make` wrote, else re-drawn from the id
    (same corpus, same seed); either way they must match the id's digest."""

    def __init__(self, manifest: Path | None = None, corpus: Path | None = None) -> None:
        self.corpus = corpus
        self.listed: dict[str, list[str]] | None = None
        if manifest is not None:
            try:
                data = json.loads(Path(manifest).read_text())
                self.listed = {k: list(v["prompts"]) for k, v in data["forms"].items()}
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise InputError(f"{manifest}: not a forms manifest ({exc})") from None

    def prompts(self, form: FormId) -> list[str]:
        if self.listed is not None:
            found = self.listed.get(form.payload)
            if found is not None and prompts_digest(found) == form.digest:
                return found
            raise InputError(f"unknown form id {form.label}: not in the manifest")
        for count in range(1, layout.MAX_PROMPTS + 1):
            texts = form_prompts(form.lang, form.seed, form.index, count, self.corpus)
            if prompts_digest(texts) == form.digest:
                return texts
        raise InputError(
            f"unknown form id {form.label}: its prompts cannot be re-drawn here (another corpus?); "
            "pass the --manifest written beside the PDF"
        )


@dataclass
class FormLine:
    prompt_index: int
    prompt: str
    reading: str
    similarity: float
    confidence: float
    box: tuple[int, int, int, int]  # on the rectified page
    png: bytes = field(repr=False)


@dataclass
class FormReading:
    form: FormId
    prompts: list[str]
    lines: list[FormLine]
    detected: int  # lines found in the writing areas (after joining split ones)
    marks_found: int

    def summary(self) -> dict[str, Any]:
        return {
            "form_id": self.form.label,
            "prompts": len(self.prompts),
            "detected": self.detected,
            "matched": len(self.lines),
            "marks_found": self.marks_found,
            "lines": [
                {
                    "prompt_index": ln.prompt_index,
                    "prompt": ln.prompt,
                    "read": ln.reading,
                    "similarity": ln.similarity,
                    "confidence": round(ln.confidence, 4),
                }
                for ln in self.lines
            ],
        }


def flatten_light(page: np.ndarray) -> np.ndarray:
    """Divide out uneven light (a phone's shadow, a lamp): paper becomes white everywhere, so
    the masked margins meet the writing areas without an edge the detector would take for ink."""
    small = page[::4, ::4]
    paper = ndimage.uniform_filter(ndimage.maximum_filter(small, size=9), size=9)
    zoom = (page.shape[0] / small.shape[0], page.shape[1] / small.shape[1])
    paper = ndimage.zoom(paper, zoom, order=1)[: page.shape[0], : page.shape[1]]
    return np.clip(page / np.maximum(paper, 1.0) * PAPER, 0, PAPER).astype(np.float32)


def writing_only(page: np.ndarray, count: int) -> np.ndarray:
    """The rectified page, light flattened, everything but the writing areas painted paper."""
    page = flatten_light(page)
    out = np.full_like(page, PAPER)
    for block in layout.blocks(count):
        x0, y0, x1, y1 = block.writing_box
        out[y0:y1, x0:x1] = page[y0:y1, x0:x1]
    return out


def join_rows(lines: list[PageLine]) -> list[list[PageLine]]:
    """Detections grouped into text lines: pieces side by side on one row belong together."""
    rows: list[list[PageLine]] = []
    lines = [ln for ln in lines if ln.box[2] - ln.box[0] >= MIN_WIDTH]
    for line in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2):
        _, top, _, bottom = line.box
        if rows:
            _, rtop, _, rbottom = _union_box(rows[-1])
            overlap = min(bottom, rbottom) - max(top, rtop)
            if overlap >= SAME_ROW * min(bottom - top, rbottom - rtop):
                rows[-1].append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda ln: ln.box[0]) for row in rows]


def _union_box(lines: list[PageLine]) -> tuple[int, int, int, int]:
    boxes = np.array([ln.box for ln in lines])
    return (
        int(boxes[:, 0].min()),
        int(boxes[:, 1].min()),
        int(boxes[:, 2].max()),
        int(boxes[:, 3].max()),
    )


def crop_row(page: np.ndarray, row: list[PageLine]) -> tuple[np.ndarray, tuple]:
    """The row's box of the page, white outside its polygons (like the training line crops)."""
    x0, y0, x1, y1 = _union_box(row)
    x1, y1 = min(x1 + 1, page.shape[1]), min(y1 + 1, page.shape[0])
    mask = Image.new("1", (x1 - x0, y1 - y0), 0)
    draw = ImageDraw.Draw(mask)
    for line in row:
        draw.polygon([(x - x0, y - y0) for x, y in line.polygon], fill=1, outline=1)
    inside = np.asarray(mask, dtype=bool)
    return np.where(inside, page[y0:y1, x0:x1], PAPER), (x0, y0, x1, y1)


def _area_of(y: float, areas: list[tuple[int, int, int, int]]) -> int | None:
    return next((i for i, (_, y0, _, y1) in enumerate(areas) if y0 <= y <= y1), None)


def _png(gray: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def read_form(
    image: Image.Image | np.ndarray,
    book: PromptBook,
    models: LineModels,
    min_similarity: float = MIN_SIMILARITY,
) -> FormReading:
    """One photographed or scanned form -> its handwritten lines paired with their prompts."""
    located = locate(to_gray_array(image))
    form = FormId.parse(located.payload)
    prompts = book.prompts(form)
    page = writing_only(located.page, len(prompts))
    top, bottom = layout.BODY_TOP, layout.BODY_BOTTOM
    body = page[top:bottom]
    detected = detect_lines(models.forward, body, models.detector_metadata)
    rows = join_rows(detected)
    crops = [crop_row(body, row) for row in rows]
    stems = [line_stem(crop, models.line_height, squeeze=True) for crop, _ in crops]
    readings = models.read_stems(stems) if stems else []
    areas = [block.writing_box for block in layout.blocks(len(prompts))]
    places = [_area_of((box[1] + box[3]) / 2 + top, areas) for _, box in crops]
    lines = []
    for match in align([text for text, _ in readings], prompts, min_similarity, places):
        crop, (x0, y0, x1, y1) = crops[match.line]
        text, confidence = readings[match.line]
        lines.append(
            FormLine(
                match.prompt,
                prompts[match.prompt],
                text,
                match.similarity,
                float(confidence),
                (x0, y0 + top, x1, y1 + top),
                _png(crop),
            )
        )
    return FormReading(form, prompts, lines, len(rows), located.marks_found)


def store_reading(store: Any, reading: FormReading, writer_id: str | None) -> list[int]:
    """Each matched line as a contribution (kind "form"). Without a pseudonym the lines keep
    only their form id, which review and splits treat as one writer (one person, one form)."""
    licence = reading.form.licence.upper()  # SPDX: CC-BY-4.0, CC0-1.0
    return [
        store.add_contribution(
            line.png,
            line.prompt,
            kind="form",
            licence=licence,
            writer_id=writer_id,
            form_id=reading.form.label,
        )
        for line in reading.lines
    ]
