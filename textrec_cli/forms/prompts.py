"""The sentences a form asks people to copy, drawn deterministically from (language, seed, index).

English comes from the openly licensed corpus (`data/corpus.py`), French from the packaged list
the /contribute page also asks from (`data/prompts.py`; no corpus needed). Each form gets at
least one line with digits, since real documents have numbers and the corpus rarely asks for them.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.data.prompts import packaged_prompts
from textrec_cli.errors import TextrecError

MIN_CHARS, MAX_CHARS = 20, 46  # one handwritten line across the writing area


def _usable(sentence: str) -> bool:
    letters = [c for c in sentence if c.isalpha()]
    return (
        MIN_CHARS <= len(sentence) <= MAX_CHARS
        and bool(letters)
        and sum(c.isupper() for c in letters) <= len(letters) / 2  # no all-caps headings
        and (sentence[0].isupper() or sentence[0] in "\"'(«0123456789")
        and all(c in _CHARSET for c in sentence)
    )


_CHARSET = frozenset(LINE_CHARSET)


def _english(corpus: Path | None) -> tuple[str, ...]:
    from textrec_cli.data.corpus import corpus_dir

    return _english_in(Path(corpus or corpus_dir() or "").resolve())


@functools.lru_cache(maxsize=4)
def _english_in(folder: Path) -> tuple[str, ...]:
    """Usable sentences of the corpus in `folder` (cached: loading it takes seconds)."""
    from textrec_cli.data.corpus import corpus_zips, load_sentences

    zips = corpus_zips(folder) if folder.is_dir() else []
    if not zips:
        raise TextrecError(
            "English prompts need the text corpus: run `textrec download corpus` "
            "(or set $TEXTREC_CORPUS_DIR), or use --lang fr"
        )
    return tuple(sorted({s for s in load_sentences(zips) if _usable(s)}))


def sentence_pool(lang: str, corpus: Path | None = None) -> tuple[str, ...]:
    """Every sentence a form in `lang` may ask for, in a fixed order."""
    if lang == "fr":
        return tuple(s for s in packaged_prompts("fr") if _usable(s))
    if lang == "en":
        return _english(corpus)
    raise TextrecError(f"--lang must be en or fr, not {lang!r}")


def form_prompts(
    lang: str, seed: int, index: int, count: int, corpus: Path | None = None
) -> list[str]:
    """The `count` distinct prompts of form `index` (one or two with digits when any have)."""
    pool = sentence_pool(lang, corpus)
    if len(pool) < count:
        raise TextrecError(f"only {len(pool)} usable {lang} sentences; need {count}")
    rng = np.random.default_rng([seed, index, 20])
    with_digits = [s for s in pool if re.search(r"\d", s)]
    digit_set = set(with_digits)
    plain = [s for s in pool if s not in digit_set]
    n_digits = min(len(with_digits), max(1, count // 3), count)
    if len(plain) < count - n_digits:
        n_digits = count - len(plain)
    chosen = [with_digits[i] for i in rng.choice(len(with_digits), n_digits, replace=False)]
    chosen += [plain[i] for i in rng.choice(len(plain), count - n_digits, replace=False)]
    return [chosen[i] for i in rng.permutation(count)]
