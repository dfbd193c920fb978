"""A training run's whole state in one small HDF5 file, so a run outlives its machine.

Weights (BatchNorm statistics and dropout seed states included), the optimizer's slots and step
counter, the config, the history and the run's counters (lines seen, CPU seconds) are all that
`line_loop` needs: batches are a pure function of (seed, step), so the data order needs no state
of its own. A run stopped and resumed k times therefore lands where an uninterrupted run lands.
Written atomically (temp file + rename); gzip keeps a 1 M-parameter run near 12 MB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from textrec_cli.errors import InputError
from textrec_cli.fileio import atomic_path

FORMAT = "textrec-run-state-1"
STATE_FILE = "state.h5"


@dataclass
class RunCounters:
    """What a run has spent and achieved so far; carried across resumes and machines."""

    step: int = 0
    lines_seen: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    best_val_cer: float | None = None
    best_step: int | None = None
    sessions: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def _write_group(group: h5py.Group, variables: list) -> None:
    for i, variable in enumerate(variables):
        data = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
        chunked = {"compression": "gzip", "shuffle": True} if data.size > 64 else {}
        dataset = group.create_dataset(f"{i:05d}", data=data, **chunked)
        dataset.attrs["path"] = getattr(variable, "path", str(i))


def _read_group(group: h5py.Group, variables: list, what: str) -> None:
    names = sorted(group.keys())
    if len(names) != len(variables):
        raise InputError(
            f"run state holds {len(names)} {what} variables, the model has {len(variables)}: "
            "was it saved by a different architecture or textrec version?"
        )
    for name, variable in zip(names, variables, strict=True):
        data = group[name][()]
        if tuple(data.shape) != tuple(variable.shape):
            raise InputError(
                f"run state {what} variable {group[name].attrs.get('path')} has shape "
                f"{data.shape}, the model's {variable.path} has {tuple(variable.shape)}"
            )
        variable.assign(data)


def save_state(
    path: Path, model: Any, optimizer: Any, config: dict[str, Any], counters: RunCounters
) -> int:
    """Write the run state atomically; returns its size in bytes."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["config"] = json.dumps(config)
        f.attrs["counters"] = json.dumps(counters.__dict__)
        _write_group(f.create_group("model"), list(model.variables))
        _write_group(f.create_group("optimizer"), list(optimizer.variables))
    return Path(path).stat().st_size


def read_header(path: Path) -> tuple[dict[str, Any], RunCounters]:
    """(config, counters) of a state file, without touching any model."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"run state not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise InputError(f"{path} is not a textrec run state")
            config = json.loads(f.attrs["config"])
            counters = RunCounters(**json.loads(f.attrs["counters"]))
    except InputError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise InputError(f"corrupt or unreadable run state {path}: {exc}") from None
    return config, counters


def load_state(path: Path, model: Any, optimizer: Any) -> RunCounters:
    """Assign the saved weights and optimizer slots to a freshly built model and optimizer.

    The optimizer must be built (`optimizer.build(model.trainable_variables)`) first."""
    _, counters = read_header(path)
    try:
        with h5py.File(path, "r") as f:
            _read_group(f["model"], list(model.variables), "model")
            _read_group(f["optimizer"], list(optimizer.variables), "optimizer")
    except InputError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(f"corrupt or unreadable run state {path}: {exc}") from None
    return counters
