"""`textrec read`: whole archives into ALTO + manifest, resumable, locally and on Ray.

Real pages (three small val pages of ../shared/data/copiste/pages) read with the bundled models
on the LiteRT runtime. The Ray tests start a 2-CPU local cluster on 127.0.0.1 once per module.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from cli_helpers import run_cli
from conftest import SHARED
from lxml import etree
from PIL import Image

PAGES = SHARED / "data" / "copiste" / "pages" / "images"
PAGE_NAMES = ("imp_wikitexte_0117_2.jpg", "wikitexte_0053_2.jpg", "wikitexte_0180_2.jpg")
ALTO_NS = "{http://www.loc.gov/standards/alto/ns-v4#}"


def _copy_pages(folder: Path) -> Path:
    missing = [n for n in PAGE_NAMES if not (PAGES / n).is_file()]
    if missing:
        pytest.skip(f"shared pages missing: {', '.join(missing)} under {PAGES}")
    (folder / "box1").mkdir(parents=True)
    shutil.copy(PAGES / PAGE_NAMES[0], folder / PAGE_NAMES[0])
    for name in PAGE_NAMES[1:]:
        shutil.copy(PAGES / name, folder / "box1" / name)
    return folder


@pytest.fixture
def pages(tmp_path: Path) -> Path:
    return _copy_pages(tmp_path / "archive")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """An uninterrupted local run's outputs: what every other run must reproduce."""
    root = tmp_path_factory.mktemp("reference")
    source = _copy_pages(root / "archive")
    result = run_cli("read", source, "--output", root / "out", "--json", "--no-progress")
    assert result.exit_code == 0, result.output
    return _outputs(root / "out")


def _outputs(folder: Path) -> dict[str, bytes]:
    """Every file a run wrote except the manifest and the lock: relative path -> bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("manifest.jsonl", ".textrec-read.lock")
    }


def _manifest(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def _summary(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


def _read(*args, engine: tuple[str, ...] = ()):
    return run_cli("read", *args, "--json", "--no-progress", *engine)


def _check_folder_run(pages: Path, out: Path, reference: dict[str, bytes], engine: tuple) -> None:
    result = _read(pages, "--output", out, engine=engine)
    assert result.exit_code == 0, result.output
    summary = _summary(result)
    assert (summary["pages"], summary["read"], summary["failed"]) == (3, 3, 0)
    expected = {"imp_wikitexte_0117_2.alto.xml", "box1/wikitexte_0053_2.alto.xml",
                "box1/wikitexte_0180_2.alto.xml"}  # fmt: skip
    assert set(_outputs(out)) == expected
    records = {r["file"]: r for r in _manifest(out)}
    assert set(records) == {
        "imp_wikitexte_0117_2.jpg", "box1/wikitexte_0053_2.jpg", "box1/wikitexte_0180_2.jpg"
    }  # fmt: skip
    for key, record in records.items():
        assert record["status"] == "ok"
        assert record["sha256"] == hashlib.sha256((pages / key).read_bytes()).hexdigest()
        alto = etree.parse(str(out / key.replace(".jpg", ".alto.xml")))
        strings = alto.findall(f".//{ALTO_NS}String")
        assert record["lines"] == len(strings) > 0
        assert any(s.get("CONTENT").strip() for s in strings)  # real text, not empty lines
    assert summary["lines"] == sum(r["lines"] for r in records.values())
    # the same pages read by any engine give byte-identical ALTO
    assert _outputs(out) == reference

    before = {p: (out / p).stat().st_mtime_ns for p in _outputs(out)}
    rerun = _read(pages, "--output", out, engine=engine)
    assert rerun.exit_code == 0, rerun.output
    summary = _summary(rerun)
    assert (summary["read"], summary["skipped"], summary["workers"]) == (0, 3, 0)  # no models
    assert len(_manifest(out)) == 3
    assert {p: (out / p).stat().st_mtime_ns for p in _outputs(out)} == before

    if engine:  # which pages need reading is the driver's decision, the same for every engine
        return
    # a changed page (same name, new bytes) is read again; the others stay skipped
    shutil.copy(pages / "box1" / "wikitexte_0053_2.jpg", pages / "imp_wikitexte_0117_2.jpg")
    changed = _summary(_read(pages, "--output", out, engine=engine))
    assert (changed["read"], changed["skipped"]) == (1, 2)


def test_reads_a_folder_to_alto_and_a_rerun_does_no_work(pages, tmp_path, reference) -> None:
    _check_folder_run(pages, tmp_path / "out", reference, ())


def test_two_local_workers_and_every_format(pages, tmp_path, reference) -> None:
    out = tmp_path / "out"
    result = _read(pages, "--output", out, "--workers", "2", "--format", "alto,page,jsonl")
    assert result.exit_code == 0, result.output
    summary = _summary(result)
    assert summary["workers"] == 2 and len(summary["worker_peak_rss_mb"]) == 2
    written = _outputs(out)
    assert {k: v for k, v in written.items() if k.endswith(".alto.xml")} == reference
    for record in _manifest(out):
        stem = record["file"].removesuffix(".jpg")
        page = etree.fromstring(written[f"{stem}.page.xml"])
        assert len(page.findall(".//{*}TextLine")) == record["lines"]
        rows = [json.loads(line) for line in written[f"{stem}.jsonl"].decode().splitlines()]
        assert [r["line"] for r in rows] == list(range(1, record["lines"] + 1))
    # asking for a format the first run did not write re-reads only what lacks it
    more = _summary(_read(pages, "--output", out, "--format", "alto,page"))
    assert (more["read"], more["skipped"]) == (0, 3)


def _bad_pages(folder: Path) -> dict[str, str]:
    """name -> a word its failure reason must contain."""
    good = (folder / PAGE_NAMES[0]).read_bytes()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    buffer = io.BytesIO()
    Image.new("1", (9000, 5000)).save(buffer, format="PNG")  # 45 Mpx: over the pixel limit
    (folder / "bomb.png").write_bytes(buffer.getvalue())
    return {"empty.jpg": "empty", "corrupt.png": "not an image", "truncated.jpg": "truncated",
            "bomb.png": "pixel limit"}  # fmt: skip


def _check_bad_pages(pages: Path, out: Path, engine: tuple) -> None:
    reasons = _bad_pages(pages)
    result = _read(pages, "--output", out, engine=engine)
    assert result.exit_code == 2, result.output
    summary = _summary(result)
    assert (summary["read"], summary["failed"]) == (3, 4)
    records = {r["file"]: r for r in _manifest(out)}
    for name, word in reasons.items():
        assert records[name]["status"] == "failed"
        assert word in records[name]["error"], records[name]
        assert not (out / name.rsplit(".", 1)[0]).with_suffix(".alto.xml").exists()
    assert all(records[k]["status"] == "ok" for k in records if k not in reasons)


def test_bad_pages_fail_with_reasons_and_the_run_goes_on(pages, tmp_path) -> None:
    _check_bad_pages(pages, tmp_path / "out", ())


def test_zip_tar_and_list_sources_never_write_outside(pages, tmp_path) -> None:
    data = (pages / PAGE_NAMES[0]).read_bytes()
    with zipfile.ZipFile(tmp_path / "scans.zip", "w") as zf:
        zf.writestr("vol1/p1.jpg", data)
        zf.writestr("../escape.jpg", data)
        zf.writestr("/tmp/absolute.jpg", data)
    with tarfile.open(tmp_path / "more.tar.gz", "w:gz") as tf:
        for name in ("vol2/p2.jpg", "../../escape2.jpg"):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("vol2/link.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# pages\narchive/box1/{PAGE_NAMES[1]}\n")
    out = tmp_path / "nested" / "out"
    before = {p for p in tmp_path.parent.rglob("*") if "nested" not in p.parts}
    result = _read(tmp_path / "scans.zip", tmp_path / "more.tar.gz", listing, "--output", out)
    assert result.exit_code == 2, result.output
    records = {r["source"]: r for r in _manifest(out)}
    ok = {r["file"] for r in records.values() if r["status"] == "ok"}
    assert ok == {
        "scans/vol1/p1.jpg",
        "more/vol2/p2.jpg",
        f"list/archive/box1/{PAGE_NAMES[1]}",
    }
    for member in ("../escape.jpg", "/tmp/absolute.jpg", "../../escape2.jpg"):
        assert (
            "unsafe member name"
            in next(r for s, r in records.items() if s.endswith(member))["error"]
        )
    assert "link" in next(r for s, r in records.items() if s.endswith("vol2/link.jpg"))["error"]
    after = {p for p in tmp_path.parent.rglob("*") if "nested" not in p.parts}
    assert after == before  # nothing written beside the output folder
    assert not Path("/tmp/absolute.alto.xml").exists()
    assert all(out in p.parents for p in out.rglob("*"))


def _kill_mid_run_then_resume(
    pages: Path, out: Path, reference: dict[str, bytes], engine: tuple
) -> None:
    # six pages (the three, twice), so a kill after the first lands while most are in flight
    shutil.copytree(pages, pages / "copy")
    expected = {**reference, **{f"copy/{k}": v for k, v in reference.items()}}
    command = [sys.executable, "-m", "textrec_cli", "read", str(pages), "--output", str(out),
               "--no-progress", *engine]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 180
    while not (manifest.is_file() and manifest.read_bytes().count(b"\n") >= 1):
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no page read within 180 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    done = len(_manifest(out))
    assert 1 <= done < 6, "the kill did not land mid-run"
    for path, data in _outputs(out).items():  # whatever exists is whole: no torn XML
        if path.endswith(".xml") and not Path(path).name.startswith("."):
            etree.fromstring(data)
    result = _read(pages, "--output", out, engine=engine)
    assert result.exit_code == 0, result.output
    summary = _summary(result)
    assert summary["skipped"] == done and summary["read"] == 6 - done
    assert _outputs(out) == expected  # as if never interrupted, no temp files left


def test_kill_9_mid_run_then_rerun_gives_the_uninterrupted_outputs(
    pages, tmp_path, reference
) -> None:
    _kill_mid_run_then_resume(pages, tmp_path / "out", reference, ())


def test_a_torn_manifest_line_is_ignored_and_redone(pages, tmp_path, reference) -> None:
    out = tmp_path / "out"
    assert _read(pages, "--output", out).exit_code == 0
    lines = (out / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    (out / "manifest.jsonl").write_bytes(b"".join(lines[:2]) + lines[2][:25])  # torn mid-write
    (out / ".stale.abc123.tmp.xml").write_text("<half")  # what a kill leaves from atomic_path
    summary = _summary(_read(pages, "--output", out))
    assert (summary["read"], summary["skipped"]) == (1, 2)
    assert _outputs(out) == reference  # the stale temp file is gone too
    raw = (out / "manifest.jsonl").read_text().splitlines()
    records = _readable(out / "manifest.jsonl")
    assert len(raw) == 4  # the torn line stays, on its own line; the redone page follows it
    assert len(records) == 3 and all(r["status"] == "ok" for r in records)


def _readable(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


# --- Ray: the same checks on a local 2-CPU cluster -------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="--engine ray needs: pip install 'textrec[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_ray_reads_a_folder_and_a_rerun_does_no_work(pages, tmp_path, reference, ray_cluster):
    _check_folder_run(pages, tmp_path / "out", reference, ("--engine", "ray", "--workers", "2"))


def test_ray_bad_pages_fail_with_reasons(pages, tmp_path, ray_cluster) -> None:
    _check_bad_pages(pages, tmp_path / "out", ("--engine", "ray", "--workers", "2"))


def test_ray_kill_9_of_the_driver_then_rerun(pages, tmp_path, reference, ray_cluster) -> None:
    engine = ("--engine", "ray", "--workers", "2", "--address", ray_cluster)
    _kill_mid_run_then_resume(pages, tmp_path / "out", reference, engine)
