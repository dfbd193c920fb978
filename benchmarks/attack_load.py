"""Valid and hostile requests mixed against `textrec serve` (issue 17's "done when" check).

Starts `textrec serve` (the bundled LiteRT exports, a temporary SQLite store, images kept) on a
free 127.0.0.1 port as a subprocess and sends, in bursts, valid requests (real Copiste lines in
line mode, some real Copiste pages in page mode) shuffled together with hostile ones of one kind
per burst: 20000x1 and 5000x1 PNGs, a progressive JPEG with thousands of scans, truncated PNG and
JPEG files, 16-bit PNGs and extreme-aspect page requests. A few client threads (httpx) send each
burst at once, so valid requests queue behind hostile ones as they would in production.

It reports the valid requests' p50/p99 latency (all, lines, pages), the number of 5xx, each
hostile kind's status codes, the server's RSS before/after (and its peak, VmHWM), and the rows
in the store against the predictions answered (200s). Every loop is bounded (request count,
per-request timeout, overall deadline), so it ends even if the server hangs.

    python benchmarks/attack_load.py                     # 200 valid + 200 hostile, 4 threads
    python benchmarks/attack_load.py --valid 40 --hostile 40

JSON goes to --output (atomic write) and is the last line of stdout; a table goes to stderr.
The machine's load average is recorded: on a shared 2-core box the latencies include whatever
else runs there.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import psutil
from common import SHARED, Run, argument_parser, bundled_export_dirs, free_port, rss_mb
from PIL import Image
from rich.console import Console
from rich.table import Table

COPISTE = SHARED / "data" / "copiste"
HOSTILE_KINDS = (
    "wide_20000x1_line",
    "wide_5000x1_auto",
    "jpeg_scan_bomb",
    "truncated_png",
    "truncated_jpeg",
    "png_16bit_line",
    "extreme_aspect_page",
)
# what a hardened server answers each kind with (16-bit lines are read, thin pages are empty)
EXPECTED = {
    "wide_20000x1_line": {413},
    "wide_5000x1_auto": {413},
    "jpeg_scan_bomb": {413},
    "truncated_png": {400},
    "truncated_jpeg": {400},
    "png_16bit_line": {200},
    "extreme_aspect_page": {200},
}


@dataclass
class Request:
    kind: str  # "line" / "page" (valid) or one of HOSTILE_KINDS
    valid: bool
    body: bytes
    content_type: str
    mode: str


@dataclass
class Outcome:
    kind: str
    valid: bool
    status: int | str  # an HTTP status, or the client-side exception's name
    seconds: float


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _noise_png(rng: np.random.Generator, width: int) -> bytes:
    """A `width` x 1 PNG of noise: 20 KB that once became an 800000-px line stem."""
    return _png(Image.fromarray((rng.random((1, width)) * 255).astype(np.uint8)))


def _scan_bomb(scans: int) -> bytes:
    """A progressive JPEG whose last scan is repeated `scans` times (each one re-decoded)."""
    buffer = io.BytesIO()
    gray = (np.random.default_rng(1).random((256, 256)) * 255).astype(np.uint8)
    Image.fromarray(gray).save(buffer, format="JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    last_sos, eoi = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:eoi] + data[last_sos:eoi] * scans + data[eoi:]


def _labels(split: str) -> list[str]:
    rows = (COPISTE / "labels.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [r.split("\t")[0] for r in rows if r.split("\t")[2] == split]


def build_requests(n_valid: int, n_hostile: int, page_share: float, seed: int) -> tuple[list, list]:
    """(valid, hostile) requests; hostile ones cycle through HOSTILE_KINDS in equal shares."""
    if not (COPISTE / "labels.tsv").is_file():
        raise SystemExit(f"real lines are missing: expected {COPISTE}/labels.tsv")
    rng = random.Random(seed)
    lines = rng.sample(_labels("val"), n_valid)
    pages_tsv = (COPISTE / "pages" / "pages.tsv").read_text(encoding="utf-8").splitlines()[1:]
    pages = [r.split("\t")[0] for r in pages_tsv if r.split("\t")[3] == "val"]
    n_pages = round(n_valid * page_share)
    valid = [
        Request("page", True, (COPISTE / "pages" / pages[i % len(pages)]).read_bytes(),
                "image/jpeg", "page")
        for i in range(n_pages)
    ]  # fmt: skip
    valid += [
        Request("line", True, (COPISTE / name).read_bytes(), "image/png", "line")
        for name in lines[: n_valid - n_pages]
    ]
    real = Image.open(COPISTE / lines[0]).convert("L")
    noise = np.random.default_rng(seed)
    line_png, line_jpeg = _png(real), io.BytesIO()
    real.save(line_jpeg, format="JPEG", quality=85)
    bodies = {
        "wide_20000x1_line": [_noise_png(noise, 20000)],
        "wide_5000x1_auto": [_noise_png(noise, 5000)],
        "jpeg_scan_bomb": [_scan_bomb(5000)],
        "truncated_png": [line_png[: len(line_png) // 2], line_png[:60]],
        "truncated_jpeg": [line_jpeg.getvalue()[: len(line_jpeg.getvalue()) // 2]],
        "png_16bit_line": [_png(Image.fromarray(np.asarray(real).astype(np.uint16) * 257))],
        "extreme_aspect_page": [
            _png(Image.new("L", size, 255)) for size in ((20000, 1), (1, 20000), (4000, 2))
        ],
    }  # fmt: skip
    modes = {"wide_20000x1_line": "line", "png_16bit_line": "line", "extreme_aspect_page": "page"}
    hostile = []
    for i in range(n_hostile):
        kind = HOSTILE_KINDS[i * len(HOSTILE_KINDS) // n_hostile]
        body = bodies[kind][i % len(bodies[kind])]
        content_type = "image/jpeg" if "jpeg" in kind else "image/png"
        hostile.append(Request(kind, False, body, content_type, modes.get(kind, "auto")))
    return valid, hostile


def bursts(valid: list, hostile: list, size: int, seed: int) -> list[list[Request]]:
    """Bursts of `size`: half valid, half hostile of one kind at a time, shuffled together."""
    rng = random.Random(seed)
    rng.shuffle(valid)
    half = max(1, size // 2)
    out = []
    for start in range(0, max(len(valid), len(hostile)), half):
        burst = valid[start : start + half] + hostile[start : start + half]
        rng.shuffle(burst)
        if burst:
            out.append(burst)
    return out


_local = threading.local()


def send(base: str, request: Request, timeout: float) -> Outcome:
    """One POST on this thread's keep-alive client; a client-side failure is its name."""
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = httpx.Client(base_url=base, timeout=timeout)
    start = time.perf_counter()
    try:
        response = client.post(
            f"/v1/predict?mode={request.mode}", content=request.body,
            headers={"content-type": request.content_type},
        )  # fmt: skip
        status: int | str = response.status_code
        if status == 200 and "text" not in response.json():
            status = "200-without-text"
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    return Outcome(request.kind, request.valid, status, time.perf_counter() - start)


def _wait_ready(base: str, server: subprocess.Popen, timeout: float = 120) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if server.poll() is not None:
            raise SystemExit(f"textrec serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"textrec serve not ready within {timeout:g} s")


def _percentile_ms(seconds: list[float], q: float) -> float | None:
    return round(float(np.percentile(seconds, q)) * 1000, 1) if seconds else None


def _latency(outcomes: list[Outcome]) -> dict:
    ok = [o.seconds for o in outcomes if o.status == 200]
    return {
        "requests": len(outcomes),
        "answered_200": len(ok),
        "p50_ms": _percentile_ms(ok, 50),
        "p99_ms": _percentile_ms(ok, 99),
        "max_ms": _percentile_ms(ok, 100),
        "statuses": dict(Counter(str(o.status) for o in outcomes)),
    }


def run(args: argparse.Namespace) -> dict:
    """Start the server, send the bursts, and report (the machine block is added by Run)."""
    valid, hostile = build_requests(args.valid, args.hostile, args.page_share, args.seed)
    plan = bursts(valid, hostile, args.burst, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="textrec-attack-"))
    store = workdir / "predictions.sqlite"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "textrec_cli", "serve", *bundled_export_dirs(), "--host", "127.0.0.1",
        "--port", str(port), "--store", str(store), "--check-interval", "0",
    ]  # fmt: skip
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    outcomes: list[Outcome] = []
    incomplete = False
    try:
        startup_s = _wait_ready(base, server)
        warm = [send(base, request, args.timeout) for request in valid[:3]]  # model warm-up
        rss_before = rss_mb(server.pid)
        started = time.monotonic()
        with ThreadPoolExecutor(args.threads) as pool:
            for burst in plan:
                if time.monotonic() - started > args.deadline:
                    incomplete = True
                    break
                outcomes += pool.map(lambda r: send(base, r, args.timeout), burst)
        run_s = time.monotonic() - started
        rss_after = rss_mb(server.pid)
        cpu_s = sum(psutil.Process(server.pid).cpu_times()[:2])
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    with sqlite3.connect(store) as conn:
        rows = conn.execute("SELECT count(*) FROM predictions").fetchone()[0]
        images = conn.execute("SELECT count(*) FROM images").fetchone()[0]
    answered = sum(o.status == 200 for o in warm + outcomes)
    valid_out = [o for o in outcomes if o.valid]
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        if not o.valid:
            by_kind[o.kind].append(o)
    hostile_report = {
        kind: {
            "requests": len(by_kind[kind]),
            "statuses": dict(Counter(str(o.status) for o in by_kind[kind])),
            "expected": sorted(EXPECTED[kind]),
            "max_ms": _percentile_ms([o.seconds for o in by_kind[kind]], 100),
        }
        for kind in HOSTILE_KINDS
        if by_kind[kind]
    }
    server_errors = sum(isinstance(o.status, int) and o.status >= 500 for o in outcomes)
    valid_all = _latency(valid_out)
    valid_lines = _latency([o for o in valid_out if o.kind == "line"])
    valid_pages = _latency([o for o in valid_out if o.kind == "page"])
    log_text = log_path.read_text(errors="replace")
    return {
        "server": "textrec serve (bundled LiteRT exports, SQLite store, images kept)",
        "requests": {
            "valid": len(valid_out),
            "hostile": len(outcomes) - len(valid_out),
            "warm_up": len(warm),
            "bursts": len(plan),
            "burst_size": args.burst,
            "client_threads": args.threads,
            "timeout_s": args.timeout,
        },  # fmt: skip
        "incomplete": incomplete,
        "run_s": round(run_s, 1),
        "server_startup_s": round(startup_s, 1),
        "server_cpu_s": round(cpu_s, 1),
        "valid": valid_all,
        "valid_lines": valid_lines,
        "valid_pages": valid_pages,
        "status_5xx": server_errors,
        "client_errors": sum(isinstance(o.status, str) for o in outcomes),
        "hostile": hostile_report,
        "hostile_unexpected": {
            kind: report["statuses"]
            for kind, report in hostile_report.items()
            if set(report["statuses"]) - {str(s) for s in EXPECTED[kind]}
        },
        "server_rss_before_mb": rss_before["rss_mb"],
        "server_rss_after_mb": rss_after["rss_mb"],
        "server_peak_rss_mb": rss_after["peak_rss_mb"],
        "store_rows": rows,
        "store_images": images,
        "answered_predictions": answered,
        "server_tracebacks": log_text.count("Traceback"),
        "targets": {
            "valid_p99_le_1s": valid_all["p99_ms"] is not None and valid_all["p99_ms"] <= 1000,
            "valid_lines_p99_le_1s": valid_lines["p99_ms"] is not None
            and valid_lines["p99_ms"] <= 1000,
            "no_5xx": server_errors == 0,
            "rss_under_1gb": rss_after["peak_rss_mb"] < 1024,
            "one_row_per_answer": rows == answered,
        },
    }


def table(result: dict) -> Table:
    out = Table(title="attack_load: valid latency and hostile answers")
    for column in ("kind", "requests", "statuses", "p50 ms", "p99 ms / max ms"):
        out.add_column(column)
    for name in ("valid", "valid_lines", "valid_pages"):
        row = result[name]
        out.add_row(name, str(row["requests"]), json.dumps(row["statuses"]), str(row["p50_ms"]),
                    str(row["p99_ms"]))  # fmt: skip
    for kind, row in result["hostile"].items():
        out.add_row(kind, str(row["requests"]), json.dumps(row["statuses"]), "", str(row["max_ms"]))
    out.caption = (
        f"5xx {result['status_5xx']}, RSS {result['server_rss_before_mb']} -> "
        f"{result['server_rss_after_mb']} MB (peak {result['server_peak_rss_mb']}), store rows "
        f"{result['store_rows']} / answered {result['answered_predictions']}, "
        f"load {result['machine']['load_average_before']}"
    )
    return out


def main() -> None:
    parser = argument_parser("attack_load", __doc__)
    parser.add_argument("--valid", type=int, default=200, help="valid requests")
    parser.add_argument("--hostile", type=int, default=200, help="hostile requests")
    parser.add_argument("--page-share", type=float, default=0.1, help="valid ones that are pages")
    parser.add_argument("--burst", type=int, default=20, help="requests per burst")
    parser.add_argument("--threads", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout (s)")
    parser.add_argument("--deadline", type=float, default=240.0, help="no new burst after (s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bench = Run("attack_load", args.output, args.note)
    result = bench.save(run(args))
    Console(stderr=True).print(table(result))
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
