"""Read a whole page: one detector pass, each line cropped by its polygon, all lines in one batch.

Line crops are made like the real training crops (`../shared/data/copiste/lines`): the polygon's
bounding box of the gray page, white outside the polygon, then the shared line stem. Free of Keras
at import: serving's LiteRT PageRuntime reads pages through `read_lines` too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw

from textrec_cli.containers import PageLine, Prediction
from textrec_cli.inference.page_lines import Forward, detect_lines, keras_forward
from textrec_cli.stems.char import to_gray_array
from textrec_cli.stems.line import line_stem

if TYPE_CHECKING:
    from textrec_cli.inference.line_reader import LineReader
    from textrec_cli.models.store import SavedModel

# many line stems -> (text, confidence) each, in order (LineReader / LineRuntime.read_stems)
ReadStems = Callable[[list[np.ndarray]], list[tuple[str, float]]]

PAPER = 255.0


def crop_line(gray: np.ndarray, polygon: list[tuple[int, int]]) -> np.ndarray:
    """The polygon's bounding box of a gray page, pixels outside the polygon set to white."""
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    x0, y0 = max(min(xs), 0), max(min(ys), 0)
    x1, y1 = min(max(xs) + 1, gray.shape[1]), min(max(ys) + 1, gray.shape[0])
    crop = gray[y0:y1, x0:x1].astype(np.float32)
    mask = Image.new("1", (max(x1 - x0, 1), max(y1 - y0, 1)), 0)
    ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in polygon], fill=1, outline=1)
    inside = np.asarray(mask, dtype=bool)[: crop.shape[0], : crop.shape[1]]
    return np.where(inside, crop, PAPER)


def read_lines(
    forward: Forward,
    read_stems: ReadStems,
    image: Image.Image,
    metadata: dict[str, Any],
    line_height: int,
    threshold: float = 0.5,
) -> list[PageLine]:
    """Detect the page's lines, crop and stem each, read them all in one `read_stems` call."""
    gray = to_gray_array(image)  # once: the detector and the crops read the same gray page
    lines = detect_lines(forward, gray, metadata, threshold)
    if not lines:
        return []
    # squeeze, don't refuse: one odd, very thin detection must not fail the whole page
    stems = [line_stem(crop_line(gray, line.polygon), line_height, squeeze=True) for line in lines]
    for line, (text, confidence) in zip(lines, read_stems(stems), strict=True):
        line.text, line.confidence = text, float(confidence)
    return lines


@dataclass
class PageReader:
    detector: SavedModel
    line_reader: LineReader
    threshold: float = 0.5

    @property
    def version(self) -> str:
        return f"{self.detector.version}+{self.line_reader.version}"

    def read_page(self, image: Image.Image) -> list[PageLine]:
        """Lines of the page in reading order with their text and recognition confidence."""
        return read_lines(
            keras_forward(self.detector.model), self.line_reader.read_stems, image,
            self.detector.metadata, self.line_reader.height, self.threshold,
        )  # fmt: skip

    def predict_images(self, items: list[tuple[str, Image.Image]]) -> list[Prediction]:
        return [Prediction.of_page(name, self.read_page(image), self.version)
                for name, image in items]  # fmt: skip
