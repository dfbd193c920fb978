"""Deployment files: Dockerfiles lint clean, the SAM template validates, and the Docker image's
exact entrypoint command serves requests when run outside Docker."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from serving_helpers import bundled_exports, example_bytes

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    """A console script from this interpreter's environment (the venv's bin), else PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (pip install -e '.[dev]')")
    return found


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.lambda"])
def test_dockerfile_lints_clean(dockerfile: str) -> None:
    done = subprocess.run(
        [_tool("hadolint"), str(ROOT / dockerfile)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_sam_template_validates() -> None:
    done = subprocess.run(
        [_tool("cfn-lint"), str(ROOT / "template.yaml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_images_install_no_tensorflow_and_match_the_serve_extra() -> None:
    requirements = [
        line.strip()
        for line in (ROOT / "requirements-serve.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(project["optional-dependencies"]["serve"]) <= set(requirements)
    assert not any(r.lower().startswith(("tensorflow", "keras")) for r in requirements)
    for dockerfile in ("Dockerfile", "Dockerfile.lambda"):
        text = (ROOT / dockerfile).read_text()
        final_stage = text[text.rindex("\nFROM ") :]
        assert "--no-deps" in final_stage and "requirements-serve.txt" in final_stage
        assert "tensorflow" not in final_stage.lower()


def _dockerfile_cmd() -> list[str]:
    cmds = re.findall(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    return json.loads(cmds[-1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_docker_entrypoint_command_serves_outside_docker(tmp_path: Path) -> None:
    command = _dockerfile_cmd()
    assert command[:3] == ["uvicorn", "--factory", "textrec_cli.serving.app:app_from_env"]
    port = _free_port()
    command[command.index("--host") + 1] = "127.0.0.1"  # the image binds 0.0.0.0
    command[command.index("--port") + 1] = str(port)
    command[0] = _tool(command[0])
    env = {
        **os.environ,
        "TEXTREC_SERVE_MODELS": os.pathsep.join(str(p) for p in bundled_exports()),
        "TEXTREC_LITERT_THREADS": "1",
    }
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    assert json.load(response)["status"] == "ok"
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, "server did not start in 60 s"
                time.sleep(0.3)
        request = urllib.request.Request(
            f"{base}/v1/predict",
            data=example_bytes("char_A.png"),
            headers={"content-type": "image/png"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["text"] == "A"
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()
