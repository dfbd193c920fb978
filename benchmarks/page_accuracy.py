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
- kraken 7 (detection only: its default `blla` baseline segmenter ships in the wheel):
  `kraken -a -d cpu -i PAGE OUT.xml ... segment -bl`, all pages of a collection in one call
  (seconds = that call's wall and CPU time / pages, model load included). It needs PyTorch, so it
  lives in its own venv: `--kraken BIN`, else $TEXTREC_KRAKEN, else `kraken` on PATH, else
  /tmp/kraken_venv/bin/kraken; skipped with a note when none is there. Its line polygons become
  boxes as the ground truth's do (the same ALTO reader). `--kraken-dir DIR` keeps its ALTO and
  timing per collection and reuses them on a rerun (minutes per collection on 2 busy cores).

Timing: `seconds` is wall time, `cpu_seconds` the process's (textrec) or the child's (Tesseract,
kraken) user+system CPU time; on a shared machine the CPU seconds are the fairer comparison.

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
import resource
import shutil
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


KRAKEN_VENV = Path("/tmp/kraken_venv/bin/kraken")


def find_kraken(given: str | None) -> str | None:
    """The kraken executable to run: --kraken, $TEXTREC_KRAKEN, PATH, then the usual venv."""
    if given:
        return given if given != "none" else None
    for candidate in (os.environ.get("TEXTREC_KRAKEN"), shutil.which("kraken"), KRAKEN_VENV):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    return None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def kraken_pages(
    kraken: str, paths: list[Path], keep: Path | None = None
) -> tuple[list[list[PageLine]], dict[str, float]]:
    """kraken's default baseline segmenter on all pages in one call: (lines per page, timing per
    page). With `keep`, its ALTO and timing stay there and a complete earlier run is reused."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(keep) if keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        outputs = [folder / f"{p.stem}.xml" for p in paths]
        timing_file = folder / "timing.json"
        if not (timing_file.is_file() and all(o.is_file() for o in outputs)):
            cmd = [kraken, "-a", "-d", "cpu"]
            for src, dst in zip(paths, outputs, strict=True):
                cmd += ["-i", str(Path(src).resolve()), str(dst)]
            cpu, started = _children_cpu(), time.perf_counter()
            subprocess.run(cmd + ["segment", "-bl"], check=True, capture_output=True, timeout=7200)
            n = max(len(paths), 1)
            write_json(timing_file, {"pages": len(paths),
                                     "seconds": (time.perf_counter() - started) / n,
                                     "cpu_seconds": (_children_cpu() - cpu) / n})  # fmt: skip
        timing = json.loads(timing_file.read_text())
        return [read_page_file(p).lines for p in outputs], timing


def run_engines(
    name: str,
    samples: list,
    reader: PageReader,
    args: argparse.Namespace,
    notes: dict[str, str],
) -> dict[str, list[dict[str, Any]]]:
    """Per-page records of each engine on one collection's pages."""
    records: dict[str, list[dict[str, Any]]] = {"textrec": []}
    with progress_bar("textrec", len(samples)) as advance:
        for sample in samples:
            image = load_image(sample.image_path)
            cpu, started = time.process_time(), time.perf_counter()
            lines = reader.read_page(image)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            records["textrec"].append({"seconds": seconds, "cpu_seconds": cpu,
                                       **page_scores(sample.page.lines, lines)})  # fmt: skip
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
                cpu, started = _children_cpu(), time.perf_counter()
                lines = tesseract_page(sample.image_path, lang)
                seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
                records["tesseract"].append({"seconds": seconds, "cpu_seconds": cpu,
                                             **page_scores(sample.page.lines, lines)})  # fmt: skip
                advance(1)
    kraken = find_kraken(args.kraken)
    if kraken:
        stderr_console.print(f"{name}: kraken segment -bl (all pages, one call) ...")
        keep = args.kraken_dir / name if args.kraken_dir else None
        found, timing = kraken_pages(kraken, [s.image_path for s in samples], keep)
        records["kraken_blla"] = [
            {"seconds": timing["seconds"], "cpu_seconds": timing.get("cpu_seconds"),
             **page_scores(s.page.lines, lines)}
            for s, lines in zip(samples, found, strict=True)
        ]  # fmt: skip
        notes["kraken_blla"] = f"{kraken_version(kraken)} default blla segmenter (detection only)"
    else:
        notes["kraken"] = "skipped: --kraken none" if args.kraken == "none" else (
            "skipped: no kraken executable (--kraken BIN, $TEXTREC_KRAKEN, PATH or "
            f"{KRAKEN_VENV}; it needs its own venv with PyTorch)")  # fmt: skip
        stderr_console.print(f"[yellow]{notes['kraken']}[/]")
    return records


def kraken_version(kraken: str) -> str:
    """'kraken, version 7.1.1' as the binary says it, or 'kraken' when it does not answer."""
    try:
        proc = subprocess.run([kraken, "--version"], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return "kraken"
    return proc.stdout.strip() or "kraken"


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
    parser.add_argument(
        "--kraken", default=None, help="a kraken executable (its own venv); 'none' skips kraken"
    )
    parser.add_argument(
        "--kraken-dir",
        type=Path,
        default=None,
        help="keep kraken's ALTO + timing here per collection; reuse them",
    )
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
        name = folder.name if folder.name != "pages" else folder.parent.name
        samples = real_pages.load(folder, args.split)[: args.limit]
        records = run_engines(name, samples, reader, args, notes)
        for engine, rows in records.items():
            together.setdefault(engine, []).extend(rows)
        collections[name] = {
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
                   "page CER", "s/page", "CPU s/page"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("collection", "engine") else "right")
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    for name, collection in collections.items():
        for engine, row in collection["engines"].items():
            table.add_row(name, engine, fmt(row["precision"]), fmt(row["recall"]),
                          fmt(row["f1"]), fmt(row["line_cer"]), fmt(row["page_cer"]),
                          f"{row['seconds_per_page']:.2f}",
                          fmt(row.get("cpu_seconds_per_page")))  # fmt: skip
    Console(stderr=True).print(table)
    write_json(args.output, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
