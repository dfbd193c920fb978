"""Hyper-parameter sweeps over `textrec train`, written in W&B's sweep format.

With W&B online the sweep server picks the trials (grid, random or bayes) and `wandb agent`
processes run them, here and on any machine that joins with `wandb agent ENTITY/PROJECT/ID`.
Offline, W&B's own sweep engine (the `sweeps` package, the code behind its sweep server)
expands grid and random trials from the same YAML, and each one is a `textrec train`
subprocess, so a crashing trial is recorded and the sweep goes on.
"""

from __future__ import annotations

import json
import math
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from textrec_cli import settings
from textrec_cli.errors import TextrecError
from textrec_cli.fileio import write_json
from textrec_cli.progress import progress_bar, stderr_console

METHODS = ("grid", "random", "bayes")
DISTRIBUTIONS = (
    "constant", "categorical", "int_uniform", "uniform", "q_uniform", "log_uniform",
    "log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values", "normal",
    "q_normal", "log_normal", "q_log_normal",
)  # fmt: skip
RESERVED = ("output", "json", "data_dir")  # set by the sweep for every trial
DEFAULT_RANDOM_COUNT = 10


@dataclass
class Trial:
    name: str
    params: dict[str, Any]
    status: str = "pending"  # ok | failed
    metric: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    run_dir: str = ""
    error: str | None = None
    seconds: float = 0.0
    rank: int | None = None


# ---------------------------------------------------------------- config


def wandb_online(online: bool | None = None) -> bool:
    """W&B's sweep server or the offline engine: the same rule as training runs use."""
    return online if online is not None else settings.wandb_mode() == "online"


def load_sweep(path: str | Path) -> dict[str, Any]:
    """Read and check a sweep YAML; every problem is one line naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise TextrecError(f"sweep config not found: {path}") from None
    except OSError as exc:
        raise TextrecError(f"cannot read sweep config {path}: {exc.strerror}") from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise TextrecError(
            f"{path} is not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"
        ) from None
    if not isinstance(config, dict):
        raise TextrecError(f"{path}: a sweep config is a mapping (method, metric, parameters)")
    config.setdefault("name", path.stem)
    validate_sweep(config, str(path))
    if config["method"] == "bayes" and not wandb_online():
        raise TextrecError(
            f"{path}: method bayes needs the W&B sweep server (set WANDB_API_KEY), "
            "or use grid / random offline"
        )
    return config


def validate_sweep(config: dict[str, Any], where: str = "sweep") -> None:
    """textrec's own rules (method, metric, reserved options) here; the parameters against
    W&B's sweep schema, one line per problem."""
    import sweeps

    method = config.get("method")
    if method not in METHODS:
        raise TextrecError(f"{where}: method must be one of {', '.join(METHODS)}, not {method!r}")
    metric = config.get("metric")
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        raise TextrecError(f"{where}: needs `metric: {{name: val_accuracy, goal: maximize}}`")
    if metric.get("goal", "minimize") not in ("minimize", "maximize"):
        raise TextrecError(f"{where}: metric.goal must be maximize or minimize")
    params = config.get("parameters")
    if not isinstance(params, dict) or not params:
        raise TextrecError(f"{where}: needs `parameters:` (textrec train options)")
    for name, spec in params.items():
        if str(name).replace("-", "_") in RESERVED:
            raise TextrecError(f"{where}: parameter {name!r} is set by the sweep itself")
        if not isinstance(spec, dict):
            raise TextrecError(f"{where}: parameter {name!r} needs value, values or min/max")
        if "distribution" in spec and spec["distribution"] not in DISTRIBUTIONS:
            raise TextrecError(
                f"{where}: parameter {name!r}: unknown distribution {spec['distribution']!r}"
            )
        lo, hi = spec.get("min"), spec.get("max")
        if _is_number(lo) and _is_number(hi) and lo > hi:
            raise TextrecError(f"{where}: parameter {name!r}: min is above max")
        problems = sweeps.schema_violations_from_proposed_config(
            {"method": method, "metric": metric, "parameters": {name: spec}}
        )
        if problems:
            raise TextrecError(f"{where}: parameter {name!r}: {problems[0]}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ---------------------------------------------------------------- trials


def expand_trials(
    config: dict[str, Any], count: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """The offline trials from W&B's engine: grid's cartesian product, or seeded random draws."""
    import numpy as np
    import sweeps

    params: dict[str, dict[str, Any]] = config["parameters"]
    if config["method"] == "bayes":
        raise TextrecError("method bayes is chosen by the W&B sweep server: set WANDB_API_KEY")
    if config["method"] == "grid":
        for name, spec in params.items():
            if not ({"value", "values"} & set(spec)) or "distribution" in spec:
                raise TextrecError(
                    f"grid needs `values` or `value` for every parameter; {name!r} is a "
                    "distribution (use method: random)"
                )
        n = count or math.prod(len(s.get("values", [0])) for s in params.values())
    else:
        n = int(count or config.get("run_cap") or config.get("count") or DEFAULT_RANDOM_COUNT)
    engine = {k: config[k] for k in ("method", "metric", "parameters")}
    # the engine samples from Python's and numpy's global generators: seed them, then restore
    saved = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        if config["method"] == "random":
            runs = sweeps.next_runs(engine, [], n=n)
        else:
            runs = []
            while len(runs) < n and (run := sweeps.next_run(engine, runs)) is not None:
                run.state = sweeps.RunState.finished  # grid skips what was already run
                runs.append(run)
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
    return [{k: _plain(v["value"]) for k, v in r.config.items()} for r in runs]


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (JSON, command lines, equality in tests)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict)) else value


def train_args(params: dict[str, Any]) -> list[str]:
    """Sweep parameters as `textrec train` options: lr → --lr, batch_size → --batch-size."""
    args: list[str] = []
    for name, value in params.items():
        option = str(name).replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):  # --wandb/--no-wandb style flags
            args.append(f"--{option}" if value else f"--no-{option}")
        elif isinstance(value, (list, tuple)):  # repeatable options (--lines-dir)
            for item in value:
                args += [f"--{option}", str(item)]
        else:
            args += [f"--{option}", str(value)]
    return args


def train_command(
    params: dict[str, Any], run_dir: Path, data_dir: Path, extra_args: Sequence[str] = ()
) -> list[str]:
    return [
        sys.executable, "-m", "textrec_cli", "train", *train_args(params), *extra_args,
        "--json", "--output", str(run_dir), "--data-dir", str(data_dir),
    ]  # fmt: skip


# ---------------------------------------------------------------- workers and GPUs


def gpu_ids() -> list[str]:
    """GPUs to spread workers over: CUDA_VISIBLE_DEVICES if set, else `nvidia-smi -L`."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, _ in enumerate(x for x in listing.splitlines() if x.startswith("GPU "))]


def worker_env(slot: int, workers: int, gpus: Sequence[str]) -> dict[str, str]:
    """Worker `slot` gets GPU slot % n; workers sharing a GPU must not grab all its memory."""
    env = dict(os.environ)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
        if workers > len(gpus):
            env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
            env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return env


# ---------------------------------------------------------------- runners


def run_sweep(
    config: dict[str, Any],
    workers: int,
    data_dir: Path,
    runs_root: Path,
    count: int | None = None,
    extra_args: Sequence[str] = (),
    online: bool | None = None,
) -> dict[str, Any]:
    """Run a sweep (W&B agents when online, local subprocesses otherwise) and rank its trials."""
    validate_sweep(config)
    if workers < 1:
        raise TextrecError("--workers must be at least 1")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(config.get("name") or "sweep"))
    sweep_dir = Path(runs_root) / f"sweep-{name}"
    if wandb_online(online):
        return _run_online(config, name, workers, Path(data_dir), sweep_dir, count, extra_args)
    if config["method"] == "bayes":
        raise TextrecError("method bayes needs the W&B sweep server: set WANDB_API_KEY")
    trials = [
        Trial(f"trial-{i:03d}", params) for i, params in enumerate(expand_trials(config, count))
    ]
    gpus = gpu_ids()
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(workers):
        slots.put(slot)
    metric = config["metric"]["name"]
    stderr_console.print(
        f"sweep [bold]{name}[/bold]: {len(trials)} {config['method']} trials, {workers} workers"
        + (f" on GPUs {','.join(gpus)}" if gpus else "")
        + f" → {sweep_dir}"
    )

    def run_one(trial: Trial) -> Trial:
        slot = slots.get()
        try:
            env = worker_env(slot, workers, gpus)
            env.setdefault("WANDB_RUN_GROUP", f"sweep-{name}")
            return _run_trial(trial, sweep_dir, Path(data_dir), extra_args, env, metric)
        finally:
            slots.put(slot)

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        with progress_bar(f"sweep {name}", len(trials)) as advance:
            futures = {pool.submit(run_one, trial): i for i, trial in enumerate(trials)}
            for future in as_completed(futures):
                trial = trials[futures[future]] = future.result()
                _report_trial(trial, metric)
                _save(config, name, "local", None, trials, sweep_dir)
                advance(1)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return _finish(config, name, "local", None, trials, sweep_dir)


def _run_trial(
    trial: Trial,
    sweep_dir: Path,
    data_dir: Path,
    extra_args: Sequence[str],
    env: dict[str, str],
    metric: str,
) -> Trial:
    """A fresh Trial record: worker threads never touch the list the main thread saves."""
    run_dir = sweep_dir / trial.name
    run_dir.mkdir(parents=True, exist_ok=True)
    trial = replace(trial, run_dir=str(run_dir))
    log = run_dir / "train.log"
    started = time.time()
    with open(log, "w") as fh:
        returncode = subprocess.run(
            train_command(trial.params, run_dir, data_dir, extra_args),
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        ).returncode
    trial.seconds = round(time.time() - started, 1)
    lines = log.read_text(errors="replace").splitlines()
    summary = _json_summary(lines)
    if returncode != 0 or summary is None:
        trial.status = "failed"
        trial.error = _error_line(lines) or f"exit code {returncode}"
        return trial
    trial.status, trial.metrics = "ok", summary.get("metrics", {})
    trial.metric = _number(trial.metrics.get(metric))
    if trial.metric is None:
        trial.error = f"no {metric!r} in its metrics ({', '.join(trial.metrics)})"
    return trial


def _json_summary(lines: list[str]) -> dict[str, Any] | None:
    """`train --json` prints {"run_dir", "metrics"} as its last JSON line (Keras logs precede)."""
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                payload = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(payload, dict) and "metrics" in payload:
                return payload
    return None


def _error_line(lines: list[str]) -> str | None:
    """The CLI's one-line `error: ...` if there is one, else the last line (a traceback's)."""
    for line in reversed(lines):
        if line.startswith("error:"):
            return line.removeprefix("error:").strip()
    rest = [line.strip() for line in lines if line.strip()]
    return rest[-1] if rest else None


def _number(value: Any) -> float | None:
    if not _is_number(value) or math.isnan(value):
        return None
    return float(value)


# ---------------------------------------------------------------- ranking and output


def rank_trials(trials: list[Trial], goal: str) -> list[Trial]:
    """Best first by the metric; trials without it next; crashed trials last."""
    sign = -1.0 if goal == "maximize" else 1.0

    def key(t: Trial) -> tuple[int, float, str]:
        if t.status != "ok":
            return (2, 0.0, t.name)
        if t.metric is None:
            return (1, 0.0, t.name)
        return (0, sign * t.metric, t.name)

    ranked = sorted(trials, key=key)
    for i, trial in enumerate(ranked, 1):
        trial.rank = i
    return ranked


def _results(
    config: dict[str, Any], name: str, backend: str, sweep_id: str | None, trials: list[Trial]
) -> dict[str, Any]:
    goal = config["metric"].get("goal", "minimize")
    ranked = [asdict(t) for t in rank_trials(list(trials), goal)]
    done = [t for t in ranked if t["status"] != "pending"]
    best = done[0] if done and done[0]["metric"] is not None else None
    return {
        "name": name,
        "method": config["method"],
        "metric": {"name": config["metric"]["name"], "goal": goal},
        "backend": backend,
        "sweep_id": sweep_id,
        "trials": ranked,
        "best": best,
        "completed": sum(t["status"] == "ok" for t in ranked),
        "failed": sum(t["status"] == "failed" for t in ranked),
    }


def _save(
    config: dict[str, Any],
    name: str,
    backend: str,
    sweep_id: str | None,
    trials: list[Trial],
    sweep_dir: Path,
) -> dict[str, Any]:
    results = _results(config, name, backend, sweep_id, trials)
    write_json(sweep_dir / "results.json", results)
    return results


def _finish(
    config: dict[str, Any],
    name: str,
    backend: str,
    sweep_id: str | None,
    trials: list[Trial],
    sweep_dir: Path,
) -> dict[str, Any]:
    """Final results.json, the ranking table on stderr; results are also returned."""
    results = _save(config, name, backend, sweep_id, trials, sweep_dir)
    print_ranking(results)
    stderr_console.print(f"results: {sweep_dir / 'results.json'}")
    return results


def _report_trial(trial: Trial, metric: str) -> None:
    if trial.status == "ok":
        value = "—" if trial.metric is None else f"{trial.metric:.4f}"
        stderr_console.print(f"[green]✓[/green] {trial.name} {metric}={value} ({trial.seconds}s)")
    else:
        stderr_console.print(
            f"[red]✗[/red] {trial.name} failed: {trial.error}", highlight=False, soft_wrap=True
        )


def print_ranking(results: dict[str, Any]) -> None:
    from rich.table import Table

    trials = results["trials"]
    varying = [k for k in (trials[0]["params"] if trials else {}) if len(
        {json.dumps(t["params"].get(k), sort_keys=True) for t in trials}
    ) > 1] or list(trials[0]["params"] if trials else {})  # fmt: skip
    metric = results["metric"]
    table = Table(title=f"sweep {results['name']}: {metric['name']} ({metric['goal']})")
    for column in ("rank", "trial", "params", metric["name"], "status", "run dir / error"):
        table.add_column(column)
    for t in trials:
        params = " ".join(f"{k}={t['params'].get(k)}" for k in varying)
        value = "—" if t["metric"] is None else f"{t['metric']:.4f}"
        style = "red" if t["status"] == "failed" else None
        where = t["error"] if t["status"] == "failed" else t["run_dir"]
        table.add_row(str(t["rank"]), t["name"], params, value, t["status"], where, style=style)
    stderr_console.print(table)


# ---------------------------------------------------------------- W&B online


def wandb_sweep_config(
    config: dict[str, Any], name: str, count: int | None, extra_args: Sequence[str] = ()
) -> dict[str, Any]:
    """What W&B gets: its agents run `agent_trial` below, which calls `textrec train`."""
    sent = {k: v for k, v in config.items() if k != "count"}
    if count or config["method"] != "grid":
        sent["run_cap"] = int(
            count or config.get("run_cap") or config.get("count") or DEFAULT_RANDOM_COUNT
        )
    if "command" not in sent and "program" not in sent:
        sent["command"] = [
            "${env}", "${interpreter}", "-m", "textrec_cli.training.sweep", name, "${args_json}",
            *extra_args,
        ]  # fmt: skip
    return sent


def agent_commands(
    sweep_path: str, workers: int, per_agent: int | None, data_dir: Path, runs_root: Path
) -> list[tuple[list[str], dict[str, str]]]:
    """One `wandb agent` per worker, each on its GPU, finding this venv's python first."""
    gpus, agents = gpu_ids(), []
    for slot in range(workers):
        env = worker_env(slot, workers, gpus)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env["TEXTREC_DATA_DIR"], env["TEXTREC_RUNS_DIR"] = str(data_dir), str(runs_root)
        limit = ["--count", str(per_agent)] if per_agent else []
        agents.append(([sys.executable, "-m", "wandb", "agent", *limit, sweep_path], env))
    return agents


def _run_online(
    config: dict[str, Any],
    name: str,
    workers: int,
    data_dir: Path,
    sweep_dir: Path,
    count: int | None,
    extra_args: Sequence[str],
) -> dict[str, Any]:
    import wandb

    project = config.get("project") or os.environ.get("WANDB_PROJECT", "textrec")
    entity = config.get("entity") or os.environ.get("WANDB_ENTITY")
    sent = wandb_sweep_config(config, name, count, extra_args)
    try:
        sweep_id = wandb.sweep(sent, project=project, entity=entity)
    except Exception as exc:  # W&B raises many types (auth, network, schema)
        raise TextrecError(f"W&B could not create the sweep: {exc}") from None
    if not sweep_id:
        raise TextrecError("W&B could not create the sweep (offline? check WANDB_API_KEY)")
    path = f"{entity or wandb.Api().default_entity}/{project}/{sweep_id}"
    total = sent.get("run_cap") or len(expand_trials(config))
    stderr_console.print(
        f"W&B sweep [bold]{path}[/bold]: {workers} local agents → {sweep_dir}\n"
        f"another machine joins with `wandb agent {path}` (textrec installed, data prepared)"
    )
    sweep_dir.mkdir(parents=True, exist_ok=True)
    per_agent = math.ceil(sent["run_cap"] / workers) if "run_cap" in sent else None
    procs = []
    for slot, (cmd, env) in enumerate(
        agent_commands(path, workers, per_agent, data_dir, sweep_dir.parent)
    ):
        with open(sweep_dir / f"agent-{slot}.log", "w") as log:
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        with progress_bar(f"sweep {name} (local agents)", total) as advance:
            seen = 0
            while any(p.poll() is None for p in procs):
                time.sleep(5)
                done = len(list(sweep_dir.glob("trial-*/metadata.json")))
                advance(done - seen)
                seen = done
    except KeyboardInterrupt:
        for proc in procs:
            proc.terminate()
        raise
    return _finish(config, name, "wandb", path, _wandb_trials(path, config, sweep_dir), sweep_dir)


def _wandb_trials(path: str, config: dict[str, Any], sweep_dir: Path) -> list[Trial]:
    """Every run of the sweep, from every machine, as W&B recorded it."""
    import wandb

    try:
        runs = list(wandb.Api().sweep(path).runs)
    except Exception as exc:  # network or auth: the sweep page still has it all
        stderr_console.print(f"[yellow]W&B: could not list the sweep's runs: {exc}[/yellow]")
        return []
    metric, trials = config["metric"]["name"], []
    for run in runs:
        summary = getattr(run, "summary_metrics", None)  # wandb >= 0.19
        if summary is None:
            summary = run.summary._json_dict
        metrics = {k: v for k, v in summary.items() if _is_number(v)}
        local = sweep_dir / f"trial-{run.id}"
        ok = run.state == "finished"
        trials.append(
            Trial(
                name=f"trial-{run.id}",
                params={k: run.config.get(k) for k in config["parameters"]},
                status="ok" if ok else ("failed" if run.state != "running" else "running"),
                metric=_number(metrics.get(metric)) if ok else None,
                metrics=metrics,
                run_dir=str(local) if local.is_dir() else run.url,
                error=None if ok else f"W&B run {run.state}",
            )
        )
    return trials


def agent_trial(argv: Sequence[str]) -> None:
    """What a W&B agent runs per trial: NAME PARAMS_JSON [train options] → `textrec train`."""
    if len(argv) < 2:
        raise SystemExit("usage: python -m textrec_cli.training.sweep NAME PARAMS_JSON [OPTIONS]")
    name, params, extra = argv[0], json.loads(argv[1]), list(argv[2:])
    run_id = os.environ.get("WANDB_RUN_ID") or time.strftime("%Y%m%d-%H%M%S")
    # a run dir per W&B run: agents starting in the same second never share one
    run_dir = settings.runs_dir() / f"sweep-{name}" / f"trial-{run_id}"
    command = train_command(params, run_dir, settings.data_dir(), extra)
    os.execv(command[0], command)


if __name__ == "__main__":
    agent_trial(sys.argv[1:])
