"""`textrec predict`: read images with the bundled (or given) models.

This module is all a `textrec predict` imports of the CLI (benchmarks/cli_startup.py): keep its
top-level imports light; models, TensorFlow and monitoring load inside the command.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from textrec_cli.cli_support import LanguageModel, err, user_errors
from textrec_cli.errors import InputError, TextrecError


def register(app: typer.Typer) -> None:
    app.command()(predict)


@user_errors
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, …).")],
    model: Annotated[
        Path | None, typer.Option(help="Model folder (default: the bundled models).")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(help="auto (by image shape: wide = line, large = page), char, line or page."),
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per image on stdout.")
    ] = False,
    log: Annotated[
        bool, typer.Option("--log/--no-log", help="Record each prediction for monitoring.")
    ] = False,
    store: Annotated[
        str | None, typer.Option(help="--log: SQLite path or postgresql:// URL (see monitor).")
    ] = None,
    keep_images: Annotated[
        bool, typer.Option("--keep-images", help="--log: keep the images too (for labeling).")
    ] = False,
    page_format: Annotated[
        str | None,
        typer.Option("--format", help="Also write alto (ALTO v4) or page (PAGE-XML 2019)."),
    ] = None,
    lm: LanguageModel = None,
    output_dir: Annotated[
        Path | None, typer.Option("--output", help="--format: folder (default: beside images).")
    ] = None,
) -> None:
    """Read handwriting from images; many files load each model once and run as one batch."""
    if page_format not in (None, "alto", "page"):
        raise TextrecError(f"--format must be alto or page, not {page_format!r}")
    _one_blas_thread()
    from textrec_cli.image_io import load_image

    prediction_store = None
    if log:
        from textrec_cli.monitoring.store import ImagePolicy, open_store

        prediction_store = open_store(store, ImagePolicy(keep=keep_images))
    recognizer = _recognizer(model, mode, lm)
    loaded, failures = [], 0
    for path in images:
        try:
            _refuse_link_loop(path)
            loaded.append((str(path), load_image(path)))
        except InputError as exc:
            failures += 1
            _file_error(str(exc))
    started = time.perf_counter()
    answered, refused = _predict_files(recognizer, loaded)
    failures += refused
    loaded = [item for item, _ in answered]
    predictions = [prediction for _, prediction in answered]
    if prediction_store is not None:
        from textrec_cli.monitoring.observer import log_predictions

        latency_ms = (time.perf_counter() - started) * 1000 / max(len(loaded), 1)
        with prediction_store:
            log_predictions(prediction_store, loaded, predictions, latency_ms)
    if page_format:
        _write_page_files(predictions, dict(loaded), page_format, output_dir)
    for prediction in predictions:
        if as_json:
            print(json.dumps(prediction.to_dict(), ensure_ascii=False))
        elif prediction.mode == "page":  # plain print: a reading's "[sic]" is text, not markup
            print(
                f"{prediction.file}\t{len(prediction.lines or [])} lines\t"
                f"{prediction.confidence:.3f}\n{prediction.text}"
            )
        else:
            print(f"{prediction.file}\t{prediction.text}\t{prediction.confidence:.3f}")
    if failures:
        raise typer.Exit(InputError.exit_code)


def _one_blas_thread() -> None:
    """Before numpy loads: its OpenBLAS starts a worker per core that spins for ~0.1 s of CPU
    (a one-line `predict`: ~0.5 s CPU with it, ~0.35 s without, on 2 cores), and nothing `predict`
    does needs threaded BLAS: LiteRT, Keras and the LM decoder bring their own kernels."""
    if "numpy" not in sys.modules:  # too late otherwise (and not ours to change in-process)
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _recognizer(model: Path | None, mode: str, lm: bool | None):
    """LiteRT (no TensorFlow: ~10x faster start, a third of the memory) whenever every model
    this call may need has a LiteRT form; else Keras (attention decoder, ensembles, a model
    folder without an export). Both read the same."""
    from textrec_cli.serving.lite_recognizer import lite_recognizer

    recognizer = lite_recognizer(model, mode, lm)
    if recognizer is None:
        from textrec_cli.inference.quiet import load_keras_quietly

        load_keras_quietly()  # first: no TensorFlow/absl/CUDA lines on stderr
        from textrec_cli.inference.recognizer import Recognizer

        recognizer = Recognizer(model, mode, lm)
    return recognizer


def _file_error(message: str) -> None:
    """One `error:` line for a file `predict` could not answer (the others still are)."""
    err.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)


def _refuse_link_loop(path: Path) -> None:
    """A symlink loop is named as such: load_image would only see a missing file."""
    import errno

    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"{path}: symbolic link loop (it never reaches a file)") from None


def _predict_files(recognizer, loaded: list[tuple[str, object]]) -> tuple[list[tuple], int]:
    """((file, image), prediction) pairs in input order, and how many files were refused.

    One batch as usual; if the batch raises InputError (a line over the width limit, found
    before any resize), each file is read alone so that only the hostile one fails."""
    if not loaded:
        return [], 0
    try:
        return list(zip(loaded, recognizer.predict_images(loaded), strict=True)), 0
    except InputError:
        pass
    answered, refused = [], 0
    for item in loaded:
        try:
            [prediction] = recognizer.predict_images([item])
        except InputError as exc:
            refused += 1
            _file_error(f"{item[0]}: {exc}")
            continue
        answered.append((item, prediction))
    return answered, refused


def _write_page_files(predictions, images: dict, fmt: str, output_dir: Path | None) -> None:
    """ALTO / PAGE-XML per image (a line or char image is a page holding one line)."""
    from textrec_cli.data.page_xml import Page, write_page_file

    for prediction in predictions:
        size = images[prediction.file].size
        image_path = Path(prediction.file)
        folder = output_dir or image_path.parent
        target = folder / f"{image_path.stem}.{fmt}.xml"
        write_page_file(Page.of(prediction, size), target, fmt)
        err.print(f"wrote {target}", highlight=False, soft_wrap=True)  # a path is never wrapped
