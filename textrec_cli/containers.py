"""The typed records that flow from inference to the CLI's JSON (and later the API and reports)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Prediction:
    file: str
    text: str
    confidence: float
    mode: str  # "char" | "line" | "page"
    model_version: str = ""
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    # page mode: per line {"text", "confidence", "box": [x0, y0, x1, y1], "polygon", "baseline"}
    lines: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        if self.lines is None:
            payload.pop("lines")
        payload["confidence"] = round(float(self.confidence), 6)
        payload["alternatives"] = [[t, round(float(p), 6)] for t, p in self.alternatives]
        return payload
