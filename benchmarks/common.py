"""What every benchmark shares: paths, the machine block, one timing loop, the result file.

benchmarks/ is a folder of scripts, not a package: `python benchmarks/X.py` puts this folder first
on sys.path, so a script says `from common import ...`. Nothing here imports TensorFlow, so the
serving benchmarks (LiteRT only, one gevent-patched) can use it too.

A run looks like:

    args = argument_parser("name", __doc__).parse_args()
    run = Run("name", args.output, args.note)          # load average and clock taken now
    ...
    results, seconds = time_each(fn, items)             # the one timing loop
    run.finish({"rows": ..., "latency": latency(seconds, items=32)})

Every result then carries `benchmark`, `command`, `created`, `seconds` and a `machine` block
(CPUs, platform, load average before and after, niceness, a free-text note): timings on a
shared 2-core box mean little without the load beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from textrec_cli.fileio import write_json
from textrec_cli.stems.line import HEIGHT as LINE_HEIGHT

__all__ = [
    "LINE_HEIGHT",
    "REAL_LINE_DIRS",
    "RESULTS",
    "ROOT",
    "SHARED",
    "Run",
    "argument_parser",
    "bundled_export_dirs",
    "free_port",
    "latency",
    "load_average",
    "result_path",
    "rss_mb",
    "time_each",
]

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"  # the shared data, read where it is (never copied into the repo)
RESULTS = ROOT / "benchmarks" / "results"
# the real line collections the line benchmarks read (val) or train on (train)
REAL_LINE_DIRS = {name: SHARED / "data" / name for name in ("copiste", "htr_united")}

T = TypeVar("T")
R = TypeVar("R")


def result_path(name: str) -> Path:
    """benchmarks/results/NAME.json, absolute, so a run from any folder writes the same file."""
    return RESULTS / f"{name}.json"


def argument_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser with the options every benchmark has: --output (default result_path(name)) and
    --note (what else ran on the machine, kept in the machine block). The description is the
    docstring's first line; `--help` shows the rest, which says how to run it."""
    lines = (doc or name).strip().splitlines()
    parser = argparse.ArgumentParser(
        prog=f"benchmarks/{name}.py",
        description=lines[0],
        epilog="\n".join(lines[1:]).strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--output", type=Path, default=result_path(name),
        help=f"result JSON, written atomically (default benchmarks/results/{name}.json; tiny "
        "runs: a path under /tmp)",
    )  # fmt: skip
    parser.add_argument("--note", default="", help="context for the numbers (other load, ...)")
    return parser


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages, rounded."""
    return [round(v, 2) for v in os.getloadavg()]


@dataclass
class Run:
    """One benchmark run. Made at the start (it notes the load average and the clock); `finish`
    stamps the result, adds the machine block, writes it atomically and prints it."""

    name: str
    output: Path
    note: str = ""
    load_before: list[float] = field(default_factory=load_average)
    started: float = field(default_factory=time.time)

    def machine(self, **extra: Any) -> dict[str, Any]:
        return {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "niceness": os.nice(0),
            "load_average_before": self.load_before,
            "load_average_after": load_average(),
            "note": self.note,
            **extra,
        }

    def stamp(self, result: dict[str, Any], **machine: Any) -> dict[str, Any]:
        """`result` with the run's header (`seconds`: the run's wall time; a key of `result`
        wins) and machine block (extra machine fields merged in)."""
        return {
            "benchmark": self.name,
            "command": shlex.join(["python", *sys.argv]),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.time() - self.started, 1),
            **result,
            "machine": self.machine(**machine),
        }

    def save(self, result: dict[str, Any], **machine: Any) -> dict[str, Any]:
        """Write the stamped result (also mid-run, so a cut-short run keeps what it measured)."""
        stamped = self.stamp(result, **machine)
        write_json(self.output, stamped)
        return stamped

    def finish(self, result: dict[str, Any], **machine: Any) -> dict[str, Any]:
        """Save, then print the JSON as stdout's last line (tables and progress go to stderr)."""
        stamped = self.save(result, **machine)
        print(json.dumps(stamped, sort_keys=True))
        return stamped


def time_each(
    fn: Callable[[T], R],
    items: Iterable[T],
    advance: Callable[[int], None] | None = None,
) -> tuple[list[R], list[float]]:
    """`fn(item)` for each item, and each call's wall seconds: the benchmarks' one timing loop.

    Only the call is timed: producing the next item (a generator assembling a padded batch, say)
    is not. Warm up by calling it once untimed on the same items first.
    """
    results, seconds = [], []
    for item in items:
        started = time.perf_counter()
        results.append(fn(item))
        seconds.append(time.perf_counter() - started)
        if advance is not None:
            advance(1)
    return results, seconds


def latency(seconds: Sequence[float], items: Sequence[int] | int = 1) -> dict[str, Any]:
    """p50/p95 ms per item over timed calls that each handled `items` items (one count per call,
    or one for all), and items per second over all the calls together."""
    sizes = np.broadcast_to(np.asarray(items, dtype=float), (len(seconds),))
    if not len(seconds) or (sizes <= 0).any():
        raise ValueError("latency needs at least one timed call, each of at least one item")
    per_item_ms = 1000 * np.asarray(seconds, dtype=float) / sizes
    return {
        "p50_ms": round(float(np.percentile(per_item_ms, 50)), 2),
        "p95_ms": round(float(np.percentile(per_item_ms, 95)), 2),
        "per_second": round(float(sizes.sum() / max(sum(seconds), 1e-12)), 1),
        "calls": len(seconds),
    }


# --- serving benchmarks: a `textrec serve` subprocess on a free loopback port ---


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> dict[str, float]:
    """Resident and peak resident (VmHWM) memory of a process, in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields.get("VmRSS", 0.0), "peak_rss_mb": fields.get("VmHWM", 0.0)}


def bundled_export_dirs(timeout: float = 600) -> list[str]:
    """The bundled models' LiteRT export folders, made once into the export cache. Exporting
    needs TensorFlow: it runs in a child process, so the benchmark itself stays LiteRT-only."""
    code = "from textrec_cli.serving.export import bundled_exports as b; print(*b(), sep='\\n')"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=timeout
    )
    return done.stdout.split()
