"""Load test of `textrec serve`'s API on 127.0.0.1: requests/s, p50/p95/p99 latency, errors, RSS.

Starts the Docker image's entrypoint command (`uvicorn --factory
textrec_cli.serving.app:app_from_env`) as a subprocess on a free loopback port, then drives
it with locust (headless, as a library) for a bounded time: each simulated user posts a
character or a line image (70/30) back to back. The server's peak RSS (VmHWM) is read from
/proc. Exports of the bundled models are made once into the export cache (needs TensorFlow in
this process only; the server itself runs on LiteRT).

    python benchmarks/serve_load.py --users 4 --seconds 20
    python benchmarks/serve_load.py --models exports/char_cnn exports/line_tcn

The JSON result is written to --output and is the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from gevent import monkey  # locust needs gevent's patches before other network imports

monkey.patch_all()

from locust import FastHttpUser, constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402

from textrec_cli.fileio import write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields.get("VmRSS", 0.0), "peak_rss_mb": fields.get("VmHWM", 0.0)}


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


def _model_dirs(models: list[str] | None) -> list[str]:
    if models:
        return models
    # exporting needs TensorFlow: keep it out of this gevent-patched process
    code = "from textrec_cli.serving.export import bundled_exports as b; print(*b(), sep='\\n')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="export folders (default: bundled, cached)")
    parser.add_argument("--users", type=int, default=4, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured duration")
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads in the server")
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/serve_load.json"))
    args = parser.parse_args()

    port = _free_port()
    env = {**os.environ, "TEXTREC_SERVE_MODELS": os.pathsep.join(_model_dirs(args.models)),
           "TEXTREC_LITERT_THREADS": str(args.threads)}  # fmt: skip
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    command = [uvicorn, "--factory", "textrec_cli.serving.app:app_from_env",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        startup_s = _wait_ready(f"{base}/healthz", server)
        idle = _rss_mb(server.pid)
        environment = Environment(user_classes=[Reader], host=base)
        runner = environment.create_local_runner()
        runner.start(args.users, spawn_rate=args.users)
        time.sleep(args.seconds)  # gevent-patched: the users run meanwhile
        runner.quit()
        loaded = _rss_mb(server.pid)
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

    result = {
        "benchmark": "serve_load",
        "tool": "locust (headless, FastHttpUser)",
        "target": "POST /v1/predict, raw PNG body; 70% characters, 30% lines",
        "users": args.users,
        "seconds": args.seconds,
        "litert_threads": args.threads,
        "server_startup_s": round(startup_s, 2),
        "total": summary(total),
        "by_kind": {name: summary(stats.get(name, "POST")) for name in ("char", "line")},
        "server_rss_idle_mb": idle["rss_mb"],
        "server_rss_after_mb": loaded["rss_mb"],
        "server_peak_rss_mb": loaded["peak_rss_mb"],
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }
    write_json(args.output, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
