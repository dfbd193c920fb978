"""A tiny IAM archive in the real layout (FSDL's iamdb.zip), so tests never need 1 GB of scans.

`iamdb/forms/<form>.jpg` pages are white with one dark rectangle per connected component listed
in `iamdb/xml/<form>.xml`, so a line's crop has ink exactly where its annotation says and every
line has its own width. Texts are unique per line and carry XML entities (`&quot;`, `&amp;`).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

PAGE_WIDTH = 600
LINE_PITCH = 110
CHAR_WIDTH = 9
WORD_GAP = 14
LEFT = 40
TOP = 50
PHRASES = (
    "A MOVE to stop",
    '"Stop," he said',
    "Mr. & Mrs. Brown",
    "it's <nearly> over",
    "Labour peers",
    "nominating any more",
)
PRINTED_PREFIX = "PRINTED"  # machine-printed-part text, which must never become a line label


@dataclass(frozen=True)
class FixtureLine:
    id: str
    text: str
    words: tuple[tuple[str, tuple[tuple[int, int, int, int], ...]], ...]  # (text, cmp x,y,w,h)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Union of the cmp boxes as (x1, y1, x2, y2), x2/y2 exclusive."""
        cmps = [c for _word, boxes in self.words for c in boxes]
        return (
            min(x for x, _y, _w, _h in cmps),
            min(y for _x, y, _w, _h in cmps),
            max(x + w for x, _y, w, _h in cmps),
            max(y + h for _x, y, _w, h in cmps),
        )


@dataclass(frozen=True)
class FixtureForm:
    id: str
    writer: str
    lines: tuple[FixtureLine, ...]


def form_id(index: int) -> str:
    """IAM-style ids, with and without the trailing letter (`a01-000u`, `b01-007`)."""
    letter = "abcdefghijklmnopqrstuvwxyz"[index % 26]
    return f"{letter}{1 + index // 26:02d}-{index * 7:03d}{'u' if index % 2 == 0 else ''}"


def fixture_forms(
    n_forms: int = 4, lines_per_form: int = 3, forms_per_writer: int = 1
) -> list[FixtureForm]:
    """The deterministic content of `make_iam_archive`: ids, writers, texts and boxes."""
    forms = []
    for f in range(n_forms):
        fid = form_id(f)
        lines = []
        for j in range(lines_per_form):
            k = f * lines_per_form + j
            text = f"{PHRASES[k % len(PHRASES)]} {k}"
            y0 = TOP + j * LINE_PITCH
            x = LEFT + (k % 3) * 5
            words = []
            for w, word in enumerate(text.split(" ")):
                width = CHAR_WIDTH * len(word) + 2
                if len(word) >= 4:  # two components; the second one has a descender
                    half = width // 2
                    cmps = ((x, y0, half, 36), (x + half + 1, y0 + 6, width - half - 1, 38 + j))
                else:
                    cmps = ((x, y0 + 4 * (w % 2), width, 32),)
                words.append((word, cmps))
                x += width + WORD_GAP
            lines.append(FixtureLine(f"{fid}-{j:02d}", text, tuple(words)))
        forms.append(FixtureForm(fid, f"{f // forms_per_writer:03d}", tuple(lines)))
    return forms


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def form_xml(form: FixtureForm) -> bytes:
    """An IAM form annotation: Latin-1 declared, printed part, handwritten lines/words/cmps."""
    printed = "\n".join(
        f'<machine-print-line text="{PRINTED_PREFIX} {_attr(ln.text)}"/>' for ln in form.lines
    )
    hand = []
    for ln in form.lines:
        x1, y1, x2, y2 = ln.box
        hand.append(
            f'<line id="{ln.id}" text="{_attr(ln.text)}" asx="{x1}" asy="{y1}" dsx="{x2}" '
            f'dsy="{y2}" threshold="160" lbx="{x1}" lby="{y2}" ubx="{x2}" uby="{y1}">'
        )
        for w, (word, cmps) in enumerate(ln.words):
            hand.append(f'<word id="{ln.id}-{w:02d}" tag="NN" text="{_attr(word)}">')
            hand.extend(
                f'<cmp x="{x}" y="{y}" width="{cw}" height="{ch}"/>' for x, y, cw, ch in cmps
            )
            hand.append("</word>")
        hand.append("</line>")
    body = "\n".join(hand)
    return (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        f'<form created="2002-09-29" height="{page_height(form)}" id="{form.id}" '
        f'width="{PAGE_WIDTH}" writer-id="{form.writer}">\n'
        f"<machine-printed-part>\n{printed}\n</machine-printed-part>\n"
        f"<handwritten-part>\n{body}\n</handwritten-part>\n</form>\n"
    ).encode("latin-1")


def page_height(form: FixtureForm) -> int:
    return max(400, TOP + len(form.lines) * LINE_PITCH)


def form_jpeg(form: FixtureForm) -> bytes:
    page = Image.new("L", (PAGE_WIDTH, page_height(form)), 255)
    draw = ImageDraw.Draw(page)
    for ln in form.lines:
        for _word, cmps in ln.words:
            for x, y, w, h in cmps:
                draw.rectangle((x, y, x + w - 1, y + h - 1), fill=20)
    buffer = io.BytesIO()
    page.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def task_lists(forms: list[FixtureForm]) -> dict[str, str]:
    """Aachen-style lists: the last form in test by FORM id, the one before in val by line ids
    (spread over both validation files, its last line unlisted), the others in train by line ids
    except their very last line (unlisted, but its writer is not held out, so still train).

    This differs from what the writer-hash fallback picks for the same forms, so a test can tell
    which of the two was used.
    """
    if len(forms) < 3:
        raise ValueError("task lists need at least 3 forms")
    val_lines = [ln.id for ln in forms[-2].lines[:-1]]
    train_lines = [ln.id for f in forms[:-2] for ln in f.lines][:-1]
    return {
        "trainset.txt": "\n".join(train_lines) + "\n",
        "validationset1.txt": "\n".join(val_lines[0::2]) + "\n",
        "validationset2.txt": "\n".join(val_lines[1::2]) + "\n",
        "testset.txt": forms[-1].id + "\n",
    }


def make_iam_archive(
    path: Path,
    n_forms: int = 4,
    lines_per_form: int = 3,
    with_task_lists: bool = False,
    as_zip: bool = True,
    *,
    forms_per_writer: int = 1,
) -> Path:
    """Write `iamdb/{forms,xml[,task]}/...` as a zip at `path` (or a directory at `path`)."""
    path = Path(path)
    forms = fixture_forms(n_forms, lines_per_form, forms_per_writer)
    members: dict[str, bytes] = {}
    for form in forms:
        members[f"iamdb/forms/{form.id}.jpg"] = form_jpeg(form)
        members[f"iamdb/xml/{form.id}.xml"] = form_xml(form)
    if with_task_lists:
        for name, text in task_lists(forms).items():
            members[f"iamdb/task/{name}"] = text.encode()
    if as_zip:
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    else:
        for name, data in members.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(data)
    return path
