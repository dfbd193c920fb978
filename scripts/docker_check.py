"""`nox -s docker`: build both serving images here without a registry, run them, check them.

Steps: dockerd (installed and started if absent), the local Debian base image
(scripts/docker_base.sh), the wheelhouse (scripts/docker_wheels.sh), `docker build --network=none`
of the stand-in Lambda base, the serving image and the Lambda image; then the serving container
must turn healthy, run as a non-root user, read a line and a page and answer garbage with 4xx;
the Lambda image's handler answers API Gateway events twice: called directly with python
(scripts/serve_smoke.py) and through the image's own entrypoint (awslambdaric) against a
stand-in Lambda Runtime API served here. Sizes, build times and RSS go to
benchmarks/results/docker.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from serve_smoke import rest_v1_event  # noqa: E402

BASE_TAG = os.environ.get("TEXTREC_DOCKER_BASE", "textrec-base:bookworm")
TAGS = {"lambda_base": "textrec-lambda-base:local", "serve": "textrec-serve:local"}
TAGS["lambda"] = "textrec-lambda:local"
LINE = ROOT / "docs" / "examples" / "line_ms.png"
PAGE = ROOT / "docs" / "examples" / "page_copiste.jpg"
RESULTS = ROOT / "benchmarks" / "results" / "docker.json"
HEALTHY_WITHIN_S = 180


def log(message: str) -> None:
    print(f"[docker] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    kwargs.setdefault("check", True)
    return subprocess.run(cmd, text=True, **kwargs)


def ensure_tools() -> None:
    """docker.io and debootstrap from Debian's packages when absent (needs root)."""
    if shutil.which("dockerd") and shutil.which("debootstrap"):
        return
    log("installing docker.io and debootstrap")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "docker.io", "debootstrap"], env=env)


def docker_client() -> str:
    """A client that builds with BuildKit (RUN --mount): Docker >= 23 needs the buildx plugin,
    which Debian's docker.io does not ship; its own 20.10 client has BuildKit built in."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    for client in dict.fromkeys(filter(None, [shutil.which("docker"), "/usr/bin/docker"])):
        probe = run([client, "build", "--help"], env=env, check=False, capture_output=True)
        if probe.returncode == 0:
            return client
    raise SystemExit("no docker client with BuildKit: install docker.io or the buildx plugin")


def ensure_daemon(docker: str) -> None:
    if run([docker, "info"], check=False, capture_output=True).returncode == 0:
        return
    log("starting dockerd (log: /var/tmp/textrec-dockerd.log)")
    with open("/var/tmp/textrec-dockerd.log", "a") as out:
        subprocess.Popen(
            ["nice", "-n", "5", "dockerd"], stdout=out, stderr=out, start_new_session=True
        )
    deadline = time.monotonic() + 60
    while run([docker, "info"], check=False, capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise SystemExit("dockerd did not start in 60 s: see /var/tmp/textrec-dockerd.log")
        time.sleep(1)


def build(docker: str, dockerfile: str, tag: str, **args: str) -> float:
    """`docker build --network=none` from the local base and the wheelhouse; seconds taken."""
    build_args = {"BASE_IMAGE": BASE_TAG, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheels", **args}
    cmd = [docker, "build", "--network=none", "--progress=plain", "-f", dockerfile, "-t", tag]
    for key, value in build_args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    log(f"building {tag} from {dockerfile}")
    start = time.perf_counter()
    run([*cmd, str(ROOT)], env={**os.environ, "DOCKER_BUILDKIT": "1"})
    return round(time.perf_counter() - start, 1)


def image_size_mb(docker: str, tag: str) -> float:
    out = run([docker, "image", "inspect", "-f", "{{.Size}}", tag], capture_output=True).stdout
    return round(int(out) / 1e6, 1)


def post(url: str, data: bytes, timeout: float = 60) -> tuple[int, dict[str, Any], float]:
    """(status, JSON body, seconds) of a raw-body POST."""
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/octet-stream"}
    )
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response), time.perf_counter() - start
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), time.perf_counter() - start


def proc_status_kib(docker: str, container: str) -> dict[str, int]:
    """VmRSS / VmHWM (peak) of the container's main process, KiB."""
    out = run([docker, "exec", container, "cat", "/proc/1/status"], capture_output=True).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def check_serving(docker: str) -> dict[str, Any]:
    name = f"textrec-serve-check-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    run([docker, "run", "-d", "--name", name, "-p", "127.0.0.1::8080", TAGS["serve"]],
        capture_output=True)  # fmt: skip
    try:
        port = run([docker, "port", name, "8080"], capture_output=True).stdout.split(":")[-1]
        base = f"http://127.0.0.1:{port.strip()}"
        while True:
            state = run([docker, "inspect", "-f", "{{json .State}}", name], capture_output=True)
            state = json.loads(state.stdout)
            health = (state.get("Health") or {}).get("Status")
            if health == "healthy":
                break
            if not state["Running"] or health == "unhealthy":
                raise SystemExit(f"serving container {health or 'exited'}: {logs(docker, name)}")
            if time.perf_counter() - started > HEALTHY_WITHIN_S:
                raise SystemExit(f"not healthy in {HEALTHY_WITHIN_S} s: {logs(docker, name)}")
            time.sleep(1)
        healthy_s = time.perf_counter() - started
        uid = run([docker, "exec", name, "id", "-u"], capture_output=True).stdout.strip()
        assert uid not in ("", "0"), f"the serving container runs as uid {uid!r}"
        line = [post(f"{base}/v1/predict", LINE.read_bytes()) for _ in range(5)]
        status, body, _ = line[-1]
        assert status == 200 and body["mode"] == "line" and body["text"], (status, body)
        page_status, page, page_s = post(f"{base}/v1/predict?mode=page", PAGE.read_bytes())
        assert page_status == 200 and len(page["lines"]) >= 5, (page_status, str(page)[:500])
        assert all(len(line["box"]) == 4 for line in page["lines"])
        bad_status, bad, _ = post(f"{base}/v1/predict", b"not an image at all")
        assert 400 <= bad_status < 500 and "error" in bad, (bad_status, bad)
        store = run([docker, "exec", name, "sh", "-c", "ls -ln /data/monitoring"],
                    capture_output=True).stdout  # fmt: skip
        assert "predictions.sqlite" in store, f"no prediction store in /data: {store}"
        memory = proc_status_kib(docker, name)
        return {
            "healthy_after_s": round(healthy_s, 1),
            "uid": int(uid),
            "line_text": body["text"],
            "line_ms": sorted(round(seconds * 1000, 1) for _, _, seconds in line[1:]),
            "page_lines": len(page["lines"]),
            "page_first_box": page["lines"][0]["box"],
            "page_s": round(page_s, 2),
            "garbage": {"status": bad_status, "error": bad["error"]},
            "rss_mib": round(memory["VmRSS"] / 1024, 1),
            "peak_rss_mib": round(memory["VmHWM"] / 1024, 1),
        }
    finally:
        run([docker, "rm", "-f", "-v", name], check=False, capture_output=True)


def logs(docker: str, name: str) -> str:
    done = run([docker, "logs", "--tail", "40", name], check=False, capture_output=True)
    return done.stdout + done.stderr


def check_lambda_direct(docker: str) -> dict[str, Any]:
    """The handler module called with python inside the Lambda image (scripts/serve_smoke.py)."""
    mounts = [f"{ROOT / 'scripts'}:/check:ro", f"{ROOT / 'docs' / 'examples'}:/examples:ro"]
    cmd = [docker, "run", "--rm", "--network=none", "--entrypoint", "python"]
    for mount in mounts:
        cmd += ["-v", mount]
    cmd += [TAGS["lambda"], "/check/serve_smoke.py", f"/examples/{LINE.name}"]
    done = run([*cmd, f"/examples/{PAGE.name}"], check=False, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"Lambda image, handler called directly:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class RuntimeApi(BaseHTTPRequestHandler):
    """A stand-in for the Lambda Runtime API: one invocation, then the client waits."""

    events: list[dict[str, Any]] = []
    answers: dict[str, Any] = {}
    done = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        if not self.path.endswith("/runtime/invocation/next") or not self.events:
            self.done.wait(120)  # nothing more to invoke: hold the poll until shutdown
            self.send_error(500)
            return
        body = json.dumps(self.events.pop(0)).encode()
        request_id = f"req-{len(self.events)}"  # the last event is req-0
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:local:0:textrec")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answers[self.path] = json.loads(body or b"null")
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if not self.events:
            self.done.set()

    def log_message(self, *args: Any) -> None:
        pass


def check_lambda_runtime(docker: str) -> dict[str, Any]:
    """The image as Lambda runs it: its ENTRYPOINT (awslambdaric) and CMD (the handler), fed
    one API Gateway event by a stand-in Runtime API on this host."""
    RuntimeApi.events = [rest_v1_event(LINE.read_bytes())]
    RuntimeApi.answers = {}
    RuntimeApi.done = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    name = f"textrec-lambda-check-{uuid.uuid4().hex[:8]}"
    env = {"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
           "AWS_LAMBDA_FUNCTION_NAME": "textrec"}  # fmt: skip
    cmd = [docker, "run", "-d", "--name", name, "--network=host"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    start = time.perf_counter()
    run([*cmd, TAGS["lambda"]], capture_output=True)
    try:
        if not RuntimeApi.done.wait(120):
            raise SystemExit(f"awslambdaric did not answer in 120 s: {logs(docker, name)}")
        seconds = time.perf_counter() - start
        [(path, answer)] = RuntimeApi.answers.items()
        assert path.endswith("/req-0/response"), (path, answer, logs(docker, name))
        body = json.loads(answer["body"])
        assert answer["statusCode"] == 200 and body["text"], answer
        return {"cold_start_and_answer_s": round(seconds, 1), "line_text": body["text"]}
    finally:
        run([docker, "rm", "-f", "-v", name], check=False, capture_output=True)
        server.shutdown()


def main(argv: list[str]) -> int:
    """`--checks-only`: check the images already built (no base, wheelhouse or builds)."""
    ensure_tools()
    docker = docker_client()
    ensure_daemon(docker)
    version = run([docker, "version", "-f", "{{.Server.Version}}"], capture_output=True)
    if "--checks-only" in argv:
        results: dict[str, Any] = {"docker_server": version.stdout.strip(), "build_s": None}
        results["image_mb"] = {key: image_size_mb(docker, tag) for key, tag in TAGS.items()}
        return check_and_write(docker, results)
    start = time.perf_counter()
    run(["bash", str(ROOT / "scripts" / "docker_base.sh"), BASE_TAG])
    base_s = time.perf_counter() - start
    start = time.perf_counter()
    run(["bash", str(ROOT / "scripts" / "docker_wheels.sh"), sys.executable])
    wheels_s = time.perf_counter() - start
    build_s = {
        "lambda_base": build(docker, "docker/Dockerfile.lambda-base", TAGS["lambda_base"]),
        "serve": build(docker, "Dockerfile", TAGS["serve"]),
        "lambda": build(
            docker, "Dockerfile.lambda", TAGS["lambda"], LAMBDA_BASE_IMAGE=TAGS["lambda_base"]
        ),
    }
    results = {
        "docker_server": version.stdout.strip(),
        "base_image": BASE_TAG,
        "base_image_s": round(base_s, 1),  # ~0 when cached
        "wheelhouse_s": round(wheels_s, 1),
        "build_s": build_s,  # with BuildKit's cache: a rebuild after no change takes seconds
        "image_mb": {key: image_size_mb(docker, tag) for key, tag in TAGS.items()},
    }
    return check_and_write(docker, results)


def check_and_write(docker: str, results: dict[str, Any]) -> int:
    """Run the containers' checks, then write `results` + theirs to benchmarks/results."""
    failed = []
    for name, check in (
        ("serve", check_serving),
        ("lambda_direct", check_lambda_direct),
        ("lambda_runtime", check_lambda_runtime),
    ):
        try:
            results[name] = check(docker)
        except (AssertionError, SystemExit, subprocess.CalledProcessError) as exc:
            results[name] = {"failed": str(exc)[-2000:] or type(exc).__name__}
            failed.append(name)
    results["machine"] = f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end"
    sys.path.insert(0, str(ROOT))
    from textrec_cli.fileio import write_json

    write_json(RESULTS, results)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if failed:
        log(f"FAILED: {', '.join(failed)} (details in {RESULTS})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
