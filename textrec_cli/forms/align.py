"""Match the lines read on a form to its prompts: in order, by how alike the texts are.

A writer may skip a prompt, write one in another's space or scribble in the margin, and the model
misreads characters, so neither position nor text alone decides. A monotone alignment (like a diff)
pairs lines with prompts in reading order, maximising the summed similarity plus a small bonus where
a line sits in that prompt's writing area; pairs whose text similarity is under `min_similarity`
are never made, so a line that resembles no prompt is left unstored. Prompts of one form can be
alike (two starting "We have"): the order and the area bonus keep them apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from textrec_cli.evaluation.text_metrics import edit_distance

# forms_roundtrip benchmark: a line scores 0.44-1 with its own prompt, up to 0.66 with another
# prompt of its form (then order and place decide)
MIN_SIMILARITY = 0.4
IN_PLACE_BONUS = 0.1


@dataclass(frozen=True)
class Match:
    line: int
    prompt: int
    similarity: float


def similarity(reading: str, prompt: str) -> float:
    """1 - normalised edit distance, ignoring case and spacing (what writers vary most)."""
    a, b = " ".join(reading.lower().split()), " ".join(prompt.lower().split())
    if not a and not b:
        return 1.0
    return 1.0 - edit_distance(a, b) / max(len(a), len(b))


def align(
    readings: list[str],
    prompts: list[str],
    min_similarity: float = MIN_SIMILARITY,
    places: list[int | None] | None = None,
) -> list[Match]:
    """The best order-preserving one-to-one pairing of readings with prompts; `places[i]` is
    the prompt whose writing area line i lies in (None: none)."""
    places = places or [None] * len(readings)
    sims = [[similarity(r, p) for p in prompts] for r in readings]
    gains = [
        [s + IN_PLACE_BONUS * (places[i] == j) for j, s in enumerate(row)]
        for i, row in enumerate(sims)
    ]
    n, m = len(readings), len(prompts)
    score = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            best = max(score[i - 1][j], score[i][j - 1])
            if sims[i - 1][j - 1] >= min_similarity:
                best = max(best, score[i - 1][j - 1] + gains[i - 1][j - 1])
            score[i][j] = best
    matches, i, j = [], n, m
    while i > 0 and j > 0:
        pair = sims[i - 1][j - 1]
        if pair >= min_similarity and score[i][j] == score[i - 1][j - 1] + gains[i - 1][j - 1]:
            matches.append(Match(i - 1, j - 1, round(pair, 4)))
            i, j = i - 1, j - 1
        elif score[i][j] == score[i - 1][j]:
            i -= 1
        else:
            j -= 1
    return matches[::-1]
