"""Character sets. EMNIST ByClass order is the class index order of every character model."""

from __future__ import annotations

import string

# EMNIST ByClass: 0-9, A-Z, a-z (62 classes), the order of `mapping` in emnist-byclass.mat.
EMNIST_BYCLASS: list[str] = list(string.digits + string.ascii_uppercase + string.ascii_lowercase)

# EMNIST Balanced merges the 15 lowercase letters whose shape equals the capital (47 classes).
MERGED_LOWERCASE = set("cijklmopsuvwxyz")


def merge_case(char: str) -> str:
    """Map a character to its EMNIST-Balanced class (c→C, o→O, …), for case-blind scoring."""
    return char.upper() if char in MERGED_LOWERCASE else char


# Line models read English and French: printable ASCII plus the letters and signs of French text.
FRENCH_EXTRA = "ÀÂÄÇÈÉÊËÎÏÔÖÙÛÜŸàâäçèéêëîïôöùûüÿŒœÆæ«»°€áíóñ"
LINE_CHARSET: list[str] = [chr(c) for c in range(32, 127)] + list(FRENCH_EXTRA)

_NORMALIZE = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "\xa0": " ",
        "ſ": "s",
        "–": "-",
        "—": "-",
        "…": "...",
        "^": None,
        "⋎": None,
        "\t": " ",
    }
)


def normalize_text(text: str) -> str:
    """Typographic variants to their plain form; diplomatic marks dropped (`^` superscript marker,
    `⋎` insertion mark: the letters they mark are still read inline). Spaces collapsed."""
    return " ".join(text.translate(_NORMALIZE).split())


def unknown_chars(text: str, charset: list[str] | set[str]) -> set[str]:
    allowed = charset if isinstance(charset, set) else set(charset)
    return {c for c in text if c not in allowed}
