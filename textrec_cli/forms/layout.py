"""Form geometry and form ids: the one description `make` draws from and `read` measures against.

A form is an A4 page in "form pixels" (150 dpi). Four black corner marks undo perspective; the QR
code carries the form id and also gives a first estimate of the page's pose, so the marks are
searched where the QR code says they should be. Each prompt has a printed line and, below it, a
writing area with a light rule to write on.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from textrec_cli.errors import InputError

DPI = 150
PAGE_W, PAGE_H = 1240, 1754  # A4 (210 x 297 mm) at 150 dpi
MARK = 40  # corner mark side
MARK_CENTERS = ((60, 60), (PAGE_W - 60, 60), (PAGE_W - 60, PAGE_H - 60), (60, PAGE_H - 60))
QR_BOX = (1000, 100, 1180, 280)  # x0, y0, x1, y1: the QR symbol is centred in it
LEFT, RIGHT = 100, PAGE_W - 100
BODY_TOP, BODY_BOTTOM = 330, PAGE_H - 110
PROMPT_HEIGHT = 44  # the printed prompt's row
MAX_PROMPTS = 6  # more would leave too little room to write
RULE_AT = 0.72  # the rule's height in its writing area, from the top

LICENCES = {"cc-by-4.0": "CC BY 4.0", "cc0-1.0": "CC0 1.0"}
LANGUAGES = ("en", "fr")
ID_SCHEME = "textrec-form"
_ID = re.compile(r"textrec-form/1/(en|fr)/(\d{1,9})/(\d{1,6})/(cc-by-4\.0|cc0-1\.0)/([0-9a-f]{8})")


@dataclass(frozen=True)
class Block:
    """One prompt's place on the page: its printed row and the ruled area under it."""

    prompt_box: tuple[int, int, int, int]
    writing_box: tuple[int, int, int, int]
    rule_y: int


def blocks(count: int) -> list[Block]:
    """The page's `count` prompt blocks, top to bottom, sharing the body's height evenly."""
    if not 1 <= count <= MAX_PROMPTS:
        raise InputError(f"a form holds 1 to {MAX_PROMPTS} prompts, not {count}")
    step = (BODY_BOTTOM - BODY_TOP) // count
    out = []
    for i in range(count):
        top = BODY_TOP + i * step
        area = (LEFT, top + PROMPT_HEIGHT + 6, RIGHT, top + step - 16)
        rule = round(area[1] + RULE_AT * (area[3] - area[1]))
        out.append(Block((LEFT, top, RIGHT, top + PROMPT_HEIGHT), area, rule))
    return out


@dataclass(frozen=True)
class FormId:
    """What a form's QR code says: enough to find (or re-draw) its prompts and check them."""

    lang: str
    seed: int
    index: int
    licence: str
    digest: str  # first 8 hex of sha256 over the prompts: a re-drawn or listed set must match

    @property
    def payload(self) -> str:
        return f"{ID_SCHEME}/1/{self.lang}/{self.seed}/{self.index}/{self.licence}/{self.digest}"

    @property
    def label(self) -> str:
        """The short id printed under the title (and stored with each line)."""
        return f"{self.lang}-{self.seed}-{self.index:04d}-{self.digest[:4]}"

    @classmethod
    def parse(cls, payload: str) -> FormId:
        match = _ID.fullmatch(payload.strip())
        if match is None:
            raise InputError(f"the QR code says {payload[:60]!r}, which is not a textrec form id")
        lang, seed, index, licence, digest = match.groups()
        return cls(lang, int(seed), int(index), licence, digest)


def prompts_digest(prompts: list[str]) -> str:
    return hashlib.sha256("\n".join(prompts).encode()).hexdigest()[:8]
