"""Greedy CTC decoding in numpy alone, so the LiteRT serving path shares it without Keras.

Blank is class 0; character i of the charset is class i + 1 (`models.BLANK`).
"""

from __future__ import annotations

import numpy as np

from textrec_cli.models import BLANK


def greedy_decode(log_probs: np.ndarray, charset: list[str]) -> list[tuple[str, float]]:
    """Best path per line: collapse repeats, drop blanks. Confidence = exp(mean max log-prob
    over the frames that emitted a character), so long lines are not penalised for length."""
    results = []
    best = log_probs.argmax(axis=-1)
    best_lp = log_probs.max(axis=-1)
    for path, lp in zip(best, best_lp, strict=True):
        keep = (path != BLANK) & np.concatenate([[True], path[1:] != path[:-1]])
        chars = [charset[k - 1] for k in path[keep]]
        emitted = lp[path != BLANK]
        confidence = float(np.exp(emitted.mean())) if emitted.size else float(np.exp(lp.mean()))
        results.append(("".join(chars), confidence))
    return results
