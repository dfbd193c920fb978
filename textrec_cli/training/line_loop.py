"""The fast line recipe: a step loop over pre-rendered, width-bucketed batches, resumable anywhere.

Where the `fit` recipe renders synthetic lines per step, pads random widths and validates on
hundreds of lines per epoch, this loop draws batch k as a pure function of (seed, k) from lines
held in memory (real stems + synthetic lines rendered once, augmented per draw), prepares them in
a background thread, validates a fixed subset every `steps_per_epoch` steps, and keeps the whole
run in one state file (`run_state`). `textrec train --resume --output RUN` continues it on any
machine; SIGTERM or Ctrl-C stops it cleanly at the next step with its state saved.
"""

from __future__ import annotations

import contextlib
import csv
import os
import signal
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.data.line_sources import LINE_DATASETS, load_line_split, synthetic_generators
from textrec_cli.errors import TextrecError
from textrec_cli.progress import stderr_console, step_progress
from textrec_cli.training.configs import LineTrainConfig
from textrec_cli.training.line_train import line_metadata, val_cers
from textrec_cli.training.loop import finish_run
from textrec_cli.training.run_state import (
    STATE_FILE,
    RunCounters,
    load_state,
    read_header,
    save_state,
)


def configure_threads(threads: int) -> None:
    """One inter-op thread and `threads` intra-op threads (0: every core): on 2 cores the
    default inter-op pool runs independent ops side by side and they fight for the cores."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads or os.cpu_count() or 0)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already started in this process (tests): keep its pools
        pass


def build_pools(
    config: LineTrainConfig, data_dir: Path, fonts_dir: Path | None, show_progress: bool = True
):
    """Training pools by source name, and fixed validation sets by name (one per real folder)."""
    from textrec_cli.data.synthetic_pack import rendered_lines
    from textrec_cli.training.line_stream import LinePool

    unknown = set(config.mix) - set(LINE_DATASETS)
    if unknown:
        raise TextrecError(
            f"unknown line dataset(s) {sorted(unknown)}; choose from {', '.join(LINE_DATASETS)}"
        )
    pools: dict[str, LinePool] = {}
    val: dict[str, list[tuple[np.ndarray, str]]] = {}
    real_texts: list[str] = []

    def pick(images: list[np.ndarray], texts: list[str]) -> list[tuple[np.ndarray, str]]:
        order = np.random.default_rng(0).permutation(len(texts))[: config.val_lines]
        return [(images[i], texts[i]) for i in order]

    for name in config.mix:
        if name == "synthetic_handwriting":
            continue
        if name == "real_lines":  # one pool, but a validation set per collection
            images, texts = [], []
            for folder in config.lines_dirs:
                part = load_line_split(name, "train", data_dir, config.height, [folder])
                images += part[0]
                texts += part[1]
                v_images, v_texts = load_line_split(name, "val", data_dir, config.height, [folder])
                if v_texts:
                    val[f"real_lines:{Path(folder).stem}"] = pick(v_images, v_texts)
            real_texts = texts
        else:
            images, texts = load_line_split(name, "train", data_dir, config.height)
            v_images, v_texts = load_line_split(name, "val", data_dir, config.height)
            if v_texts:
                val[name] = pick(v_images, v_texts)
        if not texts:
            raise TextrecError(f"{name} has no train lines")
        pools[name] = LinePool(images, texts, config.augment)
    if "synthetic_handwriting" in config.mix:
        if not real_texts and config.lines_dirs:
            real_texts = load_line_split(
                "real_lines", "train", data_dir, config.height, config.lines_dirs
            )[1]
        generators = synthetic_generators(
            ("train", "val"), data_dir, fonts_dir, config.height, real_texts, config.seed
        )
        workers = os.cpu_count() or 1
        for split, count in (("train", config.synthetic_lines), ("val", config.val_lines)):
            images, texts = rendered_lines(
                generators[split], count, data_dir, split, config.seed, workers, show_progress
            )
            if split == "train":
                # rendered lines repeat, so they get the same augmentation as real ones
                pools["synthetic_handwriting"] = LinePool(images, texts, config.augment)
            else:
                val["synthetic_handwriting"] = list(zip(images, texts, strict=True))
    return pools, val


def _val_cer(model: Any, metadata: dict, run_dir: Path, val: dict) -> dict[str, float]:
    """Greedy CER per validation set; `val_cer` averages the real ones (what generalises)."""
    scores = {k: round(v, 4) for k, v in val_cers(model, metadata, run_dir, val, 64).items()}
    real = [v for k, v in scores.items() if "synthetic" not in k] or list(scores.values())
    scores["val_cer"] = round(float(np.mean(real)), 4) if real else 0.0
    return scores


class _StopRequest:
    """SIGTERM / SIGINT ask the loop to stop after the current step (state saved)."""

    def __init__(self) -> None:
        self.requested = False
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread: no signal handling
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True
        stderr_console.print(f"signal {signum}: stopping after this step, saving the run state")

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def config_from_state(path: Path, time_budget: float | None) -> LineTrainConfig:
    """The saved run's config; only this session's time budget comes from the command line."""
    saved, _ = read_header(path)
    known = {f.name for f in fields(LineTrainConfig)}
    config = LineTrainConfig(**{k: v for k, v in saved.items() if k in known})
    config.time_budget = time_budget
    return config


def train_lines_fast(
    config: LineTrainConfig,
    data_dir: Path,
    run_dir: Path,
    fonts_dir: Path | None = None,
    use_wandb: bool = True,
    resume: bool = False,
    max_steps: int | None = None,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Train (or continue) a CTC line model; writes RUN/state.h5, model.keras, metadata.json.

    `max_steps` stops this session after that many steps (tests and benchmarks); the run's own
    length is epochs x steps_per_epoch."""
    state_path = run_dir / STATE_FILE
    if resume:
        config = config_from_state(state_path, config.time_budget)
    if fonts_dir is None and config.fonts_dir and Path(config.fonts_dir).is_dir():
        fonts_dir = Path(config.fonts_dir)
    config.fonts_dir = str(fonts_dir) if fonts_dir else None
    configure_threads(config.threads)
    import keras

    from textrec_cli.models import ATTENTION_MODELS, build_model
    from textrec_cli.models.ctc import ctc_loss
    from textrec_cli.models.store import save_model
    from textrec_cli.training.line_stream import BucketedBatches, prefetch
    from textrec_cli.training.schedules import WarmupSchedule
    from textrec_cli.training.tracking import start_run

    if config.model in ATTENTION_MODELS:
        raise TextrecError("the fast recipe trains CTC line models; use --recipe fit for attention")
    keras.utils.set_random_seed(config.seed)
    pools, val = build_pools(config, data_dir, fonts_dir, show_progress)
    total = config.epochs * config.steps_per_epoch
    stream = BucketedBatches(
        pools,
        config.mix,
        LINE_CHARSET,
        config.batch_size,
        config.seed,
        config.buckets,
        config.max_width,
    )
    model = build_model(
        config.model, (config.height, None, 1), len(LINE_CHARSET), **config.model_options
    )
    schedule = WarmupSchedule(config.learning_rate, config.warmup_steps, total, config.schedule)
    optimizer = keras.optimizers.Adam(learning_rate=schedule, clipnorm=5.0)
    model.compile(optimizer=optimizer, loss=ctc_loss)
    optimizer.build(model.trainable_variables)
    if resume:
        counters = load_state(state_path, model, optimizer)
        stderr_console.print(
            f"resuming {run_dir} at step {counters.step:,} ({counters.lines_seen:,} lines seen, "
            f"{counters.cpu_seconds / 3600:.2f} CPU h)"
        )
    else:
        if state_path.exists():
            raise TextrecError(f"{run_dir} already holds a run: --resume continues it")
        counters = RunCounters()
        if config.init_from:
            from textrec_cli.training.warm_start import copy_matching_prefix, load_donor

            copied = copy_matching_prefix(load_donor(Path(config.init_from)), model)
            stderr_console.print(f"initialized {copied} leading layers from {config.init_from}")
    counters.sessions += 1
    run_dir.mkdir(parents=True, exist_ok=True)
    metadata = line_metadata(config, run_dir)
    sizes = {k: len(p.texts) for k, p in pools.items()}
    stderr_console.print(
        f"training [bold]{config.model}[/bold] ({model.count_params():,} params), fast recipe, "
        f"on {sizes}, mix {config.mix}, val {[f'{k}:{len(v)}' for k, v in val.items()]}, "
        f"steps {counters.step:,}/{total:,} → {run_dir}"
    )
    run = start_run(use_wandb, run_dir, asdict(config), name=run_dir.name)
    stop_at = min(total, counters.step + max_steps) if max_steps else total
    deadline = time.monotonic() + config.time_budget if config.time_budget else None
    wall0, cpu0, last_eval = time.monotonic(), time.process_time(), counters.step
    session_start = counters.step

    def checkpoint(evaluate: bool) -> None:
        nonlocal wall0, cpu0
        now_wall, now_cpu = time.monotonic(), time.process_time()
        counters.wall_seconds += now_wall - wall0
        counters.cpu_seconds += now_cpu - cpu0
        wall0, cpu0 = now_wall, now_cpu
        if evaluate:
            scores = _val_cer(model, metadata, run_dir, val)
            entry = {
                "step": counters.step,
                "lines_seen": counters.lines_seen,
                "cpu_hours": round(counters.cpu_seconds / 3600, 4),
                "lr": round(float(schedule(counters.step)), 7),
                "loss": round(loss_avg, 4),
                **scores,
            }
            counters.history.append(entry)
            if counters.best_val_cer is None or scores["val_cer"] < counters.best_val_cer:
                counters.best_val_cer, counters.best_step = scores["val_cer"], counters.step
                save_model(model, run_dir / "best", {**metadata, "metrics": entry})
            if run is not None:
                run.log(entry, step=counters.step)
            stderr_console.print(
                f"step {counters.step:,}: loss {loss_avg:.3f} "
                + " ".join(f"{k} {v:.4f}" for k, v in scores.items())
            )
        save_state(state_path, model, optimizer, asdict(config), counters)

    loss_avg, seen_this_session, session_wall0 = 0.0, 0, time.monotonic()
    with (
        _StopRequest() as stop,
        step_progress("training", stop_at, counters.step, show_progress) as show,
    ):
        for step, (x, y) in prefetch(stream, counters.step, stop_at):
            logs = model.train_on_batch(x, y, return_dict=True)
            loss = float(logs["loss"])
            loss_avg = loss if step == session_start else 0.98 * loss_avg + 0.02 * loss
            counters.step, counters.lines_seen = step + 1, counters.lines_seen + len(x)
            seen_this_session += len(x)
            rate = seen_this_session / max(time.monotonic() - session_wall0, 1e-9)
            show(counters.step, f"loss {loss_avg:.3f} · {rate:.0f} lines/s")
            if not np.isfinite(loss):
                raise TextrecError(f"loss became {loss} at step {counters.step}: lower --lr")
            if counters.step % config.steps_per_epoch == 0:
                checkpoint(evaluate=True)
                last_eval = counters.step
                if counters.best_step is not None and (
                    counters.step - counters.best_step >= config.patience * config.steps_per_epoch
                ):
                    stderr_console.print(f"no val improvement for {config.patience} evaluations")
                    break
            if stop.requested or (deadline is not None and time.monotonic() >= deadline):
                break
    checkpoint(evaluate=counters.step != last_eval)
    metrics: dict[str, Any] = {
        "steps": counters.step,
        "lines_seen": counters.lines_seen,
        "cpu_hours": round(counters.cpu_seconds / 3600, 3),
        "train_seconds": round(counters.wall_seconds, 1),
        "best_val_cer": counters.best_val_cer,
        "best_step": counters.best_step,
        **{
            k: v
            for k, v in (counters.history[-1] if counters.history else {}).items()
            if k.startswith("val_cer")
        },
    }
    finish_run(model, run_dir, metadata, metrics, run)
    _write_history(run_dir / "history.csv", counters.history)
    return metrics


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    from textrec_cli.fileio import atomic_path

    keys = list(dict.fromkeys(k for entry in history for k in entry))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
