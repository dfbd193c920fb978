"""`predict` runs each LiteRT interpreter on the machine's cores (serving keeps one thread per
worker): the page detector and a page's line batch are a page read's longest waits. More threads
must never change a reading."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED

from textrec_cli.errors import TextrecError
from textrec_cli.image_io import load_image
from textrec_cli.serving import lite_recognizer as lite
from textrec_cli.serving.runtime import load_exported

COPISTE = SHARED / "data" / "copiste"
LINE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "line_ms.png"


def val_rows(table) -> list[dict[str, str]]:
    with open(table, encoding="utf-8", newline="") as handle:
        return [r for r in csv.DictReader(handle, delimiter="\t") if r["split"] == "val"]


def test_predict_threads_follow_the_env_then_the_cores(monkeypatch) -> None:
    monkeypatch.setenv("TEXTREC_LITERT_THREADS", "3")
    assert lite.predict_threads() == 3
    monkeypatch.delenv("TEXTREC_LITERT_THREADS")
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(64)), raising=False)
    assert lite.predict_threads() == lite.MAX_THREADS
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0}, raising=False)
    assert lite.predict_threads() == 1


def test_threads_reach_the_interpreter(monkeypatch) -> None:
    from ai_edge_litert import interpreter

    asked: list[int] = []

    class Recording(interpreter.Interpreter):
        def __init__(self, *args, num_threads: int | None = None, **kwargs) -> None:
            asked.append(num_threads)
            super().__init__(*args, num_threads=num_threads, **kwargs)

    monkeypatch.setattr(interpreter, "Interpreter", Recording)
    monkeypatch.delenv("TEXTREC_LITERT_THREADS", raising=False)
    recognizer = lite.lite_recognizer(None, "line", False)
    assert recognizer is not None
    recognizer.threads = 3
    recognizer.runtime("line")
    load_exported(recognizer.exports["line"])  # serving's default: one thread per interpreter
    assert asked == [3, 1]


def test_threads_never_change_a_reading() -> None:
    rows = val_rows(COPISTE / "labels.tsv")[:3]
    page = COPISTE / "pages" / val_rows(COPISTE / "pages" / "pages.tsv")[0]["image"]
    paths = [COPISTE / r["file"] for r in rows] + [page]
    items = [(str(p), load_image(p)) for p in paths]
    readings = []
    for threads in (1, 2):
        recognizer = lite.lite_recognizer(None, "auto", None)
        assert recognizer is not None
        recognizer.threads = threads
        readings.append([p.to_dict() for p in recognizer.predict_images(items)])
    one, two = readings
    assert [p["mode"] for p in one] == ["line"] * 3 + ["page"]
    assert len(one[-1]["lines"]) >= 10
    assert one == two


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_bad_thread_count_is_a_clear_error(monkeypatch, value: str) -> None:
    monkeypatch.setenv("TEXTREC_LITERT_THREADS", value)
    with pytest.raises(TextrecError, match="TEXTREC_LITERT_THREADS must be a positive integer"):
        lite.predict_threads()


BLAS_CHECK = """
import json, os, sys
from textrec_cli.cli import main
sys.argv = ["textrec", "predict", "--json", sys.argv[1]]
try:
    main()
except SystemExit:
    pass
print(json.dumps(os.environ.get("OPENBLAS_NUM_THREADS")))
"""


@pytest.mark.parametrize("given", [None, "2"])
def test_predict_starts_numpy_with_one_blas_thread_unless_told(given: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env |= {"OPENBLAS_NUM_THREADS": given} if given else {}
    done = subprocess.run([sys.executable, "-c", BLAS_CHECK, str(LINE)], capture_output=True,
                          text=True, env=env, check=True, timeout=120)  # fmt: skip
    reading, blas = done.stdout.strip().splitlines()
    assert "station" in json.loads(reading)["text"]
    assert json.loads(blas) == (given or "1")
