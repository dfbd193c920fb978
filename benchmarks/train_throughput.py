"""Where a line-training second goes, and lines/s end to end: the old `fit` path vs the fast one.

Two parts, both on the same real + synthetic mix with augmentation:

1. Breakdown (in this process): seconds per step for the data (sampling, synthesis, augmentation,
   padding; one thread, as the loop's prefetch thread runs it), the model step
   (forward + backward + update via `train_on_batch`, on those same batches) and validation
   amortised per step, plus the padding fraction. Old: `LineBatches` with synthesis per draw,
   the pooled `line_tcn` and Keras's dense-label CTC. New: `BucketedBatches` over pre-rendered
   lines, the strided `line_tcn`, TensorFlow's native CTC kernel.
2. End to end: the real `textrec train` command in a subprocess, the same shape for both
   (`--steps-per-epoch S --batch-size 32 --val-lines V --time-budget T`, T = `--minutes`, 10 by
   default: the issue asks for the rate sustained over 10 minutes), lines/s over the whole
   command (start-up included) and over the training loop. The old path runs the code of
   `--baseline-ref` (a git worktree), so it is the path as it was, not today's `fit`; its lines
   count every epoch it started as whole (an upper bound, in its favour). The issue's targets:
   >= 100 lines/s end to end for the fast recipe, >= 4x the old path's.

The fast recipe's one-time synthesis (cached under the data dir) is timed separately.

    python benchmarks/train_throughput.py              # -> benchmarks/results/train_throughput.json
    python benchmarks/train_throughput.py --steps 3 --synthetic-lines 50 --val-lines 5 \\
        --skip-end-to-end --output /tmp/train_throughput.json     # a smoke run

JSON on stdout (last line) and in --output; a table on stderr. Load averages are recorded: the
numbers mean little if other jobs shared the two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from common import LINE_HEIGHT, REAL_LINE_DIRS, ROOT, Run, argument_parser, time_each  # noqa: E402
from rich.table import Table  # noqa: E402

from textrec_cli.progress import stderr_console  # noqa: E402

LINES = [str(folder) for folder in REAL_LINE_DIRS.values()]
MIX = {"synthetic_handwriting": 0.35, "real_lines": 0.65}
NEW_MODEL = {"frontend": "strided"}


def _config(recipe: str, steps: int, val_lines: int, synthetic_lines: int):
    from textrec_cli.training.line_train import LineTrainConfig

    return LineTrainConfig(
        model="line_tcn",
        mix=dict(MIX),
        lines_dirs=list(LINES),
        epochs=1,
        steps_per_epoch=steps,
        batch_size=32,
        val_lines=val_lines,
        recipe=recipe,
        synthetic_lines=synthetic_lines,
        model_options=dict(NEW_MODEL) if recipe == "fast" else {},
    )


def _padding(batches: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Share of batch columns right of each line's last ink column (the zero padding)."""
    total = used = 0
    for x, _ in batches:
        ink = x[:, :, :, 0].max(axis=1) > 0  # (B, W)
        last = np.where(ink.any(axis=1), x.shape[2] - np.argmax(ink[:, ::-1], axis=1), 0)
        total += ink.size
        used += int(last.sum())
    return round(1.0 - used / max(total, 1), 3)


def breakdown(recipe: str, steps: int, val_lines: int, synthetic_lines: int, data_dir: Path):
    """Seconds per step: data, model step, validation (amortised over `steps` steps)."""
    import keras
    from keras import ops

    from textrec_cli.data.charsets import LINE_CHARSET
    from textrec_cli.models import build_model
    from textrec_cli.models.ctc import PAD, ctc_loss
    from textrec_cli.settings import fonts_dir

    config = _config(recipe, steps, val_lines, synthetic_lines)
    started = time.perf_counter()
    if recipe == "fast":
        from textrec_cli.training.line_loop import _val_cer, build_pools
        from textrec_cli.training.line_stream import BucketedBatches

        pools, val = build_pools(config, data_dir, fonts_dir(), show_progress=False)
        stream = BucketedBatches(pools, config.mix, LINE_CHARSET, 32, 0, config.buckets)
        draw = stream.batch
        loss = ctc_loss
    else:
        from textrec_cli.training.line_batches import LineBatches
        from textrec_cli.training.line_train import build_sources

        sources, val = build_sources(config, data_dir, fonts_dir())
        batches = LineBatches(sources, config.mix, LINE_CHARSET, 32, steps, workers=1)
        draw = batches.__getitem__

        def loss(y_true, y_pred):  # the dense-label keras.ops CTC the old path used
            y_true = ops.cast(y_true, "int32")
            lengths = ops.sum(ops.cast(y_true != PAD, "int32"), axis=1)
            frames = ops.full((ops.shape(y_pred)[0],), ops.shape(y_pred)[1], dtype="int32")
            target = ops.where(y_true == PAD, 0, y_true)
            return ops.ctc_loss(target, y_pred, lengths, frames, mask_index=0)

    setup = time.perf_counter() - started
    data, draw_seconds = time_each(draw, range(steps))
    data_s = sum(draw_seconds) / steps
    shape = (LINE_HEIGHT, None, 1)
    model = build_model("line_tcn", shape, len(LINE_CHARSET), **config.model_options)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=5.0), loss=loss)
    for x, y in data[:2]:  # trace / warm up
        model.train_on_batch(x, y)
    _, step_seconds = time_each(lambda batch: model.train_on_batch(*batch), data[2:])
    step_s = sum(step_seconds) / max(1, steps - 2)
    metadata = {"charset": LINE_CHARSET, "input_shape": list(shape), "decoder": "ctc"}
    t0 = time.perf_counter()
    if recipe == "fast":
        _val_cer(model, metadata, data_dir, val)
    else:
        from textrec_cli.evaluation.text_metrics import cer
        from textrec_cli.inference.line_reader import LineReader
        from textrec_cli.models.store import SavedModel

        reader = LineReader(SavedModel(model, metadata, data_dir), batch_size=32)
        for pairs in val.values():
            hyps = [t for t, _ in reader.read_stems([img for img, _ in pairs])]
            cer([t for _, t in pairs], hyps)
    val_s = (time.perf_counter() - t0) / steps
    per_step = data_s + step_s + val_s
    return {
        "setup_seconds": round(setup, 1),
        "data_s_per_step": round(data_s, 4),
        "step_s_per_step": round(step_s, 4),
        "validation_s_per_step": round(val_s, 4),
        "lines_per_second_serial": round(32 / per_step, 1),
        # the fast loop prepares data in a thread beside the step; fit used a worker too
        "lines_per_second_overlapped": round(32 / (max(data_s, step_s) + val_s), 1),
        "padding_fraction": _padding(data),
        "mean_batch_width": round(float(np.mean([x.shape[2] for x, _ in data])), 1),
        "model_params": model.count_params(),
    }


def train_command(
    recipe: str,
    run_dir: Path,
    extra: list[str],
    synthetic_lines: int,
    baseline: Path | None,
    data_dir: Path,
    mix: dict[str, float] = MIX,
    lines_dirs: list[str] = LINES,
) -> tuple[list[str], dict[str, str]]:
    """argv and env of the real `textrec train` for a recipe: the same shape for both, the old
    one running the code of the baseline worktree (PYTHONPATH), the fast one its own options."""
    args = [sys.executable, "-m", "textrec_cli", "train", "--model", "line_tcn", "--dataset", "mix"]
    args += ["--mix", ",".join(f"{k}={v}" for k, v in mix.items()), "--batch-size", "32"]
    args += ["--no-wandb", "--json", "--output", str(run_dir), *extra]
    for folder in lines_dirs:
        args += ["--lines-dir", folder]
    env = dict(os.environ, TEXTREC_DATA_DIR=str(data_dir))
    if recipe == "fast":
        args += ["--recipe", "fast", "--synthetic-lines", str(synthetic_lines)]
        args += [a for k, v in NEW_MODEL.items() for a in ("--model-option", f"{k}={v}")]
    elif baseline is not None:
        env["PYTHONPATH"] = str(baseline)
    return args, env


def end_to_end(
    recipe: str,
    minutes: float,
    steps: int,
    val_lines: int,
    synthetic_lines: int,
    data_dir: Path,
    baseline: Path | None,
) -> dict[str, Any]:
    """The real `textrec train` command for `minutes` of training, timed from outside."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"throughput-{recipe}-"))
    shape = ["--epochs", "100000", "--steps-per-epoch", str(steps), "--val-lines", str(val_lines)]
    shape += ["--patience", "100000", "--time-budget", str(minutes * 60)]
    args, env = train_command(recipe, run_dir / "run", shape, synthetic_lines, baseline, data_dir)
    started = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{recipe} run failed: {proc.stderr[-2000:]}")
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])["metrics"]
    if "lines_seen" in metrics:
        lines = int(metrics["lines_seen"])
    else:  # the old fit path: every epoch it began, counted whole
        lines = int(metrics["epochs_run"]) * steps * 32
    return {
        "command": " ".join(args[2:]),
        "code": str(baseline) if recipe == "fit" and baseline else "current checkout",
        "lines": lines,
        "wall_seconds": round(wall, 1),
        "train_seconds": metrics["train_seconds"],
        "lines_per_second_end_to_end": round(lines / wall, 1),
        "lines_per_second_training": round(lines / metrics["train_seconds"], 1),
    }


def synthesis_cost(count: int, data_dir: Path) -> dict[str, Any]:
    """One-time rendering of the fast recipe's synthetic lines (0 when cached)."""
    from textrec_cli.settings import fonts_dir
    from textrec_cli.training.line_loop import build_pools

    started = time.perf_counter()
    build_pools(_config("fast", 1, 1, count), data_dir, fonts_dir(), show_progress=False)
    return {"lines": count, "wall_seconds": round(time.perf_counter() - started, 1)}


def baseline_worktree(ref: str) -> Path:
    target = Path(tempfile.gettempdir()) / f"textrec-baseline-{ref}"
    if not target.is_dir():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(target), ref],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return target


def main() -> None:
    parser = argument_parser("train_throughput", __doc__)
    parser.add_argument("--steps", type=int, default=40, help="breakdown batches per recipe")
    parser.add_argument("--minutes", type=float, default=10.0, help="end-to-end run length")
    parser.add_argument("--steps-per-epoch", type=int, default=60)
    parser.add_argument("--val-lines", type=int, default=50)
    parser.add_argument("--synthetic-lines", type=int, default=2000)
    parser.add_argument("--baseline-ref", default="cf471bb", help="git ref of the old path")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data")
    parser.add_argument("--skip-end-to-end", action="store_true")
    args = parser.parse_args()

    run = Run("train_throughput", args.output, args.note)
    result: dict[str, Any] = {
        "mix": MIX,
        "lines_dirs": LINES,
        "batch_size": 32,
    }
    result["synthesis_once"] = synthesis_cost(args.synthetic_lines, args.data_dir)
    result["breakdown"] = {
        recipe: breakdown(recipe, args.steps, args.val_lines, args.synthetic_lines, args.data_dir)
        for recipe in ("fit", "fast")
    }
    if not args.skip_end_to_end:
        baseline = baseline_worktree(args.baseline_ref)
        result["end_to_end"] = {
            recipe: end_to_end(
                recipe,
                args.minutes,
                args.steps_per_epoch,
                args.val_lines,
                args.synthetic_lines,
                args.data_dir,
                baseline,
            )
            for recipe in ("fit", "fast")
        }
        e2e = result["end_to_end"]
        for key in ("lines_per_second_end_to_end", "lines_per_second_training"):
            result[f"speedup_{key.removeprefix('lines_per_second_')}"] = round(
                e2e["fast"][key] / e2e["fit"][key], 2
            )
        result["target"] = {
            "minutes": args.minutes,
            "fast_lines_per_second_end_to_end": e2e["fast"]["lines_per_second_end_to_end"],
            "at_least_100_lines_per_second": e2e["fast"]["lines_per_second_end_to_end"] >= 100,
            "at_least_4x_end_to_end": result["speedup_end_to_end"] >= 4,
        }
    b = result["breakdown"]
    result["speedup_step"] = round(b["fit"]["step_s_per_step"] / b["fast"]["step_s_per_step"], 2)
    result["speedup_data"] = round(b["fit"]["data_s_per_step"] / b["fast"]["data_s_per_step"], 2)
    table = Table(title="line training throughput (lines/s, s/step)")
    for column in (
        "recipe",
        "data s",
        "step s",
        "val s",
        "padding",
        "e2e lines/s",
        "train lines/s",
    ):
        table.add_column(column)
    for recipe, row in b.items():
        e = result.get("end_to_end", {}).get(recipe, {})
        table.add_row(
            recipe,
            *(
                str(row.get(k, "-"))
                for k in (
                    "data_s_per_step",
                    "step_s_per_step",
                    "validation_s_per_step",
                    "padding_fraction",
                )
            ),
            str(e.get("lines_per_second_end_to_end", "-")),
            str(e.get("lines_per_second_training", "-")),
        )
    stderr_console.print(table)
    run.finish(result)


if __name__ == "__main__":
    main()
