"""A learning-rate schedule over wall-clock time: warm up, cosine-decay to the end, stop.

On a lent GPU or a CPU job with a deadline the number of steps is unknown in advance, but the
time is not; this makes any run end with a fully decayed model when its budget does.
"""

from __future__ import annotations

import math
import time

import keras


class TimeBudget(keras.callbacks.Callback):
    def __init__(
        self, seconds: float, peak_lr: float, warmup_fraction: float = 0.03, floor: float = 0.05
    ) -> None:
        super().__init__()
        self.seconds, self.peak_lr = float(seconds), float(peak_lr)
        self.warmup_fraction, self.floor = warmup_fraction, floor
        self.started = 0.0

    def learning_rate_at(self, fraction: float) -> float:
        if fraction < self.warmup_fraction:
            return self.peak_lr * max(fraction / self.warmup_fraction, 0.01)
        progress = min(1.0, (fraction - self.warmup_fraction) / (1 - self.warmup_fraction))
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.peak_lr * (self.floor + (1 - self.floor) * cosine)

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.started = time.monotonic()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        fraction = (time.monotonic() - self.started) / self.seconds
        self.model.optimizer.learning_rate.assign(self.learning_rate_at(fraction))
        if fraction >= 1.0:
            self.model.stop_training = True


@keras.saving.register_keras_serializable(package="textrec")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then cosine decay to `floor` x peak at `decay_steps` ("cosine"), or
    inverse square-root decay from `warmup_steps` on ("rsqrt": for a campaign with no end).

    A function of the optimizer's step counter only, so a resumed run continues the curve."""

    def __init__(
        self,
        peak: float,
        warmup_steps: int,
        decay_steps: int,
        kind: str = "cosine",
        floor: float = 0.05,
    ) -> None:
        if kind not in ("cosine", "rsqrt"):
            raise ValueError(f"schedule must be cosine or rsqrt, not {kind!r}")
        self.peak, self.warmup_steps, self.decay_steps = (
            float(peak),
            int(warmup_steps),
            int(decay_steps),
        )
        self.kind, self.floor = kind, float(floor)

    def __call__(self, step):
        from keras import ops

        step = ops.cast(step, "float32")
        warm = float(max(1, self.warmup_steps))
        ramp = ops.minimum(1.0, (step + 1.0) / warm)
        if self.kind == "rsqrt":
            decay = ops.sqrt(warm / ops.maximum(step + 1.0, warm))
            return self.peak * ramp * ops.maximum(decay, self.floor)
        span = float(max(1, self.decay_steps - self.warmup_steps))
        progress = ops.clip((step - warm) / span, 0.0, 1.0)
        cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
        return self.peak * ramp * (self.floor + (1.0 - self.floor) * cosine)

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "decay_steps": self.decay_steps,
            "kind": self.kind,
            "floor": self.floor,
        }
