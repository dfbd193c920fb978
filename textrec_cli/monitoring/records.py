"""The one record a served prediction leaves behind: what came in, what went out, how fast."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from textrec_cli.containers import Prediction
from textrec_cli.monitoring.features import (
    char_histogram,
    content_hash,
    image_features,
    output_features,
)


@dataclass
class PredictionRecord:
    """Features (image + output) of one request; `id` is set once stored."""

    model_version: str
    mode: str
    source: str  # "cli" | "rest" | "lambda" | "simulation"
    image_hash: str
    features: dict[str, float]
    text: str
    chars: dict[str, int]
    latency_ms: float
    timestamp: float = field(default_factory=time.time)
    id: int | None = None
    image_kept: bool = False
    # the page/request this line came from, when known (lines of one document are alike, so the
    # drift test resamples whole documents); not stored: the store infers requests (documents.py)
    document: str = ""

    @property
    def confidence(self) -> float:
        return float(self.features.get("confidence", 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "timestamp": self.timestamp, "model_version": self.model_version,
            "mode": self.mode, "source": self.source, "image_hash": self.image_hash,
            "text": self.text, "latency_ms": round(self.latency_ms, 3),
            "features": {k: round(v, 6) for k, v in self.features.items()},
            "image_kept": self.image_kept,
        }  # fmt: skip


def make_record(
    image: Image.Image,
    prediction: Prediction,
    latency_ms: float,
    source: str = "rest",
) -> PredictionRecord:
    """Measure one request: its image and the Prediction served for it."""
    text, confidence = prediction.text, float(prediction.confidence)
    return PredictionRecord(
        model_version=prediction.model_version,
        mode=prediction.mode,
        source=source,
        image_hash=content_hash(image),
        features={**image_features(image), **output_features(text, confidence)},
        text=text,
        chars=char_histogram(text),
        latency_ms=float(latency_ms),
    )


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG (lossless, any mode PIL can save; others are converted to RGB)."""
    buffer = io.BytesIO()
    if image.mode == "F":  # 32-bit float: convert("RGB") would saturate it; keep what was read
        from textrec_cli.stems.char import to_gray_array

        image = Image.fromarray(to_gray_array(image).astype("uint8"))
    if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        image = image.convert("RGB")
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
