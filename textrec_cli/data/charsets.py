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
