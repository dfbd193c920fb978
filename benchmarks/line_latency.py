"""Per-line latency and accuracy of every registered line model, on real validation lines.

For each architecture in `textrec_cli.models.LINE_MODELS` it reads the `val` lines of
../shared/data/copiste and ../shared/data/htr_united (sorted by width, batches of --batch lines,
as `predict` and the server batch them) and reports, per runtime:

- keras: the Keras model's compiled predict function (TensorFlow graph), greedy CTC decoding;
- litert: the exported LiteRT flatbuffer in the serving runtime (`textrec_cli.serving`), the path
  the REST API and the Lambda function use.

ms/line = wall time of one batch (stacking, forward pass, decoding) / lines in it; p50 and p95
are over batches, after one untimed warm-up pass over the same batches (so compiled shapes are
cached, as in a server). CER is on every line of each split. A model with no trained weights
(no `--model NAME=PATH` and not bundled) is timed with random weights and its CER is reported as
null. The machine's CPU count and load average go into the JSON, since other jobs skew timings.

    python benchmarks/line_latency.py --model line_tcn=runs/line_tcn \\
        --output benchmarks/results/line_latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TEXTREC_LITERT_THREADS", str(os.cpu_count() or 1))  # batched, all cores

import numpy as np  # noqa: E402
from rich.table import Table  # noqa: E402

from textrec_cli import settings  # noqa: E402
from textrec_cli.fileio import write_json  # noqa: E402
from textrec_cli.progress import stderr_console  # noqa: E402

SPLITS = {"copiste": "../shared/data/copiste", "htr_united": "../shared/data/htr_united"}
HEIGHT = 40
ReadFn = Callable[[list[np.ndarray]], list[tuple[str, float]]]


def bundled_line_models() -> dict[str, Path]:
    """Architecture name -> bundled trained model folder, from each bundle's metadata."""
    found = {}
    for folder in sorted((settings.ASSETS_DIR / "models").iterdir()):
        meta = folder / "metadata.json"
        if meta.is_file():
            data = json.loads(meta.read_text())
            if data.get("task") == "line":
                found.setdefault(data["model"], folder)
    return found


def load_saved(name: str, path: Path | None) -> Any:
    """The trained model at `path`, or the architecture with random weights."""
    from textrec_cli.data.charsets import LINE_CHARSET
    from textrec_cli.models import build_model
    from textrec_cli.models.store import SavedModel, load_model

    if path is not None:
        return load_model(path)
    model = build_model(name, (HEIGHT, None, 1), len(LINE_CHARSET))
    metadata = {
        "task": "line", "model": name, "charset": LINE_CHARSET, "version": f"{name}-untrained",
        "input_shape": [HEIGHT, None, 1], "preprocessing": "textrec_cli.stems.line.line_stem",
    }  # fmt: skip
    return SavedModel(model, metadata, Path(tempfile.mkdtemp()))


def keras_reader(saved: Any, batch: int) -> ReadFn:
    from textrec_cli.inference.line_reader import LineReader

    return LineReader(saved, batch_size=batch).read_stems


def litert_reader(saved: Any, batch: int, workdir: Path) -> ReadFn:
    """Export to LiteRT, then read through the serving runtime (no TensorFlow on that path)."""
    from textrec_cli.serving.export import export_model
    from textrec_cli.serving.runtime import load_exported

    if not (saved.path / "model.keras").is_file():
        saved.model.save(saved.path / "model.keras")
        write_json(saved.path / "metadata.json", saved.metadata)
    exported = export_model(saved.path, workdir / saved.metadata["model"])
    return load_exported(exported).read_stems


def time_batches(
    read: ReadFn, stems: list[np.ndarray], batch: int
) -> tuple[list[str], list[float]]:
    """Hypotheses in input order and per-line milliseconds of each width-sorted batch."""
    order = np.argsort([s.shape[1] for s in stems], kind="stable")
    chunks = [order[i : i + batch] for i in range(0, len(order), batch)]
    for chunk in chunks:  # warm-up: compile/trace every batch shape once
        read([stems[i] for i in chunk])
    hyps: list[str] = [""] * len(stems)
    per_line_ms = []
    for chunk in chunks:
        started = time.perf_counter()
        results = read([stems[i] for i in chunk])
        per_line_ms.append(1000 * (time.perf_counter() - started) / len(chunk))
        for i, (text, _) in zip(chunk, results, strict=True):
            hyps[i] = text
    return hyps, per_line_ms


def measure(
    name: str,
    path: Path | None,
    data: dict[str, tuple[list[np.ndarray], list[str]]],
    runtimes: Sequence[str],
    batch: int,
    workdir: Path,
) -> dict[str, Any]:
    from textrec_cli.evaluation.text_metrics import cer

    saved = load_saved(name, path)
    row: dict[str, Any] = {
        "model": name, "trained": path is not None, "path": str(path) if path else None,
        "version": saved.version, "params": int(saved.model.count_params()), "runtimes": {},
    }  # fmt: skip
    for runtime in runtimes:
        read = (
            keras_reader(saved, batch)
            if runtime == "keras"
            else litert_reader(saved, batch, workdir)
        )
        timings: list[float] = []
        cers = {}
        for split, (stems, texts) in data.items():
            hyps, ms = time_batches(read, stems, batch)
            timings += ms
            cers[split] = round(cer(texts, hyps), 4) if path is not None else None
        row["runtimes"][runtime] = {
            "p50_ms_per_line": round(float(np.percentile(timings, 50)), 2),
            "p95_ms_per_line": round(float(np.percentile(timings, 95)), 2),
            "lines_per_second": round(1000 / float(np.mean(timings)), 1),
            "cer": cers,
        }
    return row


def load_splits(data_dir: Path, limit: int | None) -> dict[str, tuple[list[np.ndarray], list[str]]]:
    from textrec_cli.data.line_sources import load_line_split

    data = {}
    for split, folder in SPLITS.items():
        stems, texts = load_line_split("real_lines", "val", data_dir, HEIGHT, [folder])
        data[split] = (list(stems)[:limit], list(texts)[:limit])
    return data


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from textrec_cli.models import LINE_MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH trained model")
    parser.add_argument("--runtimes", default="keras,litert")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--limit", type=int, default=None, help="lines per split (default all)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/line_latency.json"))
    args = parser.parse_args(argv)

    trained = bundled_line_models()
    for item in args.model:
        key, _, value = item.partition("=")
        trained[key] = Path(value)
    runtimes = [r for r in args.runtimes.split(",") if r]
    load_before = os.getloadavg()
    data = load_splits(args.data_dir or settings.data_dir(), args.limit)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(LINE_MODELS):
            stderr_console.print(f"timing {name} …")
            rows.append(measure(name, trained.get(name), data, runtimes, args.batch, Path(tmp)))
    result = {
        "benchmark": "line_latency",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "batch": args.batch, "height": HEIGHT,
        "lines": {split: len(texts) for split, (_, texts) in data.items()},
        "budget_ms_per_line_p50": 10.0, "models": rows,
    }  # fmt: skip
    write_json(args.output, result)
    table = Table(title=f"line latency, batch {args.batch}, {os.cpu_count()} CPUs")
    for column in ("model", "params", "runtime", "p50 ms", "p95 ms", *data):
        table.add_column(column, justify="left" if column in ("model", "runtime") else "right")
    for row in rows:
        for runtime, stats in row["runtimes"].items():
            cer_cells = ["untrained" if v is None else f"{v:.3f}" for v in stats["cer"].values()]
            table.add_row(
                row["model"], f"{row['params']:,}", runtime, f"{stats['p50_ms_per_line']:.1f}",
                f"{stats['p95_ms_per_line']:.1f}", *cer_cells,
            )  # fmt: skip
    stderr_console.print(table)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
