"""Lines per second on this machine: training and inference of every registered line model.

For each architecture in `textrec_cli.models.LINE_MODELS` (freshly built, random weights, compiled
as `textrec train` does: CTC loss, Adam with clipnorm 5) it times `--steps` training steps on
random uint8 batches shaped like real lines (32 x 40 x 768, labels of ~40 characters padded with
PAD) after warm-up steps, then `--infer-batches` batched forward passes `model(x, training=False)`
(lines/s, p50/p95 ms per line). The bundled line model (or --model) is also timed for inference
through `LineReader.read_stems` on stems of realistic, varied widths, greedy CTC decoding
included. Timings are wall-clock; the JSON records the CPU count and load average, because other
jobs may be running.

    python benchmarks/line_throughput.py                  # all line models + bundled model
    python benchmarks/line_throughput.py --steps 2 --infer-batches 2 --models line_tcn \\
        --output /tmp/line_throughput.json                # a smoke run

The JSON result is written to --output and is the last line of stdout; a table goes to stderr.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from common import LINE_HEIGHT, Run, argument_parser, latency, time_each  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from textrec_cli import settings  # noqa: E402
from textrec_cli.data.charsets import LINE_CHARSET  # noqa: E402
from textrec_cli.progress import stderr_console  # noqa: E402

BATCH = 32
WIDTH = 768
LABEL_LENGTH = 40
WARMUP_STEPS = 2
STEM_WIDTHS = (240, 1100)  # range of real line stems' widths at height 40


def random_batch(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A batch like `line_batches` makes: uint8 images, labels (1-based) padded with PAD."""
    from textrec_cli.models.ctc import PAD

    x = rng.integers(0, 256, (BATCH, LINE_HEIGHT, WIDTH, 1), dtype=np.uint8)
    lengths = rng.integers(LABEL_LENGTH - 8, LABEL_LENGTH + 9, BATCH)
    y = np.full((BATCH, int(lengths.max())), PAD, dtype=np.int32)
    for row, length in enumerate(lengths):
        y[row, :length] = rng.integers(1, len(LINE_CHARSET) + 1, length)
    return x, y


def bench_architecture(name: str, steps: int, infer_batches: int, seed: int) -> dict[str, Any]:
    import keras

    from textrec_cli.models import build_model
    from textrec_cli.models.ctc import ctc_loss, output_frames

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(name, (LINE_HEIGHT, None, 1), len(LINE_CHARSET))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, clipnorm=5.0), loss=ctc_loss)
    x, y = random_batch(rng)
    for _ in range(WARMUP_STEPS):
        model.train_on_batch(x, y)
    _, step_seconds = time_each(lambda _: model.train_on_batch(x, y), range(steps))
    train_seconds = sum(step_seconds)

    model(x, training=False)  # warm-up
    _, per_batch = time_each(lambda _: np.asarray(model(x, training=False)), range(infer_batches))
    return {
        "params": int(model.count_params()),
        "trainable_params": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        "frames_at_width": output_frames(model, WIDTH),
        "train_lines_per_second": round(BATCH * steps / train_seconds, 1),
        "train_ms_per_step": round(1000 * train_seconds / steps, 1),
        "train_steps": steps,
        "inference": latency(per_batch, BATCH),
    }


def bench_reader(model_path: Path, infer_batches: int, seed: int) -> dict[str, Any]:
    """LineReader.read_stems (model + greedy decode) on random stems of varied widths."""
    from textrec_cli.inference.line_reader import LineReader
    from textrec_cli.inference.recognizer import load_reader

    reader = load_reader(model_path)
    if not isinstance(reader, LineReader):
        raise SystemExit(f"{model_path} is not a line model")
    rng = np.random.default_rng(seed)
    widths = rng.integers(*STEM_WIDTHS, BATCH * infer_batches)
    stems = [rng.integers(0, 256, (reader.height, int(w)), dtype=np.uint8) for w in widths]
    reader.read_stems(stems[:BATCH])  # warm-up
    batches = [stems[start : start + BATCH] for start in range(0, len(stems), BATCH)]
    _, per_batch = time_each(reader.read_stems, batches)
    return {
        "model": reader.version,
        "path": str(model_path),
        "params": int(reader.saved.model.count_params()),
        "stem_widths": list(STEM_WIDTHS),
        "mean_stem_width": round(float(widths.mean()), 1),
        "inference": latency(per_batch, BATCH),
    }


def print_table(result: dict[str, Any]) -> None:
    table = Table(title=f"line throughput ({os.cpu_count()} CPUs, batch {BATCH})")
    for column in ("model", "params", "train lines/s", "infer lines/s", "p50 ms", "p95 ms"):
        table.add_column(column, justify="left" if column == "model" else "right")
    rows = dict(result["architectures"])
    if result.get("reader"):
        rows[f"{result['reader']['model']} (reader)"] = result["reader"]
    for name, row in rows.items():
        inference = row["inference"]
        table.add_row(
            name,
            f"{row['params']:,}",
            str(row.get("train_lines_per_second", "-")),
            str(inference["per_second"]),
            str(inference["p50_ms"]),
            str(inference["p95_ms"]),
        )
    # A wider console than a pipe's 80 columns, so test-set and engine names are not cut.
    Console(stderr=True, width=max(stderr_console.width, 110)).print(table)


def main() -> None:
    from textrec_cli.models import LINE_MODELS

    parser = argument_parser("line_throughput", __doc__)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per model")
    parser.add_argument("--infer-batches", type=int, default=20, help="timed inference batches")
    parser.add_argument(
        "--models", nargs="+", default=sorted(LINE_MODELS), choices=sorted(LINE_MODELS)
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=settings.BUNDLED_LINE_MODEL,
        help="saved line model timed through LineReader (default: bundled; skipped if absent)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.steps < 1 or args.infer_batches < 1:
        parser.error("--steps and --infer-batches must be at least 1")

    run = Run("line_throughput", args.output, args.note)
    architectures = {}
    for name in args.models:
        stderr_console.print(f"timing [bold]{name}[/] …", highlight=False)
        architectures[name] = bench_architecture(name, args.steps, args.infer_batches, args.seed)
    reader = None
    reader_note = None
    if args.model.exists():
        stderr_console.print(f"timing reader {args.model} …", highlight=False)
        reader = bench_reader(args.model, args.infer_batches, args.seed)
    else:
        reader_note = f"no model at {args.model}"

    import keras

    result = {
        "batch": BATCH,
        "input_shape": [LINE_HEIGHT, WIDTH, 1],
        "label_length": LABEL_LENGTH,
        "warmup_steps": WARMUP_STEPS,
        "architectures": architectures,
        "reader": reader,
        "reader_note": reader_note,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "timing": "wall-clock; other jobs may have been running (see machine: load averages)",
    }
    print_table(result)
    run.finish(result)


if __name__ == "__main__":
    main()
