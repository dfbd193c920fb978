"""One entry point for reading images: picks character or line mode and the model for it.

`predict`, serving and benchmarks call this; models load lazily and once, and every image in a
call goes through its model in one batch.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from textrec_cli import settings
from textrec_cli.containers import Prediction
from textrec_cli.errors import TextrecError
from textrec_cli.inference.line_reader import LineReader
from textrec_cli.inference.modes import MODES, read_by_mode
from textrec_cli.inference.modes import choose_mode as choose_mode  # re-exported
from textrec_cli.inference.page_reader import PageReader
from textrec_cli.inference.predictor import CharPredictor
from textrec_cli.models.store import load_model


def attach_lm(reader: LineReader, lm: bool | str | Path | None) -> LineReader:
    """Decode a CTC line reader's posteriors with the character LM (True = the bundled one,
    None = settings.USE_LM); an attention model has its own decoder, so asking for it there is
    an error rather than a silent no-op."""
    if lm is None:
        lm = settings.USE_LM and not reader.attention
    if lm is False:
        reader.lm = None
        return reader
    if reader.attention:
        raise TextrecError(
            f"--lm applies to CTC line models; {reader.version} decodes by attention"
        )
    from textrec_cli.decoding.lm import load_lm_decoder

    reader.lm = load_lm_decoder(settings.BUNDLED_LM if lm is True else Path(lm), reader.charset)
    return reader


def load_reader(
    path: str | Path, lm: bool | str | Path | None = None
) -> CharPredictor | LineReader | PageReader:
    """A saved model as the reader its task needs (metadata `task`: char, line or line_detector;
    a detector reads its lines with the bundled line model). `lm`: see `attach_lm`."""
    from textrec_cli.decoding.lm import own_lm
    from textrec_cli.inference.ensemble import is_ensemble, load_ensemble

    lm = own_lm(path, lm)
    if is_ensemble(path):
        return attach_lm(load_ensemble(path), lm)
    saved = load_model(path)
    task = saved.metadata.get("task", "char")
    if task == "line":
        return attach_lm(LineReader(saved), lm)
    if task == "line_detector":
        line_reader = attach_lm(LineReader(load_model(settings.BUNDLED_LINE_MODEL)), lm)
        return PageReader(saved, line_reader)
    if task == "char":
        return CharPredictor(saved)
    raise TextrecError(f"model {path} has an unknown task {task!r}")


class Recognizer:
    """Reads images with a given model, or the bundled char + line models by image shape."""

    def __init__(
        self, model: str | Path | None = None, mode: str = "auto", lm: bool | None = None
    ) -> None:
        if mode not in MODES:
            raise TextrecError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode, self.lm = mode, lm
        self._readers: dict[str, CharPredictor | LineReader | PageReader] = {}
        if model is not None:
            reader = load_reader(model, lm)
            task = {LineReader: "line", PageReader: "page"}.get(type(reader), "char")
            if mode not in ("auto", task):
                raise TextrecError(f"model {model} reads {task}s; it cannot run in {mode} mode")
            self.mode = task
            self._readers[task] = reader

    def reader(self, mode: str) -> CharPredictor | LineReader | PageReader:
        if mode == "page" and mode not in self._readers:
            line_reader = self.reader("line")
            if not isinstance(line_reader, LineReader):
                raise TextrecError("page mode needs a line model")
            self._readers[mode] = PageReader(load_model(settings.BUNDLED_DETECTOR), line_reader)
        if mode not in self._readers:
            bundled = settings.BUNDLED_LINE_MODEL if mode == "line" else settings.BUNDLED_CHAR_MODEL
            self._readers[mode] = load_reader(bundled, self.lm)
        return self._readers[mode]

    def predict_images(self, items: list[tuple[str, Image.Image]]) -> list[Prediction]:
        """Predictions in input order; each mode's images run as one batch."""
        return read_by_mode(items, self.mode, self._read)

    def _read(self, mode: str, items: list[tuple[str, Image.Image]]) -> list[Prediction]:
        return self.reader(mode).predict_images(items)
