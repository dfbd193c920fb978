"""Real English text for synthetic lines: NLTK's Brown, Inaugural and State of the Union corpora.

Synthetic lines are only as good as their text: sampling real sentences (with their case,
punctuation and word lengths) instead of random characters gives line models a language prior
that transfers to real handwriting.

Each corpus has a licence (`LICENCES`). By default only openly licensed ones are used (the
public-domain presidential addresses); the Brown corpus is for non-commercial use only and is
used only when asked for: `allow_noncommercial=True`, or by name in $TEXTREC_CORPORA
(comma-separated, e.g. `brown,inaugural,state_union`; `all` = every known corpus).
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from textrec_cli.data.charsets import LINE_CHARSET, normalize_text
from textrec_cli.data.download import download_file
from textrec_cli.errors import InputError, TextrecError

_NLTK = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora"
CORPORA: dict[str, tuple[str, str]] = {
    "brown": (
        f"{_NLTK}/brown.zip",
        "9b275f9b3b95d7bd66ccfb7cd259f445a13bbe5d1f4107aba09fd3e8364bafa6",
    ),
    "inaugural": (
        f"{_NLTK}/inaugural.zip",
        "7c5fb5793e31fbeae12bf1aa0ffda5336468f07cedb50654c6d31ca384e2046b",
    ),
    "state_union": (
        f"{_NLTK}/state_union.zip",
        "366c1dc82b2abf896f42b2ec50ba802a0141a29f75d29ca48a7a243ce5bfbe8d",
    ),
}
PUBLIC_DOMAIN = "public domain"
NON_COMMERCIAL = "non-commercial use only"
LICENCES: dict[str, str] = {
    "brown": NON_COMMERCIAL,  # NLTK's Brown corpus: "may be used for non-commercial purposes"
    "inaugural": PUBLIC_DOMAIN,  # US presidential inaugural addresses (US government works)
    "state_union": PUBLIC_DOMAIN,  # State of the Union addresses (US government works)
}
OPEN_LICENCES = frozenset({PUBLIC_DOMAIN, "CC0-1.0", "CC-BY-4.0"})
CORPORA_ENV = "TEXTREC_CORPORA"
_MIRROR = (
    "https://raw.githubusercontent.com/nltk/nltk_data/",
    "https://github.com/nltk/nltk_data/raw/",
)


def is_open(name: str) -> bool:
    """Whether corpus `name` may be used without restriction (public domain or CC BY/CC0)."""
    return LICENCES.get(name) in OPEN_LICENCES


def selected_corpora(allow_noncommercial: bool = False) -> list[str]:
    """Corpus names to use, in `CORPORA` order: those named in $TEXTREC_CORPORA when it is set,
    else the openly licensed ones (plus the non-commercial ones if `allow_noncommercial`)."""
    wanted = os.environ.get(CORPORA_ENV, "").replace(",", " ").split()
    if not wanted:
        return [name for name in CORPORA if allow_noncommercial or is_open(name)]
    if "all" in wanted:
        return list(CORPORA)
    unknown = sorted(set(wanted) - set(CORPORA))
    if unknown:
        raise TextrecError(
            f"${CORPORA_ENV} names unknown corpora {', '.join(unknown)}; "
            f"choose from: {', '.join(CORPORA)} (or all)"
        )
    return [name for name in CORPORA if name in wanted]


def corpus_licence(names: Sequence[str | Path]) -> str:
    """One licence for text drawn from the corpora `names` (names or their zips): the shared
    licence, else the most restrictive (non-commercial if any of them is)."""
    licences = {LICENCES[Path(n).stem] for n in names if Path(n).stem in LICENCES}
    if len(licences) == 1:
        return licences.pop()
    return NON_COMMERCIAL if NON_COMMERCIAL in licences else "; ".join(sorted(licences))


def corpus_dir(data_dir: Path | None = None, allow_noncommercial: bool = False) -> Path | None:
    """First of $TEXTREC_CORPUS_DIR, <data_dir>/raw/corpus, ../shared/corpus holding a selected
    corpus (see `selected_corpora`: a folder with only the Brown corpus is skipped by default)."""
    if data_dir is None:
        from textrec_cli.settings import data_dir as default_data_dir

        data_dir = default_data_dir()
    candidates = [
        os.environ.get("TEXTREC_CORPUS_DIR"),
        Path(data_dir) / "raw" / "corpus",
        "../shared/corpus",
    ]
    for candidate in candidates:
        if candidate and corpus_zips(Path(candidate), allow_noncommercial):
            return Path(candidate)
    return None


def corpus_zips(directory: Path, allow_noncommercial: bool = False) -> list[Path]:
    """The selected corpus archives present in `directory`, in `CORPORA` order: openly licensed
    ones only unless `allow_noncommercial` or $TEXTREC_CORPORA says otherwise."""
    names = selected_corpora(allow_noncommercial)
    return [directory / f"{name}.zip" for name in names if (directory / f"{name}.zip").is_file()]


def download_corpus(
    name: str, data_dir: Path, source: Path | None = None, show_progress: bool = True
) -> Path:
    """Fetch (or copy `source`, offline) `<data_dir>/raw/corpus/<name>.zip`, checksum-verified."""
    if name not in CORPORA:
        raise TextrecError(f"unknown corpus {name!r}; choose from: {', '.join(CORPORA)}")
    url, sha256 = CORPORA[name]
    if source is not None:
        source = Path(source)
        if not source.is_file():
            raise InputError(f"corpus archive not found: {source}")
        urls = [source.resolve().as_uri()]
    else:
        urls = [url, url.replace(*_MIRROR)]
    dest = Path(data_dir) / "raw" / "corpus" / f"{name}.zip"
    return download_file(urls, dest, sha256, show_progress=show_progress)


def load_sentences(zip_paths: list[Path]) -> list[str]:
    """Every sentence of the given NLTK corpus zips, detokenized and normalized, in file order."""
    sentences: list[str] = []
    for path in zip_paths:
        try:
            with zipfile.ZipFile(path) as zf:
                for member in sorted(zf.namelist()):
                    if member.endswith("/") or PurePosixPath(member).name in _NOT_TEXT:
                        continue
                    text = zf.read(member).decode("utf-8", errors="replace")
                    if _BROWN_FILE.fullmatch(PurePosixPath(member).name):
                        found = [detokenize_brown(line) for line in text.splitlines()]
                    else:
                        found = split_sentences(text)
                    sentences.extend(s for s in map(normalize_text, found) if s)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise InputError(f"unreadable corpus archive {path}: {exc}") from None
    return sentences


_NOT_TEXT = {"README", "CONTENTS", "cats.txt", "cats.csv", "LICENSE"}
_BROWN_FILE = re.compile(r"c[a-r]\d\d")  # Brown's 500 tagged files: ca01 … cr09
_NO_SPACE_BEFORE = {",", ".", ";", ":", "!", "?", ")", "]", "}", "%"}
_NO_SPACE_AFTER = {"(", "[", "{", "$"}
_DOUBLED = {";", "?", "!"}


def detokenize_brown(line: str) -> str:
    """`The/at jury/nn ,/, ``/`` no/at ''/'' ./.` → `The jury, "no".`

    Tags are stripped at the last `/`; `` and '' become `"`; a lone `'` alternates open/close;
    `--` is written as a spaced hyphen, the way people write a dash by hand. Brown doubles most
    sentence-final `;`, `?` and `!` (`?/. ?/.`): the copy is dropped.
    """
    out = ""
    previous = ""
    attach_next = False  # the previous token glues to whatever follows it
    single_open = False
    for token in line.split():
        word = token.rsplit("/", 1)[0] if "/" in token[1:] else token
        if not word or (word == previous and word in _DOUBLED):
            continue
        previous = word
        glue_left = word in _NO_SPACE_BEFORE or word == "''" or bool(re.fullmatch(r"'[a-z]+", word))
        glue_right = word in _NO_SPACE_AFTER or word == "``"
        if word == "'":
            single_open = not single_open
            glue_left, glue_right = not single_open, single_open
        word = {"``": '"', "''": '"', "--": "-"}.get(word, word)
        out += word if (not out or glue_left or attach_next) else " " + word
        attach_next = glue_right
    return out


# A sentence ends at . ! or ? (plus closing quotes/brackets) before whitespace and a capital,
# digit or opening quote; titles and initials (Mr. / Harry S. Truman) are not ends.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Gen|Gov|Sen|Rep|Col|Capt|Lt|Prof|Rev|Hon|No|vs|etc|Mt|Ft"
    r"|Jan|Feb|Mar|Apr|Aug|Sept?|Oct|Nov|Dec|U\.S|U\.N)|\b[A-Z])\.$"
)


def split_sentences(text: str) -> list[str]:
    """Split plain running text (NLTK's plain corpora: one paragraph per line) into sentences."""
    sentences = []
    for paragraph in text.splitlines():
        paragraph = re.sub(r"\s*--+\s*", " - ", " ".join(paragraph.split()))
        start = 0
        for match in _BOUNDARY.finditer(paragraph):
            if _ABBREVIATION.search(paragraph[start : match.start()]):
                continue
            sentences.append(paragraph[start : match.start()] + match.group().strip())
            start = match.end()
        sentences.append(paragraph[start:])
    return [s.strip() for s in sentences if s.strip()]


class TextSampler:
    """Draw line texts the way handwritten lines cut running text.

    A line starts at a sentence start half the time (else at a random word) and runs for a random
    target length; it usually stops at the sentence's end, so short sentences come out whole and
    long ones as cut pieces. A sentence too short for `min_chars` continues into the next one.
    """

    def __init__(
        self,
        sentences: list[str],
        charset: list[str] = LINE_CHARSET,
        min_chars: int = 8,
        max_chars: int = 64,
        seed: int = 0,
    ) -> None:
        if not 1 <= min_chars <= max_chars:
            raise ValueError(f"need 1 <= min_chars <= max_chars, got {min_chars}, {max_chars}")
        allowed = set(charset)
        extra = {c for s in sentences for c in set(s)} - allowed
        drop = str.maketrans(dict.fromkeys(extra))
        self.sentences = [w for w in (s.translate(drop).split() for s in sentences) if w]
        if not self.sentences:
            raise TextrecError("no usable sentences for the text sampler (empty corpus?)")
        self.min_chars, self.max_chars = min_chars, max_chars
        self.rng = np.random.default_rng(seed)  # used when `sample` gets no generator

    def sample(self, rng: np.random.Generator | None = None, max_chars: int | None = None) -> str:
        """A text of min_chars..max_chars characters (fewer only if the whole corpus is shorter)."""
        rng = self.rng if rng is None else rng
        hi = min(self.max_chars, max_chars or self.max_chars)
        lo = min(self.min_chars, hi)
        target = hi if rng.random() < 0.3 else int(rng.integers(lo, hi + 1))
        index = int(rng.integers(len(self.sentences)))
        words = self.sentences[index]
        position = 0 if rng.random() < 0.5 else int(rng.integers(len(words)))
        pieces: list[str] = []
        length = 0
        for _ in range(sum(map(len, self.sentences))):  # bound: once around the whole corpus
            word = words[position]
            grown = length + bool(pieces) + len(word)
            if grown > hi or (grown > target and length >= lo):
                if length < lo:  # a word too long for the line: cut it, like a line break
                    pieces.append(word[: hi - length - bool(pieces)])
                break
            pieces.append(word)
            length = grown
            position += 1
            if position == len(words):
                if length >= lo and rng.random() < 0.8:
                    break
                index, position = (index + 1) % len(self.sentences), 0
                words = self.sentences[index]
        return " ".join(p for p in pieces if p)
