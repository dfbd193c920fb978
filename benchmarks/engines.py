"""Reference OCR engines that benchmarks compare textrec against; never a runtime dependency.

Tesseract runs as the `tesseract` binary (Debian: `apt-get install -y tesseract-ocr
tesseract-ocr-eng tesseract-ocr-fra`; .ci/run installs it), one process per line image, so no
Python binding is needed. RapidOCR is used only when the optional `rapidocr` package is
importable; benchmarks should skip it with a note otherwise.

Both return one string per input path, in input order, newlines folded into spaces, so the output
goes straight into `textrec_cli.evaluation.text_metrics.line_report`.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = [
    "rapidocr_available",
    "rapidocr_read_lines",
    "tesseract_available",
    "tesseract_languages",
    "tesseract_read_lines",
    "tesseract_version",
]

TESSERACT_INSTALL_HINT = (
    "apt-get install -y tesseract-ocr tesseract-ocr-eng tesseract-ocr-fra"
    " (Debian/Ubuntu; .ci/run installs it)"
)
_WHITESPACE = re.compile(r"\s+")


def _single_line(text: str) -> str:
    """Fold any newlines/runs of whitespace to one space: the benchmarks score single lines."""
    return _WHITESPACE.sub(" ", text).strip()


def tesseract_available() -> bool:
    """True when the `tesseract` binary is on PATH."""
    return shutil.which("tesseract") is not None


def tesseract_version() -> str | None:
    """Version string such as "5.3.0", or None when tesseract is absent or unreadable."""
    if not tesseract_available():
        return None
    try:
        proc = subprocess.run(
            ["tesseract", "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    # Older releases print the version on stderr.
    match = re.search(r"tesseract\s+v?(\S+)", proc.stdout + proc.stderr)
    return match.group(1) if match else None


@functools.lru_cache(maxsize=1)
def tesseract_languages() -> frozenset[str]:
    """Installed traineddata names (e.g. {"eng", "fra", "osd"}); empty when tesseract is absent."""
    if not tesseract_available():
        return frozenset()
    proc = subprocess.run(
        ["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30, check=False
    )
    # The first line is a header ("List of available languages in ...").
    lines = (proc.stdout + proc.stderr).splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and " " not in line.strip())


def _resolve_lang(lang: str) -> str:
    """ "auto" means eng+fra when both are installed (the corpora are French), else eng."""
    if lang != "auto":
        return lang
    installed = tesseract_languages()
    return "eng+fra" if {"eng", "fra"} <= installed else "eng"


def _tesseract_one(path: Path, lang: str, psm: int, timeout: float) -> str:
    # One OpenMP thread per process: the pool already runs several, and the CPU is shared.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    cmd = ["tesseract", str(path), "stdout", "--psm", str(psm), "-l", lang]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        # Scored as an empty line (all deletions) rather than losing the whole benchmark run.
        warnings.warn(f"tesseract timed out after {timeout}s on {path}", stacklevel=2)
        return ""
    if proc.returncode != 0:
        # A failing exit is a setup problem (missing traineddata, unreadable image): say so.
        raise RuntimeError(
            f"tesseract failed on {path} (exit {proc.returncode}): {proc.stderr.strip()}"
        )
    return _single_line(proc.stdout)


def tesseract_read_lines(
    paths: Sequence[Path],
    lang: str = "eng",
    psm: int = 7,
    *,
    workers: int = 2,
    timeout: float = 60.0,
) -> list[str]:
    """Recognise each line image with `tesseract IMG stdout --psm PSM -l LANG`.

    psm 7 tells tesseract the image is a single text line, which is what textrec's line stems
    are. lang="auto" picks eng+fra when both are installed. A small thread pool (2 processes by
    default) overlaps process start-up without hogging a shared CPU. An image that takes longer
    than `timeout` seconds yields "" with a warning; a tesseract error raises RuntimeError.
    """
    if not tesseract_available():
        raise RuntimeError(f"tesseract is not installed: {TESSERACT_INSTALL_HINT}")
    resolved = _resolve_lang(lang)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda p: _tesseract_one(Path(p), resolved, psm, timeout), paths))


def rapidocr_available() -> bool:
    """True when the optional `rapidocr` package is importable (not a textrec dependency)."""
    return importlib.util.find_spec("rapidocr") is not None


def _rapidocr_texts(result: Any) -> list[str]:
    """Texts from a RapidOCR result: `RapidOCROutput.txts` (rapidocr>=2) or the older
    `(list of [box, text, score], elapsed)` tuple."""
    txts = getattr(result, "txts", None)
    if txts is not None:
        return [str(t) for t in txts]
    if isinstance(result, tuple) and result and result[0]:
        return [str(item[1]) for item in result[0]]
    return []


def rapidocr_read_lines(paths: Sequence[Path]) -> list[str]:
    """Recognise each line image with RapidOCR (detection + recognition), boxes joined by spaces.

    The engine is built once and run sequentially: it is multi-threaded itself.
    """
    if not rapidocr_available():
        raise RuntimeError("rapidocr is not installed (optional: pip install rapidocr onnxruntime)")
    from rapidocr import RapidOCR

    engine = RapidOCR()
    return [_single_line(" ".join(_rapidocr_texts(engine(str(p))))) for p in paths]
