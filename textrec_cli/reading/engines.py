"""Where pages are read: in this process, in N local processes, or on Ray actors.

Every engine runs the same `read_page` on workers that load the LiteRT models once; the driver
(`reading/runner.py`) alone writes outputs and the manifest, so resuming works the same
whichever engine read the pages. Pages go out in bounded numbers (two per worker), so memory
stays flat however large the archive.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from textrec_cli.errors import InputError, TextrecError

IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True)
class ReadSpec:
    """What a worker needs to read pages (picklable): export folders and the reading mode."""

    model_dirs: tuple[str, ...]
    mode: str = "page"
    lm: str | None = None  # an LM folder for a line export that carries none (as `predict`)


@dataclass(frozen=True)
class Task:
    """One page sent to a worker; `ticket` lets the driver match the answer to its page."""

    ticket: int
    name: str
    data: bytes


def load_recognizer(spec: ReadSpec) -> Any:
    from textrec_cli.serving.runtime import LineRuntime, ServingRecognizer

    recognizer = ServingRecognizer.from_paths(list(spec.model_dirs))
    line = recognizer.models.get("line")
    if spec.lm and isinstance(line, LineRuntime):
        line.use_lm(spec.lm)
    return recognizer


def peak_rss_mb() -> float:
    """This process's peak resident memory (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


def read_page(recognizer: Any, data: bytes, name: str, mode: str) -> dict[str, Any]:
    """Decode and read one page. Any failure becomes {"error": reason}: one bad page (corrupt,
    empty, a decompression bomb) must never stop an archive."""
    from textrec_cli.image_io import load_image_bytes

    started = time.perf_counter()
    result: dict[str, Any]
    try:
        image = load_image_bytes(data, name)
        prediction = recognizer.predict(image, mode=mode, name=name)
        result = {"prediction": prediction.to_dict(), "size": list(image.size)}
    except InputError as exc:
        result = {"error": str(exc)}
    except Exception as exc:  # a model or decoder crash on one page: record it, go on
        result = {"error": f"{name}: {type(exc).__name__}: {exc}"}
    result["seconds"] = round(time.perf_counter() - started, 4)
    result["worker"] = {"pid": os.getpid(), "peak_rss_mb": peak_rss_mb()}
    return result


class InProcessEngine:
    """`--workers 1`: no process hops; the models load in this process."""

    workers = 1

    def __init__(self, spec: ReadSpec) -> None:
        self.spec = spec
        self.recognizer = load_recognizer(spec)

    def imap(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, dict[str, Any]]]:
        for task in tasks:
            yield task, read_page(self.recognizer, task.data, task.name, self.spec.mode)

    def close(self) -> None:
        pass


_WORKER_RECOGNIZER: Any = None
_WORKER_MODE = "page"
_WORKER_ERROR: str | None = None


def _init_worker(spec: ReadSpec) -> None:
    global _WORKER_RECOGNIZER, _WORKER_MODE, _WORKER_ERROR
    try:
        _WORKER_RECOGNIZER, _WORKER_MODE = load_recognizer(spec), spec.mode
    except Exception as exc:  # reported by _worker_ready, not as a dead pool
        _WORKER_ERROR = f"{type(exc).__name__}: {exc}"


def _worker_ready() -> str | None:
    return _WORKER_ERROR


def _read_in_worker(data: bytes, name: str) -> dict[str, Any]:
    if _WORKER_ERROR:
        return {"error": f"{name}: the worker could not load the models ({_WORKER_ERROR})"}
    return read_page(_WORKER_RECOGNIZER, data, name, _WORKER_MODE)


class ProcessEngine:
    """`--workers N`: N spawned processes, each loading the models once (its initializer)."""

    def __init__(self, spec: ReadSpec, workers: int) -> None:
        self.spec, self.workers = spec, workers
        self.pool = self._new_pool()
        errors = {f.result() for f in [self.pool.submit(_worker_ready) for _ in range(workers)]}
        errors.discard(None)
        if errors:
            self.close()
            raise TextrecError(f"workers could not load the models: {errors.pop()}")

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.spec,),
        )

    def imap(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, dict[str, Any]]]:
        source = iter(tasks)
        pending: dict[Future, Task] = {}

        def submit_next() -> None:
            task = next(source, None)
            if task is not None:
                pending[self.pool.submit(_read_in_worker, task.data, task.name)] = task

        for _ in range(self.workers * IN_FLIGHT_PER_WORKER):
            submit_next()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                task = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    broken = True
                    result = {"error": f"{task.name}: a worker process died while reading it"}
                yield task, result
            if broken:  # every page still in flight died with it: report them, start afresh
                for future, task in list(pending.items()):
                    pending.pop(future)
                    yield task, {"error": f"{task.name}: a worker process died while reading it"}
                self.pool.shutdown(wait=False, cancel_futures=True)
                self.pool = self._new_pool()
            while len(pending) < self.workers * IN_FLIGHT_PER_WORKER:
                before = len(pending)
                submit_next()
                if len(pending) == before:
                    break

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def pack_models(spec: ReadSpec) -> dict[str, dict[str, bytes]]:
    """Export folders (and the LM) as bytes, so Ray workers need no shared model path."""
    packed: dict[str, dict[str, bytes]] = {}
    folders = list(spec.model_dirs) + ([spec.lm] if spec.lm else [])
    for index, folder in enumerate(folders):
        root = Path(folder)
        files = {
            path.relative_to(root).as_posix(): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }
        packed[f"{index}-{root.name}"] = files
    return packed


def unpack_models(
    packed: dict[str, dict[str, bytes]], root: Path, mode: str, has_lm: bool
) -> ReadSpec:
    from textrec_cli.data.real_lines import inside_path

    dirs: list[str] = []
    for name, files in packed.items():
        folder = inside_path(root, name)
        for relative, data in files.items():
            target = inside_path(folder, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        dirs.append(str(folder))
    lm = dirs.pop() if has_lm else None
    return ReadSpec(tuple(dirs), mode, lm)


class PageActor:
    """A Ray actor: unpacks the models into a temp folder and loads them once."""

    def __init__(self, packed: dict[str, dict[str, bytes]], mode: str, has_lm: bool) -> None:
        self.folder = tempfile.mkdtemp(prefix="textrec-read-models-")
        self.spec = unpack_models(packed, Path(self.folder), mode, has_lm)
        self.recognizer = load_recognizer(self.spec)

    def ready(self) -> int:
        return os.getpid()

    def read(self, data: bytes, name: str) -> dict[str, Any]:
        return read_page(self.recognizer, data, name, self.spec.mode)


class RayEngine:
    """`--engine ray`: one actor per worker (one CPU each) on the cluster at `address`.

    With no address (and no Ray already initialised) Ray starts a local cluster for the run.
    """

    def __init__(self, spec: ReadSpec, workers: int | None, address: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise TextrecError("--engine ray needs Ray: pip install 'textrec[ray]'") from None
        self.ray = ray
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            options: dict[str, Any] = {"log_to_driver": False}
            if address is None:
                options["include_dashboard"] = False
            ray.init(address=address, **options)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or max(cpus, 1)
        packed = ray.put(pack_models(spec))
        actor = ray.remote(num_cpus=1)(PageActor)
        has_lm = spec.lm is not None
        self.actors = [actor.remote(packed, spec.mode, has_lm) for _ in range(self.workers)]
        try:  # every actor has loaded its models (or the reason it could not) before any page
            ray.get([a.ready.remote() for a in self.actors])
        except ray.exceptions.RayError as exc:
            self.close()
            raise TextrecError(f"Ray workers could not load the models: {exc}") from None

    def imap(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, dict[str, Any]]]:
        ray = self.ray
        source = iter(tasks)
        pending: dict[Any, tuple[Task, Any]] = {}
        free = [a for a in self.actors for _ in range(IN_FLIGHT_PER_WORKER)]

        def submit(actor: Any) -> bool:
            task = next(source, None)
            if task is None:
                return False
            pending[actor.read.remote(task.data, task.name)] = (task, actor)
            return True

        while free and submit(free[0]):
            free.pop(0)
        while pending:
            [ready], _ = ray.wait(list(pending), num_returns=1)
            task, actor = pending.pop(ready)
            try:
                result = ray.get(ready)
            except ray.exceptions.RayError as exc:
                result = {"error": f"{task.name}: Ray worker failed ({type(exc).__name__})"}
            yield task, result
            submit(actor)

    def close(self) -> None:
        for actor in getattr(self, "actors", []):
            self.ray.kill(actor)
        if self.owns_ray:
            self.ray.shutdown()


def make_engine(
    engine: str, spec: ReadSpec, workers: int | None, address: str | None
) -> InProcessEngine | ProcessEngine | RayEngine:
    if engine == "ray":
        return RayEngine(spec, workers, address)
    if engine != "local":
        raise InputError(f"--engine must be local or ray, not {engine!r}")
    if address:
        raise InputError("--address is for --engine ray")
    if (workers or 1) <= 1:
        return InProcessEngine(spec)
    return ProcessEngine(spec, workers or 1)
