"""Lines people are asked to copy by hand (the /contribute page, paper forms): a packaged list
written for textrec (CC0), English and French, rich in the digits and punctuation the corpus
rarely asks for. One list, so the web page and the forms ask for the same kind of text."""

from __future__ import annotations

import functools
import json
from pathlib import Path

PROMPTS_FILE = Path(__file__).resolve().parents[1] / "assets" / "prompts" / "handwriting.json"
LANGUAGES = ("en", "fr")


@functools.lru_cache(maxsize=1)
def _packaged() -> dict[str, tuple[str, ...]]:
    data = json.loads(PROMPTS_FILE.read_text(encoding="utf-8"))
    return {lang: tuple(data[lang]) for lang in LANGUAGES}


def packaged_prompts(lang: str) -> tuple[str, ...]:
    """The packaged lines of `lang` ("en" or "fr"), in a fixed order."""
    if lang not in LANGUAGES:
        raise ValueError(f"no packaged prompts for {lang!r}; choose from {', '.join(LANGUAGES)}")
    return _packaged()[lang]
