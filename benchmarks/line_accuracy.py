"""Line recognition accuracy: textrec (greedy, beam) vs Tesseract 5 on the same lines, one table.

Test sets: synthetic handwriting (test split: held-out fonts, 300 lines unless --limit), and the
`val` splits of the copiste and htr_united real-line folders under --shared. textrec reads the
stemmed lines exactly as `textrec evaluate` does; Tesseract (`--psm 7`, eng+fra when installed)
reads the original image files of the real sets and, for synthetic lines, the stems written as
dark-on-light PNGs (with a white margin, which Tesseract needs). References and hypotheses are
both passed through `normalize_text` before scoring; CER/WER are corpus-level.

Run from the repository root (the shared data stays where it is; nothing is copied):

    python benchmarks/line_accuracy.py                       # bundled line model, all val lines
    python benchmarks/line_accuracy.py --model runs/crnn --limit 200 --no-tesseract

A rich table goes to stderr; the JSON result is written to --output
(benchmarks/results/line_accuracy.json) and is also the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from textrec_cli import settings  # noqa: E402
from textrec_cli.data.charsets import LINE_CHARSET, normalize_text, unknown_chars  # noqa: E402
from textrec_cli.data.real_lines import read_labels  # noqa: E402
from textrec_cli.errors import InputError, TextrecError  # noqa: E402
from textrec_cli.evaluation.line_eval import line_pairs  # noqa: E402
from textrec_cli.evaluation.text_metrics import line_report  # noqa: E402
from textrec_cli.fileio import write_json  # noqa: E402
from textrec_cli.inference.line_reader import LineReader  # noqa: E402
from textrec_cli.inference.recognizer import load_reader  # noqa: E402
from textrec_cli.progress import stderr_console  # noqa: E402

# benchmarks/ is a script folder, not a package: engines.py sits beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from engines import (  # noqa: E402
    tesseract_available,
    tesseract_languages,
    tesseract_read_lines,
    tesseract_version,
)

SYNTHETIC_DEFAULT_LIMIT = 300
REAL_SETS = ("copiste", "htr_united")
BEAM_WIDTH = 16
TESSERACT_PSM = 7
TESSERACT_MARGIN = 10  # px of white around synthetic stems: Tesseract misreads ink at the edge


def real_line_files(folder: Path, split: str) -> list[tuple[Path, str]]:
    """(original image path, normalised reference) of `split`, filtered and ordered as
    `real_lines.load` does: empty texts and texts with characters outside LINE_CHARSET are
    skipped (unreadable images are handled by `check_same_lines`)."""
    charset = set(LINE_CHARSET)
    pairs = []
    for row in read_labels(folder):
        text = normalize_text(row["text"])
        if not text or unknown_chars(text, charset):
            continue
        if (row.get("split") or "train").strip() == split:
            pairs.append((folder / row["file"], text))
    return pairs


def check_same_lines(files: list[tuple[Path, str]], texts: list[str], name: str) -> list[Path]:
    """The files that match line_pairs' texts one to one, or a loud error if they do not."""
    if len(files) != len(texts):
        # real_lines also drops images it cannot read: replicate that before giving up.
        from textrec_cli.inference.image_io import load_image

        readable = []
        for path, text in files:
            try:
                load_image(path)
            except InputError:
                continue
            readable.append((path, text))
        files = readable
    if len(files) != len(texts):
        raise TextrecError(
            f"{name}: labels.tsv gives {len(files)} usable lines but line_pairs gave "
            f"{len(texts)}; Tesseract and textrec would not read the same lines"
        )
    mismatch = [
        i for i, ((_, ref), text) in enumerate(zip(files, texts, strict=True)) if ref != text
    ]
    if mismatch:
        raise TextrecError(
            f"{name}: {len(mismatch)} references differ from line_pairs' (first at line "
            f"{mismatch[0]}: {files[mismatch[0]][1]!r} vs {texts[mismatch[0]]!r})"
        )
    return [path for path, _ in files]


def score(refs: list[str], hyps: list[str], seconds: float, files: list[str]) -> dict[str, Any]:
    report = line_report(refs, [normalize_text(h) for h in hyps], files=files, worst=5)
    return {
        "cer": report["cer"],
        "wer": report["wer"],
        "lines": report["lines"],
        "chars": report["chars"],
        "exact_match": report["exact_match"],
        "ms_per_line": round(1000 * seconds / max(len(refs), 1), 2),
        "worst": report["worst"],
    }


def timed(fn: Callable[[], list[str]]) -> tuple[list[str], float]:
    started = time.perf_counter()
    hyps = fn()
    return hyps, time.perf_counter() - started


def run_textrec(
    reader: LineReader, stems: list[np.ndarray], beam_width: int
) -> tuple[list[str], float]:
    reader.beam_width = beam_width
    reader.read_stems(stems[:8])  # warm-up: graph tracing is not per-line cost
    decoded, seconds = timed(lambda: [text for text, _ in reader.read_stems(stems)])
    reader.beam_width = 0
    return decoded, seconds


def write_stems(stems: list[np.ndarray], folder: Path) -> list[Path]:
    """Stems as dark-on-light PNGs with a white margin, the input Tesseract expects."""
    paths = []
    for i, stem in enumerate(stems):
        image = ImageOps.expand(Image.fromarray(255 - stem), TESSERACT_MARGIN, fill=255)
        paths.append(folder / f"{i:05d}.png")
        image.save(paths[-1])
    return paths


def load_test_sets(
    args: argparse.Namespace, height: int
) -> dict[str, tuple[list[np.ndarray], list[str], list[Path] | None]]:
    """name -> (stems, normalised refs, original files for Tesseract or None for synthetic)."""
    sets: dict[str, tuple[list[np.ndarray], list[str], list[Path] | None]] = {}
    stems, refs = line_pairs(
        "synthetic_handwriting",
        "test",
        args.data_dir,
        height,
        fonts_dir=args.fonts_dir,
        limit=args.limit or SYNTHETIC_DEFAULT_LIMIT,
    )
    sets["synthetic_handwriting/test"] = (stems, [normalize_text(r) for r in refs], None)
    for name in REAL_SETS:
        folder = args.shared / "data" / name
        # No limit here: the full split is needed to check the file list, then both are cut.
        stems, refs = line_pairs("real_lines", "val", args.data_dir, height, lines_dirs=[folder])
        files = check_same_lines(real_line_files(folder, "val"), refs, name)
        cut = args.limit or len(refs)
        sets[f"{name}/val"] = (stems[:cut], refs[:cut], files[:cut])
    return sets


def print_table(results: dict[str, dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    for column in ("test set", "engine", "lines", "CER", "WER", "exact", "ms/line"):
        table.add_column(column, justify="left" if column in ("test set", "engine") else "right")
    for set_name, engines in results.items():
        for engine, row in engines.items():
            if "cer" not in row:
                table.add_row(set_name, engine, "-", "-", "-", "-", row.get("skipped", "-"))
                continue
            table.add_row(
                set_name,
                engine,
                str(row["lines"]),
                f"{100 * row['cer']:.2f}%",
                f"{100 * row['wer']:.2f}%",
                f"{100 * row['exact_match']:.1f}%",
                f"{row['ms_per_line']:.1f}",
            )
    # A wider console than a pipe's 80 columns, so test-set and engine names are not cut.
    Console(stderr=True, width=max(stderr_console.width, 110)).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=settings.BUNDLED_LINE_MODEL)
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help=f"lines per test set (default: all; synthetic: {SYNTHETIC_DEFAULT_LIMIT})",
    )
    parser.add_argument("--data-dir", type=Path, default=settings.data_dir())
    parser.add_argument("--fonts-dir", type=Path, default=settings.fonts_dir())
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--no-tesseract", action="store_true")
    parser.add_argument("--no-beam", action="store_true", help="skip textrec beam search")
    parser.add_argument("--tesseract-lang", default="auto", help='"auto" = eng+fra if installed')
    parser.add_argument("--tesseract-workers", type=int, default=2)
    parser.add_argument(
        "--output", type=Path, default=Path("benchmarks/results/line_accuracy.json")
    )
    args = parser.parse_args()

    reader = load_reader(args.model)
    if not isinstance(reader, LineReader):
        raise SystemExit(f"{args.model} is not a line model")
    use_tesseract = not args.no_tesseract and tesseract_available()
    tesseract_note = None
    if args.no_tesseract:
        tesseract_note = "--no-tesseract"
    elif not use_tesseract:
        tesseract_note = "tesseract not installed"
    lang = args.tesseract_lang
    if lang == "auto":
        lang = "eng+fra" if {"eng", "fra"} <= tesseract_languages() else "eng"

    sets = load_test_sets(args, reader.height)
    results: dict[str, dict[str, Any]] = {}
    for set_name, (stems, refs, files) in sets.items():
        stderr_console.print(f"[bold]{set_name}[/]: {len(refs)} lines", highlight=False)
        engines: dict[str, Any] = {}
        names = (
            [str(f.relative_to(args.shared)) for f in files]
            if files is not None
            else [f"{set_name}/{i}" for i in range(len(refs))]
        )
        hyps, seconds = run_textrec(reader, stems, 0)
        engines["textrec_greedy"] = score(refs, hyps, seconds, names)
        if not args.no_beam:
            hyps, seconds = run_textrec(reader, stems, BEAM_WIDTH)
            engines[f"textrec_beam{BEAM_WIDTH}"] = score(refs, hyps, seconds, names)
        if use_tesseract:
            with tempfile.TemporaryDirectory(prefix="line_accuracy_") as tmp:
                paths = files if files is not None else write_stems(stems, Path(tmp))
                hyps, seconds = timed(
                    lambda paths=paths: tesseract_read_lines(
                        paths, lang, TESSERACT_PSM, workers=args.tesseract_workers
                    )
                )
            engines["tesseract"] = score(refs, hyps, seconds, names)
        else:
            engines["tesseract"] = {"skipped": tesseract_note}
        results[set_name] = engines

    result = {
        "benchmark": "line_accuracy",
        "model": reader.version,
        "model_path": str(args.model),
        "limit": args.limit,
        "synthetic_limit": args.limit or SYNTHETIC_DEFAULT_LIMIT,
        "beam_width": None if args.no_beam else BEAM_WIDTH,
        "tesseract": {
            "version": tesseract_version() if use_tesseract else None,
            "lang": lang if use_tesseract else None,
            "psm": TESSERACT_PSM,
            "workers": args.tesseract_workers,
            "note": tesseract_note,
        },
        "scoring": "corpus CER/WER after normalize_text on refs and hyps",
        "timing": (
            "wall ms per line; textrec: model + CTC decode on pre-stemmed lines, batched, after a "
            "warm-up; tesseract: one process per image file, `workers` in parallel"
        ),
        "sets": results,
        "machine": {
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "python": platform.python_version(),
            "load_average": [round(v, 2) for v in os.getloadavg()],
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print_table(results, f"line accuracy — model {reader.version}")
    write_json(args.output, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
