"""Page reading on real pages: textrec vs Tesseract (and kraken's segmenter), one table.

On the `val` pages of each page collection (default: ../shared/data/copiste/pages, 33 pages, and
../shared/data/pages_more, 15 pages of 18th-c. manuscripts with margins and scanner bed; ALTO
ground truth), separately and together: detection precision/recall/F1 at box IoU 0.5,
line-matched CER and seconds per page, all scored by `textrec_cli.evaluation.page_eval` (the
same code as `textrec evaluate --dataset real_pages`).

- textrec: the bundled (or --model) line detector + the bundled line model, one detector pass
  and one batch of lines per page; the model is warmed up before timing.
- Tesseract 5: `tesseract PAGE stdout --psm 3 -l eng+fra tsv`; its level-4 (line) boxes and the
  words of each line. One process per page (model load included in its seconds, as a user would
  run it).
- kraken (detection only: its default `blla` baseline segmenter ships in the wheel): run when
  `--kraken BIN` points at a `kraken` executable (it needs PyTorch, so it lives in its own venv);
  all pages in one call, seconds = that call's wall time / pages.

Printed consent headers are not in the ground truth, so an engine that finds them (Tesseract,
kraken) pays for them in precision: a reader is not asked for them.

    python benchmarks/page_accuracy.py                 # bundled models, all val pages
    python benchmarks/page_accuracy.py --limit 5 --no-tesseract
    python benchmarks/page_accuracy.py --pages ../shared/data/pages_more

A rich table goes to stderr; the JSON result goes to --output
(benchmarks/results/page_accuracy.json) and is the last line of stdout.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from PIL import Image  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from textrec_cli import settings  # noqa: E402
from textrec_cli.data import real_pages  # noqa: E402
from textrec_cli.data.page_xml import PageLine, read_page_file  # noqa: E402
from textrec_cli.evaluation.page_eval import page_scores, summarize  # noqa: E402
from textrec_cli.fileio import write_json  # noqa: E402
from textrec_cli.image_io import load_image  # noqa: E402
from textrec_cli.inference.page_reader import PageReader  # noqa: E402
from textrec_cli.inference.recognizer import load_reader  # noqa: E402
from textrec_cli.progress import progress_bar, stderr_console  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engines import tesseract_available, tesseract_languages, tesseract_version  # noqa: E402


def tesseract_page(path: Path, lang: str, timeout: float = 300) -> list[PageLine]:
    """Tesseract's own line boxes (TSV level 4) with the words of each line (level 5)."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    proc = subprocess.run(
        ["tesseract", str(path), "stdout", "--psm", "3", "-l", lang, "tsv"],
        capture_output=True, text=True, timeout=timeout, env=env, check=True,
    )  # fmt: skip
    rows = csv.DictReader(io.StringIO(proc.stdout), delimiter="\t", quoting=csv.QUOTE_NONE)
    lines: dict[tuple, PageLine] = {}
    words: dict[tuple, list[str]] = {}
    for row in rows:
        key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
        x, y, w, h = (int(row[k]) for k in ("left", "top", "width", "height"))
        if row["level"] == "4":
            lines[key] = PageLine([(x, y), (x + w, y), (x + w, y + h), (x, y + h)])
        elif row["level"] == "5" and (row.get("text") or "").strip():
            words.setdefault(key, []).append(row["text"].strip())
    for key, line in lines.items():
        line.text = " ".join(words.get(key, []))
    return [line for line in lines.values() if line.text]


def kraken_pages(kraken: str, paths: list[Path]) -> tuple[list[list[PageLine]], float]:
    """kraken's default baseline segmenter on all pages in one call; (lines per page, s/page)."""
    with tempfile.TemporaryDirectory() as tmp:
        outputs = [Path(tmp) / f"{i}.xml" for i in range(len(paths))]
        cmd = [kraken, "-a"]
        for src, dst in zip(paths, outputs, strict=True):
            cmd += ["-i", str(src), str(dst)]
        started = time.perf_counter()
        subprocess.run(cmd + ["segment", "-bl"], check=True, capture_output=True, timeout=7200)
        seconds = (time.perf_counter() - started) / max(len(paths), 1)
        return [read_page_file(p).lines for p in outputs], seconds


def run_engines(
    samples: list, reader: PageReader, args: argparse.Namespace, notes: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Per-page records of each engine on one collection's pages."""
    records: dict[str, list[dict[str, Any]]] = {"textrec": []}
    with progress_bar("textrec", len(samples)) as advance:
        for sample in samples:
            image = load_image(sample.image_path)
            started = time.perf_counter()
            lines = reader.read_page(image)
            seconds = time.perf_counter() - started
            records["textrec"].append({"seconds": seconds, **page_scores(sample.page.lines, lines)})
            advance(1)
    if args.no_tesseract or not tesseract_available():
        notes["tesseract"] = "--no-tesseract" if args.no_tesseract else "tesseract not installed"
    else:
        lang = args.tesseract_lang
        if lang == "auto":
            lang = "eng+fra" if {"eng", "fra"} <= tesseract_languages() else "eng"
        notes["tesseract"] = f"{tesseract_version()} -l {lang} --psm 3"
        records["tesseract"] = []
        with progress_bar("tesseract --psm 3", len(samples)) as advance:
            for sample in samples:
                started = time.perf_counter()
                lines = tesseract_page(sample.image_path, lang)
                seconds = time.perf_counter() - started
                records["tesseract"].append(
                    {"seconds": seconds, **page_scores(sample.page.lines, lines)}
                )
                advance(1)
    if args.kraken:
        stderr_console.print("kraken segment -bl (all pages, one call) ...")
        found, seconds = kraken_pages(args.kraken, [s.image_path for s in samples])
        records["kraken_blla"] = [{"seconds": seconds, **page_scores(s.page.lines, lines)}
                                  for s, lines in zip(samples, found, strict=True)]  # fmt: skip
        notes["kraken_blla"] = "kraken default blla segmenter (detection only, no text)"
    else:
        notes["kraken"] = "not run (--kraken BIN not given)"
    return records


def summary_of(records: list[dict[str, Any]], engine: str) -> dict[str, Any]:
    summary = summarize(records)
    if engine == "kraken_blla":
        summary["line_cer"] = summary["page_cer"] = None  # segmentation only: no text
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=settings.BUNDLED_DETECTOR)
    parser.add_argument("--pages", type=Path, action="append", default=None,
                        help="a page collection (repeatable; default: the shared Copiste pages "
                        "and pages_more); scored separately and together")  # fmt: skip
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=None, help="pages per collection")
    parser.add_argument("--no-tesseract", action="store_true")
    parser.add_argument("--tesseract-lang", default="auto")
    parser.add_argument("--kraken", default=None, help="a kraken executable (its own venv)")
    parser.add_argument(
        "--output", type=Path, default=Path("benchmarks/results/page_accuracy.json")
    )
    args = parser.parse_args()
    folders = args.pages or [Path("../shared/data/copiste/pages"),
                             Path("../shared/data/pages_more")]  # fmt: skip

    reader = load_reader(args.model)
    if not isinstance(reader, PageReader):
        raise SystemExit(f"{args.model} is not a line detector")
    reader.read_page(Image.new("L", (1000, 1400), 255))  # compile outside the timing
    notes: dict[str, str] = {}
    collections: dict[str, dict[str, Any]] = {}
    together: dict[str, list[dict[str, Any]]] = {}
    for folder in folders:
        samples = real_pages.load(folder, args.split)[: args.limit]
        records = run_engines(samples, reader, args, notes)
        for engine, rows in records.items():
            together.setdefault(engine, []).extend(rows)
        collections[folder.name if folder.name != "pages" else folder.parent.name] = {
            "pages_dir": str(folder), "pages": len(samples),
            "true_lines": sum(len(s.page.lines) for s in samples),
            "engines": {e: summary_of(r, e) for e, r in records.items()},
        }  # fmt: skip
    if len(folders) > 1:
        collections["all"] = {
            "pages": sum(c["pages"] for c in collections.values()),
            "true_lines": sum(c["true_lines"] for c in collections.values()),
            "engines": {e: summary_of(r, e) for e, r in together.items()},
        }
    result = {
        "benchmark": "page_accuracy",
        "split": args.split,
        "textrec_version": reader.version,
        "detection_iou": 0.5,
        "collections": collections,
        "notes": notes,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg": Path("/proc/loadavg").read_text().split()[:3]
                    if Path("/proc/loadavg").is_file() else None},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    table = Table(title=f"page reading, {args.split} pages")
    for column in ("collection", "engine", "precision", "recall", "F1 @IoU.5", "line CER",
                   "page CER", "s/page"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("collection", "engine") else "right")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    for name, collection in collections.items():
        for engine, row in collection["engines"].items():
            table.add_row(name, engine, fmt(row["precision"]), fmt(row["recall"]),
                          fmt(row["f1"]), fmt(row["line_cer"]), fmt(row["page_cer"]),
                          f"{row['seconds_per_page']:.2f}")  # fmt: skip
    Console(stderr=True).print(table)
    write_json(args.output, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
