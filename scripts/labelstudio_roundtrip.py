"""The labeling loop through a real Label Studio server (`nox -s labelstudio` runs it).

1. `textrec predict --log --keep-images` on real val lines of ../shared/data/copiste (else the
   line in docs/examples) fills a prediction store; `textrec label-export` writes the import.
2. Label Studio starts on 127.0.0.1 (a free port, its data in a temp folder, a preset user and
   legacy API token: no signup page), serving the export's images as local files.
3. Through the REST API: a project from the export's label_config.xml, a local-files storage for
   its images, the tasks imported, each image fetched back through the server, an annotation
   submitted for every task but one (the line's true text, as a person would type it), and the
   project exported as Label Studio JSON.
4. `textrec label-import` turns that export into a real_lines folder: every annotated line is
   there with its typed text, the unannotated task is reported; `textrec train --lines-dir`
   then trains on it for a few steps.

    python scripts/labelstudio_roundtrip.py --label-studio PATH/label-studio [--lines 12]

Prints one JSON summary (stage timings included) on stdout; exits non-zero on any failure. The
server is stopped in every case.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
COPISTE = ROOT.parent / "shared" / "data" / "copiste"
FALLBACK_LINE = ROOT / "docs" / "examples" / "line_ms.png"
FALLBACK_TEXT = "Meet me at the station at noon."
HEALTH_TIMEOUT_S = 600  # a first start migrates a fresh database: 290 s on a 2-core box at load 14
USER = "roundtrip@textrec.invalid"


class RoundTripError(RuntimeError):
    """A stage did not do what it must; the message names the stage and what came back."""


def source_lines(count: int) -> list[tuple[Path, str]]:
    """(image, true text) for `count` val lines of Copiste that the line models can spell
    (label-import rightly refuses the others), or the example line alone."""
    from textrec_cli.data.charsets import LINE_CHARSET, normalize_text, unknown_chars

    labels = COPISTE / "labels.tsv"
    if not labels.is_file():
        print(f"note: {labels} not found: one example line only", file=sys.stderr)
        return [(FALLBACK_LINE, FALLBACK_TEXT)]
    charset = set(LINE_CHARSET)
    with open(labels, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    spelled = [r for r in rows if not unknown_chars(normalize_text(r["text"]), charset)]
    return [(COPISTE / r["file"], r["text"]) for r in spelled if r["split"] == "val"][:count]


def textrec(*args: str) -> dict[str, Any]:
    """Run `textrec ARGS --json` with this interpreter; its last stdout line, parsed."""
    command = [sys.executable, "-m", "textrec_cli", *args, "--json"]
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RoundTripError(f"`textrec {' '.join(args[:3])} ...` exited {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def label_studio(executable: str, work: Path, files_root: Path, token: str):
    """A Label Studio server for the block: (base URL, its log file); always stopped after."""
    port = free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(work / "ls-data"),
        "LABEL_STUDIO_USERNAME": USER,
        "LABEL_STUDIO_PASSWORD": secrets.token_urlsafe(16),
        "LABEL_STUDIO_USER_TOKEN": token,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",  # `Authorization: Token ...` works
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(files_root),
        "SENTRY_DSN": "",
        "COLLECT_ANALYTICS": "false",
    }
    log_path = work / "label-studio.log"
    command = [
        executable,
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(work / "ls-data"),
    ]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield f"http://127.0.0.1:{port}", server, log_path
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # its own session: gunicorn/uwsgi children too
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def wait_healthy(base: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RoundTripError(f"label-studio exited {server.returncode}:\n{tail}")
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RoundTripError(f"label-studio not healthy after {HEALTH_TIMEOUT_S} s (log {log_path})")


def api(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    if response.status_code >= 400:
        raise RoundTripError(f"{method} {path}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else None


def project_tasks(client: httpx.Client, project: int) -> list[dict[str, Any]]:
    """Every task of the project (the list endpoint pages; older servers wrap it in `tasks`)."""
    tasks, page = [], 1
    while True:
        body = api(
            client, "GET", "/api/tasks", params={"project": project, "page": page, "page_size": 100}
        )
        batch = body.get("tasks", body.get("results", [])) if isinstance(body, dict) else body
        tasks += batch
        total = body.get("total") if isinstance(body, dict) else None
        if not batch or total is None or len(tasks) >= total:
            return tasks
        page += 1


def annotation(text: str) -> dict[str, Any]:
    """What the labeling interface submits for a typed transcription."""
    from textrec_cli.labeling.label_studio import FROM_NAME, TO_NAME

    value = {"text": [text]}
    result = {"from_name": FROM_NAME, "to_name": TO_NAME, "type": "textarea", "value": value}
    return {"result": [result], "was_cancelled": False, "ground_truth": False, "lead_time": 4.2}


def run(executable: str, count: int, work: Path, steps: int) -> dict[str, Any]:
    from textrec_cli.data.charsets import normalize_text
    from textrec_cli.image_io import load_image
    from textrec_cli.monitoring.features import content_hash

    timings: dict[str, float] = {}
    started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        timings[name] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()

    lines = source_lines(count)
    truth = {content_hash(load_image(path)): text for path, text in lines}
    store = work / "store.db"
    textrec(
        "predict",
        "--mode",
        "line",
        "--log",
        "--keep-images",
        "--store",
        str(store),
        *map(str, (path for path, _ in lines)),
    )
    export_dir = work / "export"
    exported = textrec(
        "label-export", str(export_dir), "--store", str(store), "--limit", str(len(lines))
    )
    lap("predict_and_export")

    token = secrets.token_hex(20)
    summary: dict[str, Any] = {"lines": len(lines), "exported_tasks": exported["tasks"]}
    with label_studio(executable, work, work, token) as (base, server, log_path):
        wait_healthy(base, server, log_path)
        lap("server_start")
        headers = {"Authorization": f"Token {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            config = (export_dir / "label_config.xml").read_text(encoding="utf-8")
            setup = {"title": "textrec round trip", "label_config": config}
            project = api(client, "POST", "/api/projects", json=setup)["id"]
            api(
                client,
                "POST",
                "/api/storages/localfiles",
                json={
                    "project": project,
                    "title": "export images",
                    "use_blob_urls": False,
                    "path": str(export_dir / "images"),
                },
            )
            tasks_file = json.loads((export_dir / "tasks.json").read_text(encoding="utf-8"))
            imported = api(client, "POST", f"/api/projects/{project}/import", json=tasks_file)
            tasks = project_tasks(client, project)
            if len(tasks) != exported["tasks"]:
                raise RoundTripError(f"{exported['tasks']} tasks sent, {len(tasks)} in project")
            image = client.get(tasks[0]["data"]["image"])  # as the labeling page loads it
            if image.status_code != 200 or not image.content.startswith(b"\x89PNG"):
                raise RoundTripError(f"image URL {tasks[0]['data']['image']}: {image.status_code}")
            skipped = tasks[-1]["id"]  # left unlabeled: label-import must report it
            for task in tasks[:-1]:
                text = truth.get(task["data"]["image_hash"])
                if text is None:
                    raise RoundTripError(f"task {task['id']}: image not one of the sent lines")
                api(client, "POST", f"/api/tasks/{task['id']}/annotations", json=annotation(text))
            lap("label_studio_api")
            export = api(
                client,
                "GET",
                f"/api/projects/{project}/export",
                params={"exportType": "JSON", "download_all_tasks": "true"},
            )
        summary |= {"label_studio_import": imported, "annotated": len(tasks) - 1}
    export_file = export_dir / "label_studio_export.json"
    export_file.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    lap("export_and_stop")

    real_lines = work / "real_lines"
    report = textrec(
        "label-import", str(export_file), "--output", str(real_lines), "--val-fraction", "0.25"
    )
    expected = {normalize_text(truth[t["data"]["image_hash"]]) for t in tasks[:-1]}
    with open(real_lines / "labels.tsv", encoding="utf-8", newline="") as handle:
        written = [
            r["text"] for r in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        ]
    if report["imported"] != len(tasks) - 1 or set(written) != expected:
        raise RoundTripError(
            f"label-import wrote {report['imported']} lines {written!r}; "
            f"expected {len(tasks) - 1}: {sorted(expected)!r}"
        )
    if report["problem_counts"] != {"unlabeled": 1} or report["problems"][0]["task_id"] != skipped:
        raise RoundTripError(
            f"label-import problems {report['problems']!r}: expected task {skipped} unlabeled"
        )
    lap("label_import")

    trained = textrec(
        "train",
        "--model",
        "line_tcn",
        "--dataset",
        "real_lines",
        "--lines-dir",
        str(real_lines),
        "--epochs",
        "1",
        "--steps-per-epoch",
        str(steps),
        "--batch-size",
        "4",
        "--val-lines",
        "4",
        "--no-wandb",
        "--output",
        str(work / "run"),
    )
    lap("train")
    return summary | {
        "real_lines": {
            "imported": report["imported"],
            "splits": report["splits"],
            "problems": report["problem_counts"],
        },
        "train_metrics": trained["metrics"],
        "seconds": timings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label-studio", required=True, help="the label-studio executable")
    parser.add_argument("--lines", type=int, default=12, help="val lines sent for labeling")
    parser.add_argument("--steps", type=int, default=2, help="training steps on the import")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        summary = run(args.label_studio, args.lines, args.keep.resolve(), args.steps)
    else:
        with tempfile.TemporaryDirectory(prefix="textrec-ls-") as work:
            summary = run(args.label_studio, args.lines, Path(work), args.steps)
    summary["seconds"]["total"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    try:
        main()
    except RoundTripError as exc:
        sys.exit(f"labelstudio round trip failed: {exc}")
