"""Say how a feature moved in words a person acts on: "ink much lighter, lines 40% wider"."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from textrec_cli.monitoring.drift import DriftReport

# feature -> (noun, word when the median rises, word when it falls, how to measure the change)
_RELATIVE = "relative"  # percent change of the median
_GRAY = "gray"  # change in gray levels (0-255)
_ABSOLUTE = "absolute"  # the two medians
_PHRASES: dict[str, tuple[str, str, str, str]] = {
    "width": ("lines", "wider", "narrower", _RELATIVE),
    "height": ("lines", "taller", "shorter", _RELATIVE),
    "aspect": ("lines", "longer for their height", "shorter for their height", _RELATIVE),
    "mean_intensity": ("images", "lighter overall", "darker overall", _GRAY),
    "std_intensity": ("contrast", "higher", "lower", _RELATIVE),
    "paper_level": ("paper", "lighter", "darker", _GRAY),
    "ink_level": ("ink", "lighter", "darker", _GRAY),
    "ink_ratio": ("ink coverage", "larger", "smaller", _RELATIVE),
    "stroke_width": ("strokes", "thicker", "thinner", _RELATIVE),
    "slant": ("writing", "leaning more right", "leaning more left", _ABSOLUTE),
    "text_length": ("readings", "longer", "shorter", _RELATIVE),
    "confidence": ("model confidence", "higher", "lower", _ABSOLUTE),
}


def describe_change(feature: str, reference: np.ndarray, window: np.ndarray) -> str:
    """One phrase for a drifted feature, from the medians of reference and window."""
    before, after = float(np.median(reference)), float(np.median(window))
    noun, up, down, unit = _PHRASES.get(feature, (feature, "higher", "lower", _ABSOLUTE))
    word = up if after >= before else down
    if unit == _RELATIVE and abs(before) > 1e-9:
        change = (after - before) / abs(before)
        much = "much " if abs(change) >= 0.5 else ""
        return f"{noun} {much}{word} ({change:+.0%})"
    if unit == _GRAY:
        much = "much " if abs(after - before) >= 40 else ""
        return f"{noun} {much}{word} ({after - before:+.0f} gray levels)"
    return f"{noun} {word} ({before:.2f} -> {after:.2f})"


def summary_sentence(report: DriftReport) -> str:
    """The report in one sentence: what moved, against what, and the estimated CER if any."""
    where = (
        f"{report.window} lines in {report.documents} document(s) vs reference "
        f"'{report.closest_group}'"
    )
    moved = [f.change for f in report.features if f.drifted]
    text = f"drift: {', '.join(moved)} ({where})" if moved else f"no drift ({where})"
    if report.accuracy:
        acc = report.accuracy
        text += (
            f"; estimated CER {acc['estimated_cer']:.2f} "
            f"[{acc['low']:.2f}, {acc['high']:.2f}] vs {acc['baseline_cer']:.2f} on validation"
        )
        if acc.get("alert"):
            text += f" (ALERT: more than +{acc['margin']:.2f})"
    return text
