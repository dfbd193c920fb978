"""The REST API against hostile clients (issue 17): extreme images answer 4xx, slow or idle
connections are closed by deadlines, a client that leaves is one log line, and every prediction a
client receives is already in the store (even across a kill -9)."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serving_helpers import bundled_exports, detector_export, example_bytes, png_bytes
from test_hostile_input import scan_bomb

from textrec_cli.containers import Prediction
from textrec_cli.monitoring.observer import server_monitoring
from textrec_cli.monitoring.store import ImagePolicy, open_store
from textrec_cli.serving.app import create_app
from textrec_cli.serving.runtime import ServingRecognizer
from textrec_cli.serving.server import DeadlineH11Protocol

ROOT = Path(__file__).resolve().parents[1]
PNG = {"content-type": "image/png"}


class StubRecognizer:
    """Answers every image at once: the server's behaviour, without a model's cost."""

    models = {"line": SimpleNamespace(version="stub-1")}

    def predict(self, image: Image.Image, mode: str = "auto", name: str = "upload") -> Prediction:
        return Prediction(name, "stub", 0.9, "line", "stub-1")

    def describe(self) -> dict:
        return {}


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def live_server(app, header_timeout: float = 1.0, keep_alive: int = 1) -> Iterator[int]:
    """uvicorn on 127.0.0.1 in a thread with textrec's protocol; yields the port."""
    import uvicorn

    protocol = type("Protocol", (DeadlineH11Protocol,), {"header_timeout": header_timeout})
    sock = _free_socket()
    config = uvicorn.Config(
        app, http=protocol, timeout_keep_alive=keep_alive, lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _closed_within(conn: socket.socket, seconds: float, trickle: bytes | None = None) -> float:
    """Seconds until the server closes `conn` (sending `trickle` every 0.3 s meanwhile)."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        readable, _, _ = select.select([conn], [], [], 0.3)
        if readable:
            try:
                if conn.recv(4096) == b"":
                    return time.monotonic() - start
            except ConnectionResetError:
                return time.monotonic() - start
        if trickle is not None:
            try:
                conn.sendall(trickle)
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start
    return float("inf")


@pytest.fixture
def stub_port() -> Iterator[int]:
    with live_server(create_app(StubRecognizer(), body_timeout=1.0)) as port:
        yield port


# 7. deadlines and a clean log line for a client that leaves --------------------------------


def test_idle_connection_is_closed(stub_port: int) -> None:
    with socket.create_connection(("127.0.0.1", stub_port)) as conn:
        assert _closed_within(conn, 8) < 4


def test_header_trickle_is_closed(stub_port: int) -> None:
    with socket.create_connection(("127.0.0.1", stub_port)) as conn:
        conn.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\n")
        assert _closed_within(conn, 8, trickle=b"X-Slow: 1\r\n") < 4


def test_stalled_body_answers_408(stub_port: int) -> None:
    with socket.create_connection(("127.0.0.1", stub_port)) as conn:
        conn.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Content-Length: 100000\r\n\r\n" + b"\x89PNG" * 4
        )
        conn.settimeout(6)
        start = time.monotonic()
        reply = b""
        while b"not received within" not in reply:  # head and body may come in two packets
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert b"not received within" in reply and time.monotonic() - start < 5


def test_keep_alive_connection_is_closed_after_its_response(stub_port: int) -> None:
    with socket.create_connection(("127.0.0.1", stub_port)) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        conn.settimeout(5)
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        assert _closed_within(conn, 8) < 4


def test_client_that_disconnects_is_one_log_line(
    stub_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with socket.create_connection(("127.0.0.1", stub_port)) as conn:
        conn.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
            b"Content-Length: 100000\r\n\r\n" + b"\x89PNG" * 4
        )
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while "disconnected before sending" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "disconnected before sending its whole request" in caplog.text
    assert "unexpected error" not in caplog.text and "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]
    # and the server still answers
    conn = http.client.HTTPConnection("127.0.0.1", stub_port, timeout=5)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200


# 8. write before answer ---------------------------------------------------------------------


def test_prediction_is_stored_before_the_client_gets_it(tmp_path: Path) -> None:
    monitoring = server_monitoring(tmp_path / "p.sqlite")

    def slow_observer(image, result, latency_ms):  # a slow disk: the answer must wait for it
        time.sleep(0.3)
        monitoring.observer(image, result, latency_ms)

    app = create_app(StubRecognizer(), observers=[slow_observer])
    body = png_bytes(Image.new("L", (120, 30), 255))
    with live_server(app) as port, open_store(tmp_path / "p.sqlite") as store:
        for answered in range(1, 5):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/v1/predict", body=body, headers=PNG)
            response = conn.getresponse()
            assert response.status == 200 and json.loads(response.read())["text"] == "stub"
            assert store.count() == answered  # committed before the answer was sent


SERVER_SCRIPT = """
import sys, uvicorn
sys.path.insert(0, {tests!r})
from test_hostile_serving import StubRecognizer
from textrec_cli.monitoring.observer import server_monitoring
from textrec_cli.serving.app import create_app
from textrec_cli.serving.server import DeadlineH11Protocol
monitoring = server_monitoring({store!r})
app = create_app(StubRecognizer(), observers=[monitoring.observer])
uvicorn.run(app, host="127.0.0.1", port={port}, http=DeadlineH11Protocol, log_level="warning")
"""


def test_kill_9_loses_no_answered_prediction(tmp_path: Path) -> None:
    """The issue's 373 answered / 319 stored: now every answered prediction survives a kill -9."""
    sock = _free_socket()
    port = sock.getsockname()[1]
    sock.close()
    store = tmp_path / "p.sqlite"
    script = SERVER_SCRIPT.format(tests=str(ROOT / "tests"), store=str(store), port=port)
    server = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, env={**os.environ},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    answered, stop = [0], threading.Event()
    body = png_bytes(Image.new("L", (120, 30), 255))

    def client() -> None:
        while not stop.is_set():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("POST", "/v1/predict", body=body, headers=PNG)
                response = conn.getresponse()
                if response.status == 200 and response.read():
                    answered[0] += 1
            except OSError:
                time.sleep(0.05)

    try:
        threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while answered[0] < 60 and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
    for thread in threads:
        thread.join(10)
    assert answered[0] >= 20, server.stderr.read().decode()[-2000:]
    with open_store(store) as opened:
        stored = opened.count()
    # in-flight requests (at most one per client) may be stored and never answered
    assert answered[0] <= stored <= answered[0] + len(threads)


# 1-4 through the real models ----------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> TestClient:
    recognizer = ServingRecognizer.from_paths([*bundled_exports(), detector_export()])
    return TestClient(create_app(recognizer), raise_server_exceptions=False)


@pytest.mark.parametrize("size", [(20000, 1), (5000, 1)])
@pytest.mark.parametrize("mode", ["auto", "line"])
def test_extreme_aspect_line_answers_413(
    client: TestClient, size: tuple[int, int], mode: str
) -> None:
    start = time.perf_counter()
    image = Image.new("L", size, 0)
    response = client.post(f"/v1/predict?mode={mode}", content=png_bytes(image), headers=PNG)
    assert response.status_code == 413, response.text
    assert "line limit" in response.json()["error"]
    assert time.perf_counter() - start < 5
    # a normal line right behind it is not kept waiting
    start = time.perf_counter()
    normal = client.post("/v1/predict", content=example_bytes("line_ms.png"), headers=PNG)
    assert normal.status_code == 200 and time.perf_counter() - start < 5


def test_scan_bomb_answers_413(client: TestClient) -> None:
    start = time.perf_counter()
    response = client.post(
        "/v1/predict", content=scan_bomb(), headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 413 and "scan limit" in response.json()["error"]
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("size", [(20000, 1), (1, 20000), (4000, 2)])
def test_page_mode_on_extreme_aspect_is_a_valid_empty_page(
    client: TestClient, size: tuple[int, int]
) -> None:
    image = Image.new("L", size, 255)
    response = client.post("/v1/predict?mode=page", content=png_bytes(image), headers=PNG)
    assert response.status_code == 200, response.text
    assert response.json()["mode"] == "page" and response.json()["lines"] == []


def test_one_row_image_is_answered_and_stored(tmp_path: Path) -> None:
    monitoring = server_monitoring(tmp_path / "p.sqlite")
    recognizer = ServingRecognizer.from_paths(list(bundled_exports()))
    client = TestClient(create_app(recognizer, observers=[monitoring.observer]))
    row = np.full((1, 60), 255, np.uint8)
    row[0, 20:40] = 0
    column = np.full((30, 1), 255, np.uint8)
    for array, mode in ((row, "line"), (column, "char"), (np.zeros((1, 1), np.uint8), "char")):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        response = client.post(f"/v1/predict?mode={mode}", content=buffer.getvalue(), headers=PNG)
        assert response.status_code == 200, response.text
    with open_store(tmp_path / "p.sqlite") as store:
        assert store.count() == 3


def test_serve_runs_uvicorn_with_the_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from textrec_cli import settings
    from textrec_cli.serving.server import run_server

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    run_server(object(), "127.0.0.1", 8123)
    assert seen["http"] is DeadlineH11Protocol and seen["port"] == 8123
    assert seen["timeout_keep_alive"] == settings.SERVE_KEEP_ALIVE_S
    assert seen["h11_max_incomplete_event_size"] == settings.SERVE_MAX_HEAD_BYTES


def stub_app() -> object:
    """`uvicorn --factory test_hostile_serving:stub_app`: the API on the stub recognizer."""
    return create_app(StubRecognizer())


def _dockerfile_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    [line] = [row for row in text.splitlines() if row.startswith("CMD ")]
    return json.loads(line[4:])


def test_docker_image_runs_uvicorn_with_the_same_deadlines() -> None:
    """The image's CMD, run as written (the app swapped for a stub, the header deadline
    shortened by its env override): an idle connection is closed by textrec's protocol."""
    from textrec_cli import settings

    cmd = _dockerfile_cmd()
    assert cmd[:3] == ["uvicorn", "--factory", "textrec_cli.serving.app:app_from_env"]
    flags = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert flags["--http"] == "textrec_cli.serving.server:DeadlineH11Protocol"
    assert int(flags["--timeout-keep-alive"]) == settings.SERVE_KEEP_ALIVE_S
    assert int(flags["--h11-max-incomplete-event-size"]) == settings.SERVE_MAX_HEAD_BYTES
    with _free_socket() as sock:
        port = sock.getsockname()[1]
    flags.update({"--host": "127.0.0.1", "--port": str(port)})
    args = ["test_hostile_serving:stub_app", *[part for pair in flags.items() for part in pair]]
    env = {**os.environ, "TEXTREC_SERVE_HEADER_TIMEOUT": "1", "PYTHONPATH": str(ROOT / "tests")}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", *args], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert server.poll() is None, server.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "uvicorn did not start within 60 s"
                time.sleep(0.2)
        with conn:
            assert _closed_within(conn, 8) < 4  # uvicorn's own h11 would hold it open
    finally:
        server.terminate()
        server.wait(10)


# 12. the store's retention, as `textrec serve` and the environment set it ------------------


def test_serve_applies_the_store_policy_and_prunes_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli_helpers import run_cli
    from test_monitoring_store import DAY, backfill

    import textrec_cli.monitoring.observer as observer_module
    import textrec_cli.serving.server as server_module

    store_path = tmp_path / "p.sqlite"
    with open_store(store_path, ImagePolicy(prune_every=0)) as store:
        backfill(store, [time.time() - 40 * DAY, time.time() - 10 * DAY, time.time()])
    seen = {}
    real = observer_module.server_monitoring

    def capture(*args, **kwargs):
        seen["monitoring"] = real(*args, **kwargs)
        return seen["monitoring"]

    monkeypatch.setattr(observer_module, "server_monitoring", capture)
    monkeypatch.setattr(server_module, "run_server", lambda app, host, port: None)
    result = run_cli(
        "serve", *bundled_exports(), "--store", store_path, "--no-keep-images",
        "--max-store-mb", "5", "--retention-days", "7", "--check-interval", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    store = seen["monitoring"].observer.store
    assert store.policy == ImagePolicy(keep=False, max_store_mb=5, retention_days=7)
    store.wait_for_prune()
    assert store.count() == 1  # the 40- and 10-day-old rows went at start
    store.close()


def test_store_policy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from textrec_cli import settings
    from textrec_cli.errors import TextrecError
    from textrec_cli.monitoring.observer import policy_from_env

    for var in ("MAX_STORE_MB", "RETENTION_DAYS", "KEEP_IMAGES"):
        monkeypatch.delenv(f"TEXTREC_MONITOR_{var}", raising=False)
    policy = policy_from_env()
    assert (policy.keep, policy.max_store_mb) == (True, settings.STORE_MAX_MB)
    assert policy.retention_days == settings.STORE_RETENTION_DAYS
    monkeypatch.setenv("TEXTREC_MONITOR_MAX_STORE_MB", "256")
    monkeypatch.setenv("TEXTREC_MONITOR_RETENTION_DAYS", "0")
    monkeypatch.setenv("TEXTREC_MONITOR_KEEP_IMAGES", "0")
    assert policy_from_env() == ImagePolicy(keep=False, max_store_mb=256, retention_days=0)
    monkeypatch.setenv("TEXTREC_MONITOR_RETENTION_DAYS", "a month")
    with pytest.raises(TextrecError, match="TEXTREC_MONITOR_RETENTION_DAYS must be a number"):
        policy_from_env()


# minor: HEAD /healthz (load balancers), the Lambda handler's answers -----------------------


def test_head_healthz_answers_200(client: TestClient) -> None:
    response = client.head("/healthz")
    assert response.status_code == 200 and response.content == b""
    assert client.get("/healthz").json()["status"] == "ok"


def test_lambda_answers_head_health_and_413_for_a_too_wide_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from test_serving_lambda import v2

    from textrec_cli.serving import lambda_handler

    monkeypatch.setenv("TEXTREC_SERVE_MODELS", os.pathsep.join(map(str, bundled_exports())))
    monkeypatch.setenv("TEXTREC_MONITOR", "0")
    monkeypatch.setattr(lambda_handler, "_recognizer", None)
    head = lambda_handler.handler(v2("", method="HEAD", path="/healthz"))
    assert head["statusCode"] == 200 and head["body"] == ""
    wide = lambda_handler.handler(v2(png_bytes(Image.new("L", (20000, 1), 0))))
    assert wide["statusCode"] == 413 and "line limit" in json.loads(wide["body"])["error"]
