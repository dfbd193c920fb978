"""Load a trained model once and read many images in one batch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from textrec_cli.containers import Prediction
from textrec_cli.models.store import SavedModel, load_model
from textrec_cli.settings import BUNDLED_CHAR_MODEL
from textrec_cli.stems.char import char_stem


@dataclass
class CharPredictor:
    saved: SavedModel
    batch_size: int = 256

    @property
    def mapping(self) -> list[str]:
        return self.saved.mapping

    @property
    def version(self) -> str:
        return self.saved.version

    def predict_arrays(self, glyphs: np.ndarray) -> np.ndarray:
        """uint8 (N, 28, 28) stems -> class probabilities (N, C)."""
        if len(glyphs) == 0:
            return np.zeros((0, len(self.mapping)), dtype=np.float32)
        return np.asarray(
            self.saved.model.predict(glyphs[..., None], batch_size=self.batch_size, verbose=0)
        )

    def predict_images(
        self, items: list[tuple[str, Image.Image]], top_k: int = 3
    ) -> list[Prediction]:
        """(name, image) pairs -> Predictions, all through the model in one batch."""
        glyphs = np.zeros((len(items), 28, 28), np.uint8)
        for i, (_, image) in enumerate(items):
            glyphs[i] = char_stem(image)
        probs = self.predict_arrays(glyphs)
        return [
            Prediction.top_k(str(file), p, self.mapping, top_k, self.version)
            for (file, _), p in zip(items, probs, strict=True)
        ]


def load_predictor(model_path: str | Path | None = None) -> CharPredictor:
    """The given model folder, or the bundled one that ships with the package."""
    return CharPredictor(load_model(model_path or BUNDLED_CHAR_MODEL))
