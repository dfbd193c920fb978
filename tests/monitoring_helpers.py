"""Helpers for the monitoring and labeling tests: records without a model, a throwaway
PostgreSQL cluster (Debian's binaries, run as the `postgres` user), tiny line images."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from textrec_cli.containers import Prediction
from textrec_cli.monitoring.records import PredictionRecord, make_record


def fake_records(n: int, seed: int = 0, confidence_mean: float = 0.8) -> list[PredictionRecord]:
    """Records from simple random line images and texts (no model needed)."""
    rng = np.random.default_rng(seed)
    records = []
    for _ in range(n):
        width, height = int(rng.integers(200, 400)), int(rng.integers(40, 60))
        gray = np.full((height, width), rng.uniform(200, 250))
        y = int(rng.integers(10, height - 20))
        gray[y : y + 10, 10 : width - 10 : 3] = rng.uniform(40, 120)
        image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8))
        text = "".join(rng.choice(list("abcdefgh ijklm"), int(rng.integers(5, 20))))
        confidence = float(np.clip(rng.normal(confidence_mean, 0.05), 0, 1))
        result = Prediction("", text, confidence, "line", "test-model")
        records.append(make_record(image, result, float(rng.uniform(5, 20)), "rest"))
    return records


# feature -> (mean, spread between documents, spread between lines of one document)
_CLUSTERED = {
    "height": (50.0, 5.0, 2.0), "mean_intensity": (220.0, 8.0, 3.0),
    "std_intensity": (35.0, 5.0, 2.0), "paper_level": (240.0, 6.0, 2.0),
    "ink_level": (90.0, 15.0, 6.0), "ink_ratio": (0.08, 0.02, 0.008),
    "stroke_width": (2.2, 0.3, 0.1), "slant": (0.1, 0.1, 0.04), "confidence": (0.65, 0.08, 0.05),
}  # fmt: skip


def clustered_records(
    documents: int,
    seed: int = 0,
    lines: int = 20,
    ink_shift: float = 0.0,
    width_scale: float = 1.0,
    prefix: str = "d",
) -> list[PredictionRecord]:
    """Feature records (no images) of `documents` pages of `lines` lines: each page draws its
    own level of every feature (hand, pen, scan) and its lines vary around it, as real pages do."""
    rng = np.random.default_rng(seed)
    records = []
    for number in range(documents):
        page = {k: rng.normal(mean, between) for k, (mean, between, _) in _CLUSTERED.items()}
        page_width = 600.0 * width_scale * float(np.exp(rng.normal(0, 0.25)))
        for _ in range(lines):
            features = {k: float(rng.normal(page[k], _CLUSTERED[k][2])) for k in _CLUSTERED}
            features["ink_level"] += ink_shift
            features["width"] = page_width * float(np.exp(rng.normal(0, 0.1)))
            features["aspect"] = features["width"] / features["height"]
            features["text_length"] = round(features["width"] / 18)
            records.append(PredictionRecord(
                model_version="test-model", mode="line", source="rest", image_hash="",
                features=features, text="abc", chars={"a": 1, "b": 1, "c": 1},
                latency_ms=float(rng.uniform(5, 20)), document=f"{prefix}{number}",
            ))  # fmt: skip
    return records


def line_image(width: int = 240, height: int = 48, shade: int = 60) -> Image.Image:
    gray = np.full((height, width), 235, dtype=np.uint8)
    gray[18:30, 12 : width - 12 : 4] = shade
    return Image.fromarray(gray)


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A fresh PostgreSQL cluster on 127.0.0.1:<free port>; yields its URL, stops it after.

    As root (CI and this machine) initdb/pg_ctl must run as `postgres`; the data lives in a temp
    dir that user owns. Missing binaries fail under CI=true (so the test cannot vanish) and skip
    locally.
    """
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        message = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    as_user: list[str] = []
    root = tempfile.mkdtemp(prefix="textrec-pg-")
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    data, port = f"{root}/data", _free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    try:
        run(initdb, "-D", data, "-U", "textrec", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-h 127.0.0.1 -p {port} -k {root} -F"
        run(pg_ctl, "-D", data, "-o", options, "-l", f"{root}/log", "-w", "-t", "60", "start")
        try:
            run(_pg_bin("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port),
                "-U", "textrec", "monitoring")  # fmt: skip
            yield f"postgresql://textrec@127.0.0.1:{port}/monitoring"
        finally:
            run(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
