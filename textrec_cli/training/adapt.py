"""Adapt a trained CTC line model to one collection from a few dozen of its labeled lines.

A general model misreads a hand it never saw; every HTR tool (kraken's `ketos train -i`,
Transkribus, eScriptorium) fixes that by fine-tuning on a few pages of the collection. Settings
here are for few lines: a cosine-decayed learning rate, strong augmentation
(`augment_line_fast`), replay of the base model's kind of lines in every batch (so a few lines
of one hand do not erase the rest), BatchNorm statistics kept (tiny batches would make them
noisy), an average of the weights as the candidate, early stopping on a deterministic
held-back slice of the given lines (the base model itself is a candidate, so adapting never
returns something worse on that slice), optionally a frozen convolutional front end.
Characters the base model lacks get new output rows (started from the mean character row, made
rare). The budget is CPU seconds of this process (all threads, `time.process_time`), or wall
seconds: on a shared machine CPU time is what a run costs, and it does not stretch when other
jobs take the cores.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textrec_cli import __version__
from textrec_cli.data.charsets import normalize_text
from textrec_cli.errors import InputError, TextrecError
from textrec_cli.progress import stderr_console

MIN_HELD_BACK = 2  # lines scored for early stopping: fewer cannot tell a step from noise
MIN_TRAIN = 3
MIN_LINES = MIN_HELD_BACK + MIN_TRAIN
# characters the CTC LM decoder reserves (its space token and blank): never output classes
RESERVED_CHARS = {"▁"}
NEW_ROW_LOG_PRIOR = -3.0  # new characters start this much (nats) below the mean character


@dataclass
class AdaptConfig:
    """Fine-tuning settings; the defaults are the ones benchmarks/adaptation.py measured."""

    minutes: float = 10.0
    budget: str = "cpu"  # "cpu": process CPU minutes (all threads); "wall": elapsed minutes
    learning_rate: float = 1e-3  # peak; about the bundled model's final training rate x 1.5
    batch_size: int = 8  # more, smaller steps per CPU minute
    augment: float = 1.2  # augment_line_fast strength: stronger than training's 1.0
    p_augment: float = 0.95
    held_back: float = 0.2  # share of the lines held back for early stopping
    eval_every: int = 20  # steps between held-back evaluations
    patience: int = 30  # evaluations without improvement before stopping (a few lines: noisy)
    max_steps: int | None = None  # a hard cap (tests); the budget usually ends the run
    freeze_frontend: bool = False
    freeze_norm: bool = True  # BatchNorm layers keep the base statistics (inference mode)
    replay: float = 0.5  # share of each batch drawn from replay_dirs' lines, when given
    replay_lines: int = 1000  # replay lines sampled (seeded) from the replay folders
    ema: float = 0.99  # decay of an exponential moving average of the weights (0: none)
    seed: int = 0
    threads: int = 0  # TensorFlow intra-op threads (0: every core)

    def check(self) -> None:
        if self.budget not in ("cpu", "wall"):
            raise TextrecError(f"--budget is cpu or wall, not {self.budget!r}")
        if not self.minutes > 0:
            raise TextrecError("--minutes must be positive")
        if not 0 < self.held_back < 1:
            raise TextrecError("--held-back is a share of the lines, between 0 and 1")
        if not self.learning_rate > 0 or self.batch_size < 1 or self.eval_every < 1:
            raise TextrecError("--lr, --batch-size and the evaluation interval must be positive")
        if not 0 <= self.replay < 1 or not 0 <= self.ema < 1:
            raise TextrecError("--replay and --ema are between 0 and 1 (0: off)")


@dataclass
class LabeledLines:
    """Stemmed lines with their normalized texts and stable ids (file names)."""

    images: list[np.ndarray]
    texts: list[str]
    ids: list[str]
    skipped: dict[str, int] = field(default_factory=dict)


def read_lines_folder(folder: Path, height: int, show_progress: bool = True) -> LabeledLines:
    """Every usable line of a real_lines folder (labels.tsv: file, text[, split]) except `test`
    rows, whatever its characters: unlike `real_lines.load`, characters outside the line charset
    are kept, since adapting adds them. `val` rows are marked (`split_hint`) to be held back."""
    from textrec_cli.data.real_lines import inside_path, read_labels, split_name
    from textrec_cli.image_io import load_image
    from textrec_cli.progress import progress_bar
    from textrec_cli.stems.line import line_stem

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"line folder not found: {folder}")
    rows = read_labels(folder)
    images, texts, ids = [], [], []
    skipped = {"test": 0, "empty": 0, "unreadable": 0, "reserved_chars": 0}
    with progress_bar(f"reading {folder.name} lines", len(rows), show_progress) as advance:
        for number, row in enumerate(rows, start=2):
            advance(1)
            split = split_name(row.get("split"))
            if split == "test":
                skipped["test"] += 1
                continue
            text = normalize_text(row["text"])
            if not text:
                skipped["empty"] += 1
                continue
            if RESERVED_CHARS & set(text):
                skipped["reserved_chars"] += 1
                continue
            try:
                path = inside_path(folder, row["file"])
            except InputError as exc:
                raise InputError(f"{folder / 'labels.tsv'}: row {number}: file {exc}") from None
            try:
                stem = line_stem(load_image(path), height)
            except InputError:
                skipped["unreadable"] += 1
                continue
            images.append(stem)
            texts.append(text)
            ids.append(("val:" if split == "val" else "") + row["file"])
    return LabeledLines(images, texts, ids, {k: v for k, v in skipped.items() if v})


def read_replay_lines(
    folders: list[Path], height: int, charset: list[str], count: int, seed: int = 0
) -> LabeledLines:
    """`count` `train` lines drawn (seeded) from real_lines folders, only lines the charset
    can spell: the base model's own kind of data, mixed into adapting batches so that a few
    lines of one hand pull the weights towards that hand without erasing what the rest of the
    model knows (rehearsal against catastrophic forgetting). Unreadable lines are skipped."""
    from textrec_cli.data.real_lines import inside_path, read_labels, split_name
    from textrec_cli.image_io import load_image
    from textrec_cli.stems.line import line_stem

    known = set(charset) - RESERVED_CHARS
    candidates = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"replay line folder not found: {folder}")
        for row in read_labels(folder):
            text = normalize_text(row["text"])
            if split_name(row.get("split")) == "train" and text and set(text) <= known:
                candidates.append((folder, row["file"], text))
    if not candidates:
        raise InputError(f"no train lines the model can spell in {[str(f) for f in folders]}")
    rng = np.random.default_rng(seed)
    images, texts, ids = [], [], []
    for i in rng.permutation(len(candidates)):
        if len(texts) >= count:
            break
        folder, name, text = candidates[i]
        try:
            images.append(line_stem(load_image(inside_path(folder, name)), height))
        except InputError:
            continue
        texts.append(text)
        ids.append(f"{folder.name}/{name}")
    return LabeledLines(images, texts, ids)


def held_back_split(ids: list[str], share: float) -> tuple[list[int], list[int]]:
    """(train indices, held-back indices): a function of the ids alone, never of row order or
    a random state, so re-running (or adding lines) holds back the same lines. Lines marked
    `val:` in labels.tsv are held back when there are enough of them; otherwise the lines whose
    id hashes lowest. Refuses (InputError) when too few lines remain to hold any back."""
    n = len(ids)
    if n < MIN_LINES:
        raise InputError(
            f"{n} usable labeled line(s): adapting needs at least {MIN_LINES} "
            f"({MIN_TRAIN} to train on, {MIN_HELD_BACK} held back to know when to stop); "
            "label more lines (about 50-100 is where adapting pays off)"
        )
    marked = [i for i, name in enumerate(ids) if name.startswith("val:")]
    if MIN_HELD_BACK <= len(marked) <= n - MIN_TRAIN:
        held = marked
    else:
        count = min(max(MIN_HELD_BACK, round(n * share)), n - MIN_TRAIN)
        key = [hashlib.sha1(name.encode()).hexdigest() for name in ids]
        held = sorted(sorted(range(n), key=lambda i: key[i])[:count])
    held_set = set(held)
    return [i for i in range(n) if i not in held_set], held


def extend_charset(charset: list[str], texts: list[str]) -> list[str]:
    """Characters of `texts` the charset lacks, in first-seen order (new classes go last)."""
    known = set(charset)
    return list(dict.fromkeys(c for t in texts for c in t if c not in known))


def with_new_classes(model: Any, added: int) -> Any:
    """The model with `added` more output classes: same layers, a new last Dense whose old rows
    are copied and whose new rows start as the mean character row lowered by
    NEW_ROW_LOG_PRIOR, so the base model's readings are unchanged at step 0."""
    import keras

    if added == 0:
        return model
    head = model.layers[-1]
    if not isinstance(head, keras.layers.Dense):
        raise TextrecError(
            f"cannot add characters to {model.name}: its last layer is {type(head).__name__}, "
            "not the Dense CTC head"
        )
    kernel, bias = (np.asarray(w) for w in head.get_weights())
    new_head = keras.layers.Dense(
        kernel.shape[1] + added, activation=head.activation, name=f"{head.name}_adapted"
    )
    outputs = new_head(head.input)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    extended = keras.Model(inputs, outputs, name=model.name)
    # class 0 is the blank; characters are 1..C
    mean_kernel = kernel[:, 1:].mean(axis=1, keepdims=True)
    mean_bias = float(bias[1:].mean()) + NEW_ROW_LOG_PRIOR
    new_head.set_weights(
        [
            np.concatenate([kernel, np.repeat(mean_kernel, added, axis=1)], axis=1),
            np.concatenate([bias, np.full(added, mean_bias, dtype=bias.dtype)]),
        ]
    )
    return extended


def freeze_norm(model: Any) -> int:
    """Put every BatchNormalization layer in inference mode (Keras 3: trainable=False): a batch
    of a few lines of one hand otherwise drags the moving statistics (momentum 0.9) to that
    batch, and each held-back evaluation reads with noisier statistics than training saw."""
    import keras

    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            count += 1
    return count


def freeze_frontend(model: Any) -> int:
    """Freeze every weighted layer before the first Dense (the convolutional front end of
    crnn/line_tcn); returns the parameters frozen. Few lines then tune only the sequence part."""
    import keras

    frozen = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            break
        if layer.weights:
            layer.trainable = False
            frozen += sum(int(np.prod(w.shape)) for w in layer.weights)
    if frozen == 0:
        raise TextrecError(f"--freeze-frontend: {model.name} has no layers before its first Dense")
    return frozen


class _Clock:
    """Budget spent so far (seconds of CPU or wall, per the config), from construction."""

    def __init__(self, kind: str, seconds: float) -> None:
        self.kind, self.seconds = kind, seconds
        self.cpu0, self.wall0 = time.process_time(), time.monotonic()

    def cpu(self) -> float:
        return time.process_time() - self.cpu0

    def wall(self) -> float:
        return time.monotonic() - self.wall0

    def fraction(self) -> float:
        return (self.cpu() if self.kind == "cpu" else self.wall()) / self.seconds


def cosine_lr(peak: float, fraction: float, warmup: float = 0.05, floor: float = 0.05) -> float:
    """Short warm-up (Adam's moments start empty), then cosine decay to `floor` x peak."""
    if fraction < warmup:
        return peak * max(fraction / warmup, 0.05)
    progress = min(1.0, (fraction - warmup) / (1 - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def _score(model: Any, metadata: dict, images: list, texts: list[str]) -> tuple[float, float]:
    """(greedy CER, mean CTC loss) on the held-back lines."""
    from textrec_cli.evaluation.text_metrics import cer
    from textrec_cli.inference.line_reader import LineReader
    from textrec_cli.models.store import SavedModel
    from textrec_cli.training.line_batches import pad_batch

    reader = LineReader(SavedModel(model, metadata, Path(".")), batch_size=32)
    hyps = [text for text, _ in reader.read_stems(images)]
    index = {c: i for i, c in enumerate(metadata["charset"])}
    losses = []
    for start in range(0, len(images), 32):
        x, y = pad_batch(images[start : start + 32], texts[start : start + 32], index, 10**6)
        losses.append(float(model.test_on_batch(x, y, return_dict=True)["loss"]) * len(x))
    return cer(texts, hyps), sum(losses) / len(images)


def _ema_update(ema: list | None, weights: list, decay: float) -> list:
    """One step of the weight average, in place (its own copy). Moving towards each weight by
    its difference keeps a frozen weight exactly as it is (no rounding drift)."""
    if ema is None:
        return [np.array(w, copy=True) for w in weights]
    for average, w in zip(ema, weights, strict=True):
        average += (1 - decay) * (w - average)
    return ema


def adapt_lines(
    lines: LabeledLines,
    base_dir: Path,
    output: Path | None,
    config: AdaptConfig,
    show_progress: bool = True,
    replay_dirs: list[Path] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Fine-tune the model at `base_dir` on `lines`; returns (keras model, metadata) and, when
    `output` is given, saves them there as a model folder. metadata["adaptation"] reports the
    lines used and held back, characters added, steps, budget spent and held-back CER.
    With `replay_dirs` and `config.replay` > 0, that share of every batch is drawn from those
    folders' `train` lines (read inside the budget)."""
    config.check()
    train_idx, held_idx = held_back_split(lines.ids, config.held_back)
    clock = _Clock(config.budget, config.minutes * 60)
    from textrec_cli.training.line_loop import configure_threads

    configure_threads(config.threads)
    import keras

    from textrec_cli.models.ctc import ctc_loss
    from textrec_cli.models.store import load_model, save_model
    from textrec_cli.training.line_stream import BucketedBatches, LinePool, prefetch

    base = load_model(base_dir)
    if base.metadata.get("task") != "line" or base.metadata.get("decoder", "ctc") != "ctc":
        raise InputError(f"{base_dir} is not a CTC line model (adapting needs one)")
    height = int(base.metadata["input_shape"][0])
    if lines.images and lines.images[0].shape[0] != height:
        raise InputError(f"lines are {lines.images[0].shape[0]} px high, the model reads {height}")
    base_charset = list(base.metadata["charset"])
    added = extend_charset(base_charset, lines.texts)
    charset = base_charset + added
    keras.utils.set_random_seed(config.seed)
    model = with_new_classes(base.model, len(added))
    frozen = freeze_frontend(model) if config.freeze_frontend else 0
    if config.freeze_norm:
        freeze_norm(model)
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=5.0)
    model.compile(optimizer=optimizer, loss=ctc_loss)
    metadata = {
        **{k: v for k, v in base.metadata.items() if k not in ("evaluations", "metrics")},
        "charset": charset,
        "version": output.name if output else f"{base.version}-adapted",
        "adapted_from": {"path": str(base_dir), "version": base.version},
        "textrec_version": __version__,
    }
    train_images = [lines.images[i] for i in train_idx]
    train_texts = [lines.texts[i] for i in train_idx]
    held_images = [lines.images[i] for i in held_idx]
    held_texts = [lines.texts[i] for i in held_idx]
    pools = {"adapt": LinePool(train_images, train_texts, config.augment, config.p_augment)}
    weights = {"adapt": 1.0 - config.replay}
    replayed = 0
    if config.replay > 0 and replay_dirs:
        replay = read_replay_lines(
            replay_dirs, height, base_charset, config.replay_lines, config.seed
        )
        pools["replay"] = LinePool(replay.images, replay.texts, 1.0, 0.85)  # as in training
        weights["replay"] = config.replay
        replayed = len(replay.texts)
    buckets = max(1, min(4, len(train_texts) // max(4, config.batch_size // 2)))
    stream = BucketedBatches(pools, weights, charset, config.batch_size, config.seed, buckets)
    if added:
        stderr_console.print(
            f"adding {len(added)} character(s) the base model lacks: {''.join(added)!r}",
            highlight=False,
        )
    base_cer, base_loss = _score(model, metadata, held_images, held_texts)
    best = {"step": 0, "cer": base_cer, "loss": base_loss}
    best_weights = model.get_weights()
    history = [{"step": 0, "cer": round(base_cer, 4), "loss": round(base_loss, 4)}]
    stderr_console.print(
        f"adapting {base.version} on {len(train_texts)} lines, {len(held_texts)} held back "
        f"(base CER there {base_cer:.3f}); budget {config.minutes:g} {config.budget} minutes",
        highlight=False,
    )
    step, stopped = 0, "budget"
    max_steps = config.max_steps if config.max_steps is not None else 10**9
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]adapting"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}% of the {task.fields[kind]} budget"),
        TextColumn("step {task.fields[step]} · loss {task.fields[loss]}"),
        TextColumn("· held-back CER {task.fields[best]}"),
        TimeElapsedColumn(),
    )  # fmt: skip
    loss_avg = float("nan")

    ema = None  # the weight average, when config.ema: what is scored and kept

    def evaluate(at: int) -> bool:
        """Score the held-back lines; keep the weights if best. True when not improved."""
        nonlocal best, best_weights
        current = None
        if ema is not None:
            current = model.get_weights()
            model.set_weights(ema)
        cer_now, loss_now = _score(model, metadata, held_images, held_texts)
        scored = model.get_weights() if current is not None else None
        if current is not None:
            model.set_weights(current)
        history.append({"step": at, "cer": round(cer_now, 4), "loss": round(loss_now, 4),
                        "train_loss": round(loss_avg, 4)})  # fmt: skip
        if (cer_now, loss_now) < (best["cer"], best["loss"]):
            best = {"step": at, "cer": cer_now, "loss": loss_now}
            best_weights = scored if scored is not None else model.get_weights()
            return False
        return True

    with Progress(*columns, console=stderr_console, disable=not show_progress) as progress:
        task = progress.add_task(
            "adapt", total=1.0, kind=config.budget, step=0, loss="-", best=f"{base_cer:.3f}"
        )
        for step_index, (x, y) in prefetch(stream, 0, max_steps):
            fraction = clock.fraction()
            if fraction >= 1.0:
                break
            optimizer.learning_rate.assign(cosine_lr(config.learning_rate, fraction))
            loss = float(model.train_on_batch(x, y, return_dict=True)["loss"])
            if not np.isfinite(loss):
                raise TextrecError(f"loss became {loss} at step {step_index + 1}: lower --lr")
            loss_avg = loss if step_index == 0 else 0.9 * loss_avg + 0.1 * loss
            step = step_index + 1
            if config.ema:
                ema = _ema_update(ema, model.get_weights(), min(config.ema, step / (step + 10)))
            stale = step % config.eval_every == 0 and evaluate(step)
            if stale and step - best["step"] >= config.patience * config.eval_every:
                stopped = "early_stopping"
                break
            progress.update(task, completed=min(1.0, clock.fraction()), step=step,
                            loss=f"{loss_avg:.3f}", best=f"{best['cer']:.3f}")  # fmt: skip
        else:
            stopped = "max_steps"
    if step > history[-1]["step"]:  # the last steps are a candidate too
        evaluate(step)
    model.set_weights(best_weights)
    adaptation = {
        "lines": len(lines.texts),
        "train_lines": len(train_texts),
        "held_back_lines": len(held_texts),
        "held_back": [lines.ids[i] for i in held_idx],
        "skipped": lines.skipped,
        "added_chars": added,
        "frozen_params": frozen,
        "replay_lines": replayed,
        "steps": step,
        "stopped": stopped,
        "best_step": best["step"],
        "held_back_cer_base": round(base_cer, 4),
        "held_back_cer": round(best["cer"], 4),
        "cpu_minutes": round(clock.cpu() / 60, 3),
        "wall_minutes": round(clock.wall() / 60, 3),
        "config": asdict(config),
        "history": history,
    }
    metadata.update(
        adaptation=adaptation,
        keras_version=keras.__version__,
        backend=keras.backend.backend(),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    if output is not None:
        save_model(model, output, metadata)
    return model, metadata
