"""Weights & Biases logging: online with a key, offline (synced later) without, off on request."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np

from textrec_cli.progress import stderr_console
from textrec_cli.settings import wandb_mode


def start_run(enabled: bool, run_dir: Path, config: dict[str, Any], name: str) -> Any | None:
    """Start a W&B run, or return None when disabled. Says which mode it chose."""
    if not enabled:
        return None
    import wandb

    mode = wandb_mode()
    if mode == "offline":
        stderr_console.print(
            f"[yellow]W&B: no WANDB_API_KEY, logging offline to {run_dir / 'wandb'} "
            "(`wandb sync` uploads it later; --no-wandb turns it off)[/yellow]"
        )
    return wandb.init(
        project=os.environ.get("WANDB_PROJECT", "textrec"),
        name=name,
        config=config,
        dir=str(run_dir),
        mode=mode,
        reinit="finish_previous",
    )


class WandbMetrics(keras.callbacks.Callback):
    """Log every epoch's metrics (loss, accuracy, val_*) and the learning rate."""

    def __init__(self, run: Any) -> None:
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        payload = {k: float(v) for k, v in (logs or {}).items()}
        payload["epoch"] = epoch + 1
        self.run.log(payload)


def log_sample_predictions(
    run: Any, images: np.ndarray, labels: np.ndarray, probs: np.ndarray, mapping: list[str]
) -> None:
    """A table of validation images with truth, prediction and confidence."""
    import wandb

    table = wandb.Table(columns=["image", "truth", "prediction", "confidence"])
    for image, label, p in zip(images, labels, probs, strict=True):
        top = int(np.argmax(p))
        table.add_data(wandb.Image(image), mapping[int(label)], mapping[top], float(p[top]))
    run.log({"sample_predictions": table})
