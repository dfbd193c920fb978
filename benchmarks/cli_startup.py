"""What a user waits for: `textrec predict` as a fresh process, against Tesseract's loop.

Cases (each `textrec predict ... --json` started from scratch, --repeats times, median wall):
- line: docs/examples/line_ms.png (targets: <= 0.5 s wall, <= 250 MB peak RSS);
- line_plain: the same line as a user types it, `textrec predict LINE --mode line` (text
  output, not JSON); the line targets count for the slower of the two;
- page: a real val page of ../shared/data/copiste/pages (target: <= 1 s);
- lines: --lines val line crops of ../shared/data/copiste in ONE call, against Tesseract reading
  the same files one process each (`tesseract IMG stdout --psm 7`, how Tesseract reads a line
  image), in the same run (target: >= 10x faster);
- line_keras: the one line through the Keras path (the same model folder without its LiteRT
  form): what `predict` cost before LiteRT.
Peak RSS is the child's own (`os.wait4` rusage), as is its CPU time (user + sys: on a busy
machine, the part of the wall time that is this process's own work). Every textrec run must
leave stderr empty (no TensorFlow/absl/CUDA lines); the JSON records the bytes it wrote there.

    python benchmarks/cli_startup.py [--repeats 5] [--lines 200] [--cases line,line_plain,...]

Writes benchmarks/results/cli_startup.json.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from textrec_cli.fileio import sha256_file, write_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
LINES = SHARED / "data" / "copiste"
PAGES = LINES / "pages"
LINE_IMAGE = ROOT / "docs" / "examples" / "line_ms.png"
TARGETS = {"line_wall_s": 0.5, "line_rss_mb": 250, "page_wall_s": 1.0, "lines_speedup": 10.0}
CASES = ("line", "line_plain", "page", "lines", "line_keras", "tesseract")


def run_child(command: list[str]) -> dict[str, Any]:
    """Run `command` to its end: wall and CPU seconds, the child's peak RSS (MB), its output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if child.returncode != 0:
        raise SystemExit(
            f"{' '.join(command[:4])} ... failed ({child.returncode}): {stderr[-800:]}"
        )
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "rss_mb": usage.ru_maxrss / 1024, "stdout": stdout,
            "stderr": stderr}  # fmt: skip


def textrec_command() -> list[str]:
    """The installed `textrec` console script (what a user runs), else `python -m`."""
    script = Path(sys.executable).parent / "textrec"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "textrec_cli.cli"]


def timed(command: list[str], repeats: int) -> dict[str, Any]:
    runs = [run_child(command) for _ in range(repeats)]
    return {
        "wall_s": round(statistics.median(r["wall_s"] for r in runs), 3),
        "wall_s_runs": [round(r["wall_s"], 3) for r in runs],
        "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
        "cpu_s_runs": [round(r["cpu_s"], 3) for r in runs],
        "peak_rss_mb": round(max(r["rss_mb"] for r in runs), 1),
        "stderr_bytes": max(len(r["stderr"]) for r in runs),
        "stderr_sample": runs[0]["stderr"][:300],
        "outputs": len(runs[0]["stdout"].splitlines()),
    }


def val_lines(count: int) -> list[Path]:
    with open(LINES / "labels.tsv", encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["split"] == "val"]
    return [LINES / r["file"] for r in rows[:count]]


def val_page() -> Path:
    with open(PAGES / "pages.tsv", encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t") if r["split"] == "val"]
    return PAGES / rows[0]["image"]


def bundle_versions() -> dict[str, str]:
    """The bundled models measured: metadata "version" and the start of the weights' sha256 (a
    re-promoted line model can keep its version string)."""
    from textrec_cli import settings

    folders = {"char": settings.BUNDLED_CHAR_MODEL, "line": settings.BUNDLED_LINE_MODEL,
               "page": settings.BUNDLED_DETECTOR}  # fmt: skip
    versions = {}
    for mode, folder in folders.items():
        meta = json.loads((folder / "metadata.json").read_text())
        versions[mode] = f"{meta.get('version', '?')} {sha256_file(folder / 'model.keras')[:12]}"
    return versions


def keras_only_copy(folder: Path) -> Path:
    """The bundled line model without its litert/ form: `predict --model` then takes Keras."""
    target = Path(tempfile.mkdtemp(prefix="textrec-keras-")) / folder.name
    target.mkdir()
    for name in ("model.keras", "metadata.json"):
        shutil.copyfile(folder / name, target / name)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/cli_startup.json")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated subset")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    if cases - set(CASES):
        parser.error(f"--cases: unknown {sorted(cases - set(CASES))}; choose from {CASES}")
    from textrec_cli import settings
    from textrec_cli.serving.lite_recognizer import predict_threads

    predict = [*textrec_command(), "predict", "--json"]
    lines, page = val_lines(args.lines), val_page()
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    if "line" in cases:
        results["line"] = timed([*predict, str(LINE_IMAGE)], args.repeats)
    if "line_plain" in cases:
        plain = [*textrec_command(), "predict", str(LINE_IMAGE), "--mode", "line"]
        results["line_plain"] = timed(plain, args.repeats)
    if "page" in cases:
        results["page"] = timed([*predict, str(page)], args.repeats)
    if "lines" in cases:
        results["lines"] = timed([*predict, *map(str, lines)], max(1, args.repeats // 2))
    if "line_keras" in cases:
        keras_model = keras_only_copy(settings.BUNDLED_LINE_MODEL)
        results["line_keras"] = timed([*predict, "--model", str(keras_model), str(LINE_IMAGE)], 1)
        shutil.rmtree(keras_model.parent)
    tesseract = None
    if "tesseract" in cases and shutil.which("tesseract"):
        started = time.perf_counter()
        for path in lines:
            run_child(["tesseract", str(path), "stdout", "--psm", "7"])
        tesseract = {"lines": len(lines), "wall_s": round(time.perf_counter() - started, 3)}
        one = timed(["tesseract", str(LINE_IMAGE), "stdout", "--psm", "7"], args.repeats)
        tesseract |= {"line_wall_s": one["wall_s"], "line_cpu_s": one["cpu_s"],
                      "line_rss_mb": one["peak_rss_mb"]}  # fmt: skip
    speedup = (
        tesseract["wall_s"] / results["lines"]["wall_s"]
        if tesseract and "lines" in results
        else None
    )
    line_cases = [results[k] for k in ("line", "line_plain") if k in results]
    met = {
        "line_wall_s": bool(line_cases)
        and max(c["wall_s"] for c in line_cases) <= TARGETS["line_wall_s"],
        "line_rss_mb": bool(line_cases)
        and max(c["peak_rss_mb"] for c in line_cases) <= TARGETS["line_rss_mb"],
        "page_wall_s": "page" in results and results["page"]["wall_s"] <= TARGETS["page_wall_s"],
        "lines_speedup": speedup is not None and speedup >= TARGETS["lines_speedup"],
        "stderr_empty": all(
            results[k]["stderr_bytes"] == 0 for k in ("line", "line_plain", "page", "lines")
            if k in results
        ),
    }  # fmt: skip
    report = {
        "benchmark": "cli_startup",
        "cases": results,
        "inputs": {
            "cases": sorted(results),
            "line": str(LINE_IMAGE.relative_to(ROOT)),
            "page": str(page),
            "lines": f"{len(lines)} val lines of {LINES}",
        },  # fmt: skip
        "tesseract": tesseract,
        "lines_speedup_vs_tesseract": round(speedup, 1) if speedup else None,
        "targets": TARGETS,
        "bundle": bundle_versions(),
        "met": met,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "typer": importlib.metadata.version("typer"),  # 0.29 validates options with pydantic
            "litert_threads": predict_threads(),  # per interpreter, $TEXTREC_LITERT_THREADS
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },  # fmt: skip
        "command": "python benchmarks/cli_startup.py " + " ".join(sys.argv[1:]),
    }
    write_json(args.output, report)
    brief = {k: (v["wall_s"], v["cpu_s"], v["peak_rss_mb"]) for k, v in results.items()}
    print(f"(wall s, cpu s, MB) {brief}; tesseract {tesseract}; "
          f"lines {speedup and round(speedup, 1)}x; met {met}")  # fmt: skip


if __name__ == "__main__":
    main()
