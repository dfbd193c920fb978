"""`predict` on the LiteRT interpreter: numpy + Pillow, no TensorFlow or Keras.

Loading TensorFlow costs ~4 s and ~700 MB before the first pixel is read, for a forward pass
that LiteRT runs in milliseconds. A model folder reads this way when it has a LiteRT form
(`inference/litert.py`: the bundled models ship one). Other models (the attention decoder,
ensembles, a user's model without an export) return None here and go through the Keras
`Recognizer`, which gives the same predictions.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from PIL import Image

from textrec_cli import settings
from textrec_cli.containers import Prediction
from textrec_cli.errors import TextrecError
from textrec_cli.inference.litert import litert_folder
from textrec_cli.inference.modes import MODES, read_by_mode
from textrec_cli.serving.runtime import (
    MODE_OF_TASK,
    CharRuntime,
    LineRuntime,
    PageRuntime,
    Runtime,
    litert_threads,
    load_exported,
)

MAX_THREADS = 4  # one `predict` need not spin up every core of a big server


def predict_threads() -> int:
    """LiteRT threads per interpreter for a `predict` call: $TEXTREC_LITERT_THREADS, else this
    process's cores (at most MAX_THREADS). A CLI call has the machine to itself, and a page's
    detector and line batch are the longest waits of a read; serving keeps 1 per worker."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return litert_threads(default=max(1, min(MAX_THREADS, cores or 1)))


def _lm_folder(lm: bool | str | Path | None, runtime: LineRuntime) -> Path | None | bool:
    """`--lm` as `attach_lm` reads it: None = the export's own LM, else the bundled one when
    settings.USE_LM; True = bundled; False = greedy. Returns False to keep the export's own."""
    if lm is None:
        if runtime.metadata["export"].get("lm"):
            return False
        lm = settings.USE_LM
    if lm is False:
        return None
    return settings.BUNDLED_LM if lm is True else Path(lm)


class LiteRecognizer:
    """`Recognizer`'s interface over LiteRT runtimes; bundled models load on first use."""

    def __init__(
        self,
        exports: dict[str, Path],
        mode: str = "auto",
        lm: bool | str | Path | None = None,
        threads: int | None = None,
    ) -> None:
        self.exports, self.mode, self.lm = exports, mode, lm
        self.threads = threads or predict_threads()
        self._runtimes: dict[str, Runtime] = {}

    def runtime(self, mode: str) -> Runtime:
        if mode not in self._runtimes:
            model = load_exported(self.exports[mode], threads=self.threads)
            if isinstance(model, LineRuntime):
                model.keras_batching = True  # read exactly like the Keras path
                folder = _lm_folder(self.lm, model)
                if folder is not False:
                    model.use_lm(folder)
            self._runtimes[mode] = model
        return self._runtimes[mode]

    def predict_images(self, items: list[tuple[str, Image.Image]]) -> list[Prediction]:
        """Predictions in input order; each mode's images run as one batch."""
        return read_by_mode(items, self.mode, self._read)

    def _read(self, mode: str, items: list[tuple[str, Image.Image]]) -> list[Prediction]:
        model = self.runtime(mode)
        if isinstance(model, PageRuntime):
            line_model = self.runtime("line")
            assert isinstance(line_model, LineRuntime)
            return [model.read_page(image, line_model, name) for name, image in items]
        assert isinstance(model, CharRuntime | LineRuntime)
        return model.predict_images(items)


def lite_recognizer(
    model: str | Path | None = None, mode: str = "auto", lm: bool | str | Path | None = None
) -> LiteRecognizer | None:
    """A LiteRecognizer when every model this call may need has a LiteRT form, else None."""
    if mode not in MODES:
        raise TextrecError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    if importlib.util.find_spec("ai_edge_litert") is None:
        return None  # a Keras-only install: the Keras path reads the same
    bundled = {
        "char": settings.BUNDLED_CHAR_MODEL,
        "line": settings.BUNDLED_LINE_MODEL,
        "page": settings.BUNDLED_DETECTOR,
    }
    if model is not None:
        meta_file = Path(model) / "metadata.json"
        try:
            task = json.loads(meta_file.read_text()).get("task", "char")
        except (OSError, ValueError, AttributeError):
            return None  # the Keras path names what is wrong with the folder
        given = MODE_OF_TASK.get(task)
        if given is None:
            return None
        if mode not in ("auto", given):
            raise TextrecError(f"model {model} reads {given}s; it cannot run in {mode} mode")
        needed = {given: Path(model)} | ({"line": bundled["line"]} if given == "page" else {})
        mode = given
        if given == "line":
            from textrec_cli.decoding.lm import own_lm

            lm = own_lm(model, lm)
    else:
        needed = bundled if mode == "auto" else {mode: bundled[mode]}
        if mode == "page":
            needed["line"] = bundled["line"]
    exports = {m: litert_folder(path) for m, path in needed.items()}
    if any(folder is None for folder in exports.values()):
        return None
    return LiteRecognizer({m: f for m, f in exports.items() if f is not None}, mode, lm)
