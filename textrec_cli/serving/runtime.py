"""Read images with an exported model on the LiteRT interpreter: numpy and Pillow only.

Nothing here imports TensorFlow or Keras (a test checks it), so a serving install is
`ai-edge-litert` + numpy + Pillow (+ scikit-image and SciPy for pages). Preprocessing (`stems/`),
decoding (`decoding/greedy`), the page reader's detect-crop-read (`inference/page_reader`) and
the char/line/page choice (`inference/modes`) are the same code `predict` uses; `predict` itself
reads with these runtimes whenever the model has a LiteRT form (`serving/lite_recognizer.py`). Page
post-processing (SciPy, scikit-image) loads only when a page is read.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image

from textrec_cli.containers import PageLine, Prediction
from textrec_cli.decoding.greedy import greedy_decode
from textrec_cli.errors import InputError, TextrecError
from textrec_cli.fileio import sha256_file
from textrec_cli.inference.modes import MODES, choose_mode
from textrec_cli.inference.quiet import native_stderr_silenced
from textrec_cli.stems.char import char_stem
from textrec_cli.stems.line import line_stem, padded_batches

METADATA_FILE = "metadata.json"
MODELS_ENV = "TEXTREC_SERVE_MODELS"
FRAME_STRIDE = 4  # line models emit one CTC frame per 4 input columns
KERAS_WIDTH_STEP = 64  # the Keras LineReader's batch-width rounding (inference/line_reader.py)
MODE_OF_TASK = {"char": "char", "line": "line", "line_detector": "page"}


def litert_threads(default: int = 1) -> int:
    """LiteRT threads per interpreter: $TEXTREC_LITERT_THREADS, else `default` (serving: 1 per
    worker, its concurrency is across requests; `predict` passes its own)."""
    value = os.environ.get("TEXTREC_LITERT_THREADS", "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise TextrecError(f"TEXTREC_LITERT_THREADS must be a positive integer, not {value!r}")
    return int(value)


_NATIVE_LOG_SILENCED = False


@contextlib.contextmanager
def _quiet_first_allocation() -> Iterator[None]:
    """Hide LiteRT's one native stderr line ("INFO: Created TensorFlow Lite XNNPACK delegate"),
    written once per process at the first allocation: `predict` prints only what it means."""
    global _NATIVE_LOG_SILENCED
    if _NATIVE_LOG_SILENCED:
        yield
        return
    try:
        with native_stderr_silenced():
            yield
    finally:
        _NATIVE_LOG_SILENCED = True


@dataclass
class _Graph:
    """One .tflite file: an interpreter at a fixed or resizable input shape."""

    path: Path
    input_shape: list[int | None]
    interpreter: Any = None
    shape: tuple[int, ...] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(str(self.path), num_threads=threads or litert_threads())
        with _quiet_first_allocation():
            self.interpreter.allocate_tensors()

    def run(self, x: np.ndarray) -> np.ndarray:
        """One forward pass; resizes a dynamic input only when the shape changes."""
        with self.lock:
            it = self.interpreter
            index = it.get_input_details()[0]["index"]
            if x.shape != self.shape:
                if None in self.input_shape:
                    it.resize_tensor_input(index, x.shape, strict=True)
                it.allocate_tensors()
                self.shape = x.shape
            it.set_tensor(index, x)
            it.invoke()
            return it.get_tensor(it.get_output_details()[0]["index"]).copy()


class ExportedModel:
    """An export folder (see `serving/export.py`): metadata plus one or more graphs."""

    def __init__(self, path: str | Path, verify: bool = True, threads: int | None = None) -> None:
        self.path = Path(path)
        meta_file = self.path / METADATA_FILE
        if (self.path / "model.keras").is_file():
            raise InputError(f"{self.path} is a Keras model folder: run `textrec export` on it")
        if not meta_file.is_file():
            raise InputError(f"not an exported model (no {METADATA_FILE}): {self.path}")
        try:
            self.metadata: dict[str, Any] = json.loads(meta_file.read_text())
            export = self.metadata["export"]
            files = export["files"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"corrupt export metadata {meta_file}: {exc}") from None
        self.task: str = self.metadata.get("task", "char")
        self.dynamic: bool = bool(export.get("dynamic"))
        self.graphs: list[_Graph] = []
        for entry in files:
            graph_path = self.path / entry["file"]
            if not graph_path.is_file():
                raise InputError(f"exported model file missing: {graph_path}")
            if verify and sha256_file(graph_path) != entry["sha256"]:
                raise InputError(f"checksum mismatch for {graph_path}: re-run `textrec export`")
            graph = _Graph(graph_path, list(entry["input_shape"]))
            graph.load(threads)
            self.graphs.append(graph)
        self.graphs.sort(key=lambda g: g.input_shape[2] or 0)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", self.path.name))

    def describe(self) -> dict[str, Any]:
        """What GET /v1/model shows: enough to know exactly which model answers."""
        meta = self.metadata
        labels = meta.get("charset") if self.task == "line" else meta.get("mapping")
        export = meta["export"]
        return {
            "version": self.version,
            "task": self.task,
            "model": meta.get("model"),
            "input_shape": meta.get("input_shape"),
            "preprocessing": meta.get("preprocessing"),
            "labels": len(labels or []),
            "format": export.get("format"),
            "dynamic": self.dynamic,
            "files": export.get("files"),
            "source_sha256": export.get("source_sha256"),
            "exported": export.get("exported"),
            "metrics": meta.get("metrics"),
        }


class CharRuntime(ExportedModel):
    """The character classifier: stem to 28x28, one softmax."""

    batch: int = 256

    def predict(self, image: Image.Image, name: str = "upload", top_k: int = 3) -> Prediction:
        [prediction] = self.predict_images([(name, image)], top_k)
        return prediction

    def predict_images(
        self, items: list[tuple[str, Image.Image]], top_k: int = 3
    ) -> list[Prediction]:
        """(name, image) pairs -> Predictions, in batches of `batch` glyphs."""
        mapping = self.metadata["mapping"]
        if not items:
            return []
        glyphs = np.stack([char_stem(image) for _, image in items])[..., None]
        batches = range(0, len(items), self.batch)
        probs = np.concatenate([self.graphs[0].run(glyphs[i : i + self.batch]) for i in batches])
        return [
            Prediction.top_k(name, p, mapping, top_k, self.version)
            for (name, _), p in zip(items, probs, strict=True)
        ]


class LineRuntime(ExportedModel):
    """A CTC line model: stem to height 40, pad (or fit) to a graph's width, greedy decode.

    `keras_batching` (what `predict` sets): batch exactly as the Keras LineReader does (widths
    rounded up to 64 px, every frame of the padded row decoded), so `predict` reads the same on
    either path; the padding's few frames can nudge a line's confidence by ~0.005."""

    keras_batching: bool = False

    @property
    def height(self) -> int:
        return int(self.metadata["input_shape"][0])

    @property
    def charset(self) -> list[str]:
        return self.metadata["charset"]

    @cached_property
    def lm(self) -> Any:
        """The export's character LM decoder (`textrec export --lm`), else None (greedy);
        `use_lm` replaces it."""
        folder = self.metadata["export"].get("lm")
        if not folder:
            return None
        from textrec_cli.decoding.lm import load_lm_decoder

        return load_lm_decoder(self.path / folder, self.charset)

    def use_lm(self, lm: str | Path | None) -> LineRuntime:
        """Decode with the LM folder `lm` (None: greedy) instead of the export's own."""
        from textrec_cli.decoding.lm import load_lm_decoder

        self.lm = None if lm is None else load_lm_decoder(lm, self.charset)
        return self

    def decode(self, log_probs: np.ndarray) -> list[tuple[str, float]]:
        if self.lm is not None:
            return self.lm.decode(log_probs)
        return greedy_decode(log_probs, self.metadata["charset"])

    def line_input(self, stem: np.ndarray) -> tuple[_Graph, np.ndarray, int]:
        """(graph, padded uint8 batch of 1, frames that cover real ink) for a stem."""
        width = stem.shape[1]
        if self.dynamic:
            graph, target = self.graphs[0], int(np.ceil(width / FRAME_STRIDE) * FRAME_STRIDE)
        else:
            fits = [g for g in self.graphs if g.input_shape[2] >= width]
            graph = fits[0] if fits else self.graphs[-1]
            target = graph.input_shape[2]
            if width > target:  # wider than the largest bucket: squeeze to fit
                resized = Image.fromarray(stem).resize((target, self.height), Image.Resampling.BOX)
                stem, width = np.asarray(resized, dtype=np.uint8), target
        x = np.zeros((1, self.height, target, 1), dtype=np.uint8)
        x[0, :, :width, 0] = stem
        return graph, x, int(np.ceil(width / FRAME_STRIDE))

    def read_stems(self, stems: list[np.ndarray], batch: int = 32) -> list[tuple[str, float]]:
        """Many stems -> (text, confidence), in order; width-sorted batches for dynamic graphs.

        Each line is decoded over its own frames only, so padding never changes its text.
        """
        if not self.dynamic:  # fixed-width graphs take one line at a time
            results = []
            for stem in stems:
                graph, x, frames = self.line_input(stem)
                results += self.decode(graph.run(x)[:, :frames])
            return results
        out: list[tuple[str, float]] = [("", 0.0)] * len(stems)
        step = KERAS_WIDTH_STEP if self.keras_batching else FRAME_STRIDE
        for chunk, x in padded_batches(stems, batch, step):
            log_probs = self.graphs[0].run(x)
            for row, i in enumerate(chunk):
                frames = log_probs.shape[1]
                if not self.keras_batching:
                    frames = int(np.ceil(stems[i].shape[1] / FRAME_STRIDE))
                [out[i]] = self.decode(log_probs[row : row + 1, :frames])
        return out

    def predict(self, image: Image.Image, name: str = "upload") -> Prediction:
        graph, x, frames = self.line_input(line_stem(image, self.height))
        log_probs = graph.run(x)[:, :frames]
        [(text, confidence)] = self.decode(log_probs)
        return Prediction(
            file=name, text=text, confidence=confidence, mode="line", model_version=self.version
        )

    def predict_images(self, items: list[tuple[str, Image.Image]]) -> list[Prediction]:
        """Many line images read in width-sorted batches (`read_stems`), in input order."""
        stems = [line_stem(image, self.height) for _, image in items]
        return [
            Prediction(file=name, text=text, confidence=conf, mode="line",
                       model_version=self.version)
            for (name, _), (text, conf) in zip(items, self.read_stems(stems), strict=True)
        ]  # fmt: skip


class PageRuntime(ExportedModel):
    """The line detector: one pass per page, then every line read in one `read_stems` call."""

    threshold: float = 0.5

    def read_lines(self, image: Image.Image, line_model: LineRuntime) -> list[PageLine]:
        from textrec_cli.inference.page_reader import read_lines

        return read_lines(
            self.graphs[0].run, line_model.read_stems, image, self.metadata, line_model.height,
            self.threshold,
        )  # fmt: skip

    def read_page(self, image: Image.Image, line_model: LineRuntime, name: str) -> Prediction:
        lines = self.read_lines(image, line_model)
        return Prediction.of_page(name, lines, f"{self.version}+{line_model.version}")


Runtime = CharRuntime | LineRuntime | PageRuntime


def load_exported(path: str | Path, threads: int | None = None) -> Runtime:
    """An export folder as the runtime its task needs; `threads` per interpreter (default
    $TEXTREC_LITERT_THREADS, else 1: a serving worker's concurrency is across requests)."""
    meta_file = Path(path) / METADATA_FILE
    task = "char"
    if meta_file.is_file():
        with contextlib.suppress(OSError, ValueError, AttributeError):  # reported below
            task = json.loads(meta_file.read_text()).get("task", "char")
    runtimes = {"char": CharRuntime, "line": LineRuntime, "line_detector": PageRuntime}
    if task not in runtimes:
        raise TextrecError(f"exported model {path} has an unknown task {task!r}")
    return runtimes[task](path, threads=threads)


class ServingRecognizer:
    """The loaded models by mode (char, line, page); picks one per image like `predict`."""

    def __init__(self, models: list[Runtime]) -> None:
        if not models:
            raise TextrecError("no models to serve")
        self.models: dict[str, Runtime] = {}
        for model in models:
            mode = MODE_OF_TASK[model.task]
            if mode in self.models:
                raise TextrecError(f"two {model.task} models given; serve one per task")
            self.models[mode] = model
        if "page" in self.models and not isinstance(self.models.get("line"), LineRuntime):
            raise TextrecError("a line_detector reads pages with a line model: serve one too")

    @classmethod
    def from_paths(cls, paths: list[str | Path]) -> ServingRecognizer:
        return cls([load_exported(p) for p in paths])

    def predict(self, image: Image.Image, mode: str = "auto", name: str = "upload") -> Prediction:
        if mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "auto":
            pages = "page" in self.models
            mode = choose_mode(image, pages) if len(self.models) > 1 else next(iter(self.models))
        model = self.models.get(mode)
        if model is None:
            raise InputError(f"no {mode} model is loaded (serving: {', '.join(self.models)})")
        if isinstance(model, PageRuntime):
            return model.read_page(image, cast(LineRuntime, self.models["line"]), name)
        return model.predict(image, name=name)

    def describe(self) -> dict[str, Any]:
        return {mode: model.describe() for mode, model in self.models.items()}


def model_paths_from_env() -> list[Path]:
    """$TEXTREC_SERVE_MODELS: export folders separated by os.pathsep, or a folder of them."""
    value = os.environ.get(MODELS_ENV, "")
    paths = [Path(p) for p in value.split(os.pathsep) if p]
    if len(paths) == 1 and not (paths[0] / "metadata.json").is_file() and paths[0].is_dir():
        paths = sorted(p for p in paths[0].iterdir() if (p / "metadata.json").is_file())
    if not paths:
        raise InputError(f"set {MODELS_ENV} to exported model folders (`textrec export`)")
    return paths
