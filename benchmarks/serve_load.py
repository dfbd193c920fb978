"""Load test of `textrec serve`'s API on 127.0.0.1: requests/s, p50/p95/p99 latency, errors, RSS.

Starts the Docker image's entrypoint command (`uvicorn --factory
textrec_cli.serving.app:app_from_env`) as a subprocess on a free loopback port, then drives
it with locust (headless, as a library) for a bounded time: each simulated user posts a
character or a line image (70/30) back to back. The server's peak RSS (VmHWM) is read from
/proc. Exports of the bundled models are made once into the export cache (needs TensorFlow in
this process only; the server itself runs on LiteRT).

    python benchmarks/serve_load.py --users 4 --seconds 20
    python benchmarks/serve_load.py --models exports/char_cnn exports/line_tcn
    python benchmarks/serve_load.py --users 1 --seconds 3 --output /tmp/serve_load.json

The JSON result is written to --output and is the last line of stdout.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from gevent import monkey  # locust needs gevent's patches before other network imports

monkey.patch_all()

from common import (  # noqa: E402
    ROOT,
    Run,
    argument_parser,
    bundled_export_dirs,
    free_port,
    rss_mb,
)
from locust import FastHttpUser, constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402

EXAMPLES = ROOT / "docs" / "examples"
CHARS = [(EXAMPLES / f).read_bytes() for f in ("char_A.png", "char_7.png", "char_g.png")]
LINE = (EXAMPLES / "line_ms.png").read_bytes()


class Reader(FastHttpUser):
    wait_time = constant(0)

    @task(7)
    def char(self) -> None:
        self._post(random.choice(CHARS), "char")

    @task(3)
    def line(self) -> None:
        self._post(LINE, "line")

    def _post(self, data: bytes, name: str) -> None:
        headers = {"content-type": "image/png"}
        with self.client.post("/v1/predict", data=data, headers=headers, name=name,
                              catch_response=True) as response:  # fmt: skip
            if response.status_code != 200 or "text" not in (response.json() or {}):
                response.failure(f"HTTP {response.status_code}")


def _wait_ready(url: str, server: subprocess.Popen, timeout: float = 60) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return time.monotonic() - start
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not become ready")


def main() -> None:
    parser = argument_parser("serve_load", __doc__)
    parser.add_argument("--models", nargs="*", help="export folders (default: bundled, cached)")
    parser.add_argument("--users", type=int, default=4, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured duration")
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads in the server")
    args = parser.parse_args()

    run = Run("serve_load", args.output, args.note)
    port = free_port()
    # exporting needs TensorFlow: bundled_export_dirs keeps it out of this gevent-patched process
    models = args.models or bundled_export_dirs()
    env = {**os.environ, "TEXTREC_SERVE_MODELS": os.pathsep.join(models),
           "TEXTREC_LITERT_THREADS": str(args.threads)}  # fmt: skip
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    command = [uvicorn, "--factory", "textrec_cli.serving.app:app_from_env",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        startup_s = _wait_ready(f"{base}/healthz", server)
        idle = rss_mb(server.pid)
        environment = Environment(user_classes=[Reader], host=base)
        runner = environment.create_local_runner()
        runner.start(args.users, spawn_rate=args.users)
        time.sleep(args.seconds)  # gevent-patched: the users run meanwhile
        runner.quit()
        loaded = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=10)

    stats = environment.stats
    total = stats.total

    def summary(entry) -> dict[str, float]:
        return {
            "requests": entry.num_requests,
            "errors": entry.num_failures,
            "requests_per_s": round(entry.num_requests / max(args.seconds, 1e-9), 2),
            "p50_ms": entry.get_response_time_percentile(0.50),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "p99_ms": entry.get_response_time_percentile(0.99),
            "mean_ms": round(entry.avg_response_time, 2),
        }

    run.finish({
        "tool": "locust (headless, FastHttpUser)",
        "target": "POST /v1/predict, raw PNG body; 70% characters, 30% lines",
        "users": args.users,
        "measured_seconds": args.seconds,
        "litert_threads": args.threads,
        "server_startup_s": round(startup_s, 2),
        "total": summary(total),
        "by_kind": {name: summary(stats.get(name, "POST")) for name in ("char", "line")},
        "server_rss_idle_mb": idle["rss_mb"],
        "server_rss_after_mb": loaded["rss_mb"],
        "server_peak_rss_mb": loaded["peak_rss_mb"],
    })  # fmt: skip


if __name__ == "__main__":
    main()
