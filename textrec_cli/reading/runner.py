"""The driver of `textrec read`: list pages, skip what is done, read the rest, write results.

Only this process writes to the output folder: each page's files atomically, then its
manifest line (flushed and fsynced). A kill -9 therefore loses at most the pages in flight, and
a rerun redoes exactly those (see `manifest.py`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from textrec_cli import settings
from textrec_cli.containers import Prediction
from textrec_cli.data.real_lines import inside_path
from textrec_cli.errors import InputError, UnsafePathError
from textrec_cli.fileio import atomic_path, sha256_file
from textrec_cli.reading.engines import ReadSpec, Task, make_engine, peak_rss_mb
from textrec_cli.reading.manifest import MANIFEST_FILE, ManifestWriter, read_manifest
from textrec_cli.reading.sources import PageOpener, PageRef, list_pages

if TYPE_CHECKING:
    from textrec_cli.data.page_xml import Page

FORMATS = {"alto": ".alto.xml", "page": ".page.xml", "jsonl": ".jsonl"}
MODES_TASKS = {"page": {"line", "line_detector"}, "line": {"line"}, "char": {"char"}}
LOCK_FILE = ".textrec-read.lock"
# what `atomic_path` leaves behind when killed mid-write: `.{stem}.{random}.tmp{suffix}`
STALE_TEMP = re.compile(r"^\..+\.tmp(\.xml|\.jsonl)$")
MAX_LISTED_FAILURES = 50


@dataclass
class ReadOptions:
    output: Path
    formats: tuple[str, ...] = ("alto",)
    engine: str = "local"
    workers: int | None = None
    address: str | None = None
    low_confidence: float = 0.5


@dataclass
class Tally:
    """Running counts for the summary."""

    pages: int = 0
    read: int = 0
    skipped: int = 0
    failed: int = 0
    lines: int = 0
    low_confidence: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    workers: dict[int, float] = field(default_factory=dict)


def parse_formats(value: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(f.strip() for f in value.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if not formats or unknown:
        raise InputError(f"--format takes a comma list of {', '.join(FORMATS)}, not {value!r}")
    return formats


def resolve_models(models: list[Path] | None, mode: str) -> ReadSpec:
    """What workers load: the given export folders (Keras folders exported into the cache
    first), or the bundled models the mode needs, read the way `predict` reads them (their
    shipped LiteRT form when up to date, else a cached export; the bundled LM when on)."""
    from textrec_cli.serving.export import cached_export, default_lm

    if not models:
        wanted = MODES_TASKS.get(mode, {"char", "line", "line_detector"})
        bundled = {
            "char": settings.BUNDLED_CHAR_MODEL,
            "line": settings.BUNDLED_LINE_MODEL,
            "line_detector": settings.BUNDLED_DETECTOR,
        }
        dirs = [_bundled_export(bundled[task]) for task in sorted(wanted)]
        lm = default_lm()
        line = next((d for d in dirs if _task(d) == "line"), None)
        needs_lm = lm is not None and line is not None and not _export_lm(line)
        return ReadSpec(tuple(str(d) for d in dirs), mode, str(lm) if needs_lm else None)
    resolved = []
    for path in models:
        if (path / "model.keras").is_file():
            resolved.append(str(cached_export(path, lm=default_lm())))
        elif (path / "metadata.json").is_file():
            resolved.append(str(path))
        else:
            raise InputError(f"not a model or export folder: {path}")
    return ReadSpec(tuple(resolved), mode)


def _bundled_export(model_dir: Path) -> Path:
    """The model's shipped LiteRT folder when it matches its weights, else a cached export
    (made once, with TensorFlow)."""
    from textrec_cli.inference.litert import litert_folder
    from textrec_cli.serving.export import cached_export, default_lm

    shipped = litert_folder(model_dir)
    return shipped or cached_export(model_dir, lm=default_lm())


def _export_lm(folder: str | Path) -> bool:
    try:
        meta = json.loads((Path(folder) / "metadata.json").read_text())
        return bool(meta["export"].get("lm"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _task(folder: str | Path) -> str:
    try:
        return str(json.loads((Path(folder) / "metadata.json").read_text()).get("task", "char"))
    except (OSError, ValueError, AttributeError):
        return "?"


def models_version(spec: ReadSpec) -> str:
    """`VERSIONS#DIGEST`: the models' versions, plus a digest of their export metadata (which
    holds every graph's sha256 and the export's LM), the added LM's files and the mode, so any
    change re-reads the pages."""
    digest = hashlib.sha256(spec.mode.encode())
    versions = []
    for folder in spec.model_dirs:
        meta = Path(folder) / "metadata.json"
        data = meta.read_bytes()
        digest.update(data)
        try:
            versions.append(str(json.loads(data).get("version") or Path(folder).name))
        except ValueError:
            raise InputError(f"corrupt export metadata {meta}") from None
    if spec.lm:
        for path in sorted(Path(spec.lm).rglob("*")):
            if path.is_file():
                digest.update(path.name.encode() + sha256_file(path).encode())
        versions.append("lm")
    return "+".join(versions) + "#" + digest.hexdigest()[:10]


def output_paths(output: Path, key: str, formats: tuple[str, ...]) -> dict[str, Path]:
    """Where a page's readings go: its key with the image suffix swapped, inside `output`."""
    stem = key.rsplit(".", 1)[0] if "." in key.rsplit("/", 1)[-1] else key
    paths = {fmt: inside_path(output, stem + FORMATS[fmt]) for fmt in formats}
    if any(p.name in (MANIFEST_FILE, LOCK_FILE) and p.parent == output for p in paths.values()):
        raise UnsafePathError(f"{key!r} would overwrite the run's own {MANIFEST_FILE}")
    return paths


@contextlib.contextmanager
def output_lock(output: Path) -> Iterator[None]:
    """One `textrec read` per output folder at a time (two would interleave the manifest)."""
    output.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(output / LOCK_FILE, "w")  # noqa: SIM115 (closed below)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(f"another `textrec read` is writing to {output}") from None
        yield
    finally:
        handle.close()


def remove_stale_temps(output: Path) -> int:
    """Temp files a killed run left mid-write (the lock says no run is writing now)."""
    removed = 0
    for root, _, files in os.walk(output):
        for name in files:
            if STALE_TEMP.match(name):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(root, name))
                    removed += 1
    return removed


def is_done(record: dict[str, Any] | None, sha: str, version: str, paths: dict[str, Path]) -> bool:
    return (
        record is not None
        and record.get("status") == "ok"
        and record.get("sha256") == sha
        and record.get("model_version") == version
        and all(p.is_file() for p in paths.values())
    )


def write_outputs(prediction: Prediction, size: tuple[int, int], paths: dict[str, Path]) -> Page:
    """A page's reading as ALTO / PAGE-XML / JSON lines (each file atomic); the page written."""
    from textrec_cli.data.page_xml import Page, write_page_file

    key = prediction.file
    page = Page.of(prediction, size)
    for fmt, path in paths.items():
        if fmt == "jsonl":
            with atomic_path(path) as tmp:
                tmp.write_text(
                    "".join(
                        json.dumps({"file": key, "line": i, **line.to_dict()}, ensure_ascii=False)
                        + "\n"
                        for i, line in enumerate(page.lines, 1)
                    ),
                    encoding="utf-8",
                )
        else:
            write_page_file(page, path, fmt)
    return page


def read_archive(
    sources: list[Path],
    spec: ReadSpec,
    options: ReadOptions,
    advance: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Read every page of `sources` not already done into `options.output`; the summary."""
    output = options.output
    refs = list_pages(sources)
    if not refs:
        raise InputError(f"no images found in {', '.join(map(str, sources))}")
    if on_total:
        on_total(len(refs))
    advance = advance or (lambda n=1: None)
    version = models_version(spec)
    tally = Tally(pages=len(refs))
    started = time.perf_counter()
    workers = 0
    with output_lock(output):
        remove_stale_temps(output)
        previous = read_manifest(output / MANIFEST_FILE)
        opener = PageOpener()
        try:
            with ManifestWriter(output / MANIFEST_FILE) as manifest:
                plan = _Plan(output, options, version, previous, manifest, tally, advance)
                tasks = plan.tasks(opener.pages(refs))
                first = next(tasks, None)
                if first is not None:  # models load only when a page needs reading
                    engine = make_engine(options.engine, spec, options.workers, options.address)
                    workers = engine.workers
                    try:
                        for task, result in engine.imap(itertools.chain([first], tasks)):
                            plan.finish(task, result)
                    finally:
                        engine.close()
        finally:
            opener.close()
    seconds = time.perf_counter() - started
    return {
        "pages": tally.pages,
        "read": tally.read,
        "skipped": tally.skipped,
        "failed": tally.failed,
        "lines": tally.lines,
        "seconds": round(seconds, 3),
        "pages_per_second": round(tally.read / seconds, 3) if seconds > 0 else 0.0,
        "low_confidence_pages": len(tally.low_confidence),
        "low_confidence_threshold": options.low_confidence,
        "low_confidence_files": tally.low_confidence[:MAX_LISTED_FAILURES],
        "failures": tally.failures[:MAX_LISTED_FAILURES],
        "engine": options.engine,
        "workers": workers,
        "model_version": version,
        "formats": list(options.formats),
        "output": str(output),
        "manifest": str(output / MANIFEST_FILE),
        "worker_peak_rss_mb": {str(pid): mb for pid, mb in sorted(tally.workers.items())},
        "driver_peak_rss_mb": peak_rss_mb(),
    }


class _Plan:
    """Turns listed pages into tasks (skipping done ones, failing unreadable ones) and records
    each answer: outputs first, then the manifest line."""

    def __init__(
        self,
        output: Path,
        options: ReadOptions,
        version: str,
        previous: dict[str, dict[str, Any]],
        manifest: ManifestWriter,
        tally: Tally,
        advance: Callable[[int], None],
    ) -> None:
        self.output, self.options, self.version = output, options, version
        self.previous, self.manifest, self.tally, self.advance = previous, manifest, tally, advance
        self.inflight: dict[int, tuple[PageRef, str, dict[str, Path]]] = {}
        self.seen: set[str] = set()

    def tasks(self, pages: Iterator[tuple[PageRef, bytes | None, str | None]]) -> Iterator[Task]:
        for ticket, (ref, data, error) in enumerate(pages):
            sha = hashlib.sha256(data).hexdigest() if data is not None else None
            if data is None:
                self.fail(ref, sha, error or "unreadable")
                continue
            if ref.key in self.seen:
                self.fail(ref, sha, f"{ref.origin}: another page already writes to {ref.key}")
                continue
            self.seen.add(ref.key)
            try:
                paths = output_paths(self.output, ref.key, self.options.formats)
            except UnsafePathError as exc:
                self.fail(ref, sha, f"{ref.origin}: {exc}")
                continue
            record = self.previous.get(ref.key)
            if sha is not None and is_done(record, sha, self.version, paths):
                self.tally.skipped += 1
                self._count_confidence(ref.key, record.get("confidence") if record else None)
                self.advance(1)
                continue
            self.inflight[ticket] = (ref, sha or "", paths)
            yield Task(ticket, ref.key, data)

    def finish(self, task: Task, result: dict[str, Any]) -> None:
        ref, sha, paths = self.inflight.pop(task.ticket)
        worker = result.get("worker") or {}
        if "pid" in worker:
            self.tally.workers[worker["pid"]] = worker.get("peak_rss_mb", 0.0)
        if "error" in result:
            self.fail(ref, sha, result["error"], result.get("seconds"))
            return
        try:
            prediction = Prediction.from_dict({**result["prediction"], "file": ref.key})
            page = write_outputs(prediction, tuple(result["size"]), paths)
        except (OSError, InputError, KeyError, TypeError, ValueError) as exc:
            self.fail(ref, sha, f"{ref.origin}: could not write its outputs ({exc})")
            return
        lines = len(page.lines)
        confidence = round(prediction.confidence, 6)
        self.manifest.append(
            {
                "file": ref.key,
                "source": ref.origin,
                "sha256": sha,
                "status": "ok",
                "seconds": result.get("seconds"),
                "lines": lines,
                "confidence": confidence,
                "mode": prediction.mode,
                "model_version": self.version,
                "outputs": [p.relative_to(self.output).as_posix() for p in paths.values()],
                "finished": round(time.time(), 3),
            }
        )
        self.tally.read += 1
        self.tally.lines += lines
        self._count_confidence(ref.key, confidence)
        self.advance(1)

    def fail(
        self, ref: PageRef, sha: str | None, reason: str, seconds: float | None = None
    ) -> None:
        self.manifest.append(
            {
                "file": ref.key,
                "source": ref.origin,
                "sha256": sha,
                "status": "failed",
                "error": reason,
                "seconds": seconds,
                "model_version": self.version,
                "finished": round(time.time(), 3),
            }
        )
        self.tally.failed += 1
        self.tally.failures.append({"file": ref.origin, "error": reason})
        self.advance(1)

    def _count_confidence(self, key: str, confidence: Any) -> None:
        if not isinstance(confidence, int | float) or confidence < self.options.low_confidence:
            self.tally.low_confidence.append(key)
