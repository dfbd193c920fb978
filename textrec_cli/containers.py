"""The typed records every reading travels in, from the readers to each output.

A reader makes a `Prediction` once (a page's lines as `PageLine`s); the CLI's JSON, the ALTO /
PAGE-XML writers, the REST and Lambda responses and the monitoring records all consume it as is,
and `to_dict` is the one place its JSON is made (as kraken's `containers.py` is the only currency
from segmentation to recognition to serialisation). Nothing here imports more than numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Point = tuple[int, int]


@dataclass
class PageLine:
    """One text line: its outline, baseline (may be empty) and transcription, in image pixels."""

    polygon: list[Point]
    baseline: list[Point] = field(default_factory=list)
    text: str = ""
    id: str = ""
    confidence: float | None = None

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the polygon (falls back on the baseline)."""
        points = self.polygon or self.baseline
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return min(xs), min(ys), max(xs), max(ys)

    def to_dict(self) -> dict[str, Any]:
        """The line as JSON holds it (an unknown confidence reads 0.0; the id stays internal)."""
        return {
            "text": self.text,
            "confidence": round(float(self.confidence or 0.0), 6),
            "box": list(self.box),
            "polygon": [list(p) for p in self.polygon],
            "baseline": [list(p) for p in self.baseline],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PageLine:
        """Inverse of `to_dict` (`box` is derived from the polygon, so it is not read)."""
        return cls(
            polygon=[(int(x), int(y)) for x, y in data["polygon"]],
            baseline=[(int(x), int(y)) for x, y in data.get("baseline") or []],
            text=str(data.get("text", "")),
            confidence=None if data.get("confidence") is None else float(data["confidence"]),
        )


@dataclass
class Prediction:
    file: str
    text: str
    confidence: float
    mode: str  # "char" | "line" | "page"
    model_version: str = ""
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    lines: list[PageLine] | None = None  # page mode: in reading order; `text` joins them

    @classmethod
    def top_k(
        cls, file: str, probs: np.ndarray, labels: Sequence[str], k: int, model_version: str
    ) -> Prediction:
        """A classifier's softmax as a char reading: the best label, the next k - 1 after it."""
        order = np.argsort(probs)[::-1][:k]
        return cls(
            file=file,
            text=labels[order[0]],
            confidence=float(probs[order[0]]),
            mode="char",
            model_version=model_version,
            alternatives=[(labels[i], float(probs[i])) for i in order[1:]],
        )

    @classmethod
    def of_page(cls, file: str, lines: list[PageLine], model_version: str = "") -> Prediction:
        """A page reading: text is the lines joined by newlines, confidence their mean."""
        scores = [line.confidence or 0.0 for line in lines]
        return cls(
            file=file,
            text="\n".join(line.text for line in lines),
            confidence=float(np.mean(scores)) if lines else 0.0,
            mode="page",
            model_version=model_version,
            lines=lines,
        )

    def page_lines(self, size: tuple[int, int]) -> list[PageLine]:
        """The reading as a page's lines: a line or char reading is one line that covers the
        whole `size` (width, height) image, so every reading can be written as ALTO / PAGE-XML."""
        if self.lines is not None:
            return self.lines
        w, h = size
        corners = [(0, 0), (w - 1, 0), (w - 1, h - 1), (0, h - 1)]
        return [PageLine(corners, text=self.text, confidence=self.confidence)]

    def to_dict(self) -> dict[str, Any]:
        """The reading as JSON (CLI `--json`, REST, Lambda, `textrec read` workers); `lines`
        only in page mode."""
        payload: dict[str, Any] = {
            "file": self.file,
            "text": self.text,
            "confidence": round(float(self.confidence), 6),
            "mode": self.mode,
            "model_version": self.model_version,
            "alternatives": [[t, round(float(p), 6)] for t, p in self.alternatives],
        }
        if self.lines is not None:
            payload["lines"] = [line.to_dict() for line in self.lines]
        return payload

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Prediction:
        """Inverse of `to_dict` (a worker's answer read back); only text, confidence and mode
        are required."""
        lines = data.get("lines")
        return cls(
            file=str(data.get("file", "")),
            text=str(data["text"]),
            confidence=float(data["confidence"]),
            mode=str(data["mode"]),
            model_version=str(data.get("model_version", "")),
            alternatives=[(str(t), float(p)) for t, p in data.get("alternatives") or []],
            lines=None if lines is None else [PageLine.from_dict(ln) for ln in lines],
        )
