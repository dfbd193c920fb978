"""Exported models for the serving tests: built once per test process, in a temp folder.

The bundled char model is exported as is; the bundled line CRNN at one width bucket (768) to
keep the suite fast (the default three buckets take ~3x as long and test nothing more).
"""

from __future__ import annotations

import atexit
import functools
import io
import shutil
import tempfile
from pathlib import Path

from PIL import Image

from textrec_cli import settings

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


@functools.cache
def bundled_exports() -> tuple[Path, Path]:
    """(char export dir, line export dir) of the bundled models."""
    from textrec_cli.serving.export import export_model

    root = Path(tempfile.mkdtemp(prefix="textrec-exports-"))
    atexit.register(shutil.rmtree, root, True)
    char = export_model(settings.BUNDLED_CHAR_MODEL, root / "char_cnn")
    lm = settings.BUNDLED_LM if settings.USE_LM else None  # as `textrec serve` exports it
    line = export_model(settings.BUNDLED_LINE_MODEL, root / settings.BUNDLED_LINE_MODEL.name, lm=lm)
    return char, line


@functools.cache
def detector_export() -> Path:
    """The bundled line detector's export (one dynamic [None, 512, None, 1] graph)."""
    from textrec_cli.serving.export import export_model

    root = Path(tempfile.mkdtemp(prefix="textrec-detector-"))
    atexit.register(shutil.rmtree, root, True)
    return export_model(settings.BUNDLED_DETECTOR, root / "line_detector")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def example_bytes(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()
