"""Text-recognition metrics: edit distance, corpus CER/WER and a per-line report.

CER and WER are corpus-level (total edits / total reference units), the definition used by
IAM/RIMES-style benchmarks: a per-line mean would let short lines dominate the score. Strings are
compared exactly as given (no case folding, Unicode or whitespace normalisation) so that callers
decide normalisation once and explicitly. Characters are Python code points, so "é" counts as one
when it is in NFC form; NFD input ("e" + combining accent) counts two.

No dependency: `rapidfuzz` would do the distance in C, but it is not a textrec dependency, and the
bit-parallel algorithm below is fast enough for line-length sequences (one big-int step per
element of the longer sequence).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

__all__ = ["cer", "edit_distance", "line_report", "wer"]


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance (unit-cost insert/delete/substitute) between two sequences.

    Works on strings (per character) and on lists of words or any hashable tokens. Uses the
    Myers/Hyyrö bit-vector algorithm with Python ints as unbounded bit vectors: O(len(a)) big-int
    operations instead of the O(len(a) * len(b)) Python-level loop of the textbook DP.
    """
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    # Bit i of peq[token] is set where b[i] == token.
    peq: dict[Hashable, int] = {}
    for i, token in enumerate(b):
        peq[token] = peq.get(token, 0) | (1 << i)
    full = (1 << m) - 1
    last = 1 << (m - 1)
    pv, mv, score = full, 0, m  # vertical +1/-1 deltas of the DP column; score = D[m][j]
    for token in a:
        eq = peq.get(token, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        if ph & last:
            score += 1
        elif mh & last:
            score -= 1
        ph = ((ph << 1) | 1) & full  # "| 1": row 0 of the DP grows by one per step (global)
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
    return score


def _rate(edits: int, total: int) -> float:
    """Edits per reference unit; an empty reference counts as one unit (see `cer`)."""
    return edits / max(total, 1)


def _check_lengths(refs: Sequence[str], hyps: Sequence[str]) -> None:
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Character error rate: total character edits / total reference characters.

    When every reference is empty the denominator is taken as 1, so the result is 0.0 if the
    hypotheses are empty too and otherwise the number of inserted characters: finite (JSON-safe)
    yet still worse for more spurious output, where a division by zero would give inf.
    """
    _check_lengths(refs, hyps)
    edits = sum(edit_distance(r, h) for r, h in zip(refs, hyps, strict=True))
    return _rate(edits, sum(len(r) for r in refs))


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Word error rate: total word edits / total reference words, splitting on any whitespace.

    Empty references are handled as in `cer` (denominator of at least 1).
    """
    _check_lengths(refs, hyps)
    ref_words = [r.split() for r in refs]
    edits = sum(edit_distance(r, h.split()) for r, h in zip(ref_words, hyps, strict=True))
    return _rate(edits, sum(len(r) for r in ref_words))


def line_report(
    refs: Sequence[str],
    hyps: Sequence[str],
    files: Sequence[str] | None = None,
    worst: int = 20,
) -> dict[str, Any]:
    """Corpus CER/WER, sizes, exact-match rate and the `worst` lines by per-line CER.

    All values are plain JSON types. Rates are rounded to 4 decimals; `worst` entries are
    ordered by per-line CER, then by edit count (a long bad line before a short one with the same
    rate), then by input order, and carry `file` (None without `files`) and `index` so a reader
    can go back to the image. Lines recognised exactly are never listed, so the list may be shorter.
    """
    _check_lengths(refs, hyps)
    if files is not None and len(files) != len(refs):
        raise ValueError(f"{len(files)} files but {len(refs)} references")
    char_edits = [edit_distance(r, h) for r, h in zip(refs, hyps, strict=True)]
    ref_words = [r.split() for r in refs]
    word_edits = sum(edit_distance(r, h.split()) for r, h in zip(ref_words, hyps, strict=True))
    chars = sum(len(r) for r in refs)
    words = sum(len(w) for w in ref_words)
    lines = len(refs)
    order = sorted(
        range(lines), key=lambda i: (-_rate(char_edits[i], len(refs[i])), -char_edits[i], i)
    )
    worst_lines = [
        {
            "index": i,
            "file": None if files is None else str(files[i]),
            "ref": refs[i],
            "hyp": hyps[i],
            "cer": round(_rate(char_edits[i], len(refs[i])), 4),
        }
        for i in order[: max(worst, 0)]
        if char_edits[i]
    ]
    return {
        "cer": round(_rate(sum(char_edits), chars), 4),
        "wer": round(_rate(word_edits, words), 4),
        "lines": lines,
        "chars": chars,
        "words": words,
        "exact_match": round(sum(r == h for r, h in zip(refs, hyps, strict=True)) / lines, 4)
        if lines
        else 0.0,
        "worst": worst_lines,
    }
