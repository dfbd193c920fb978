"""`--strategy`: one training run over a machine's GPUs (mirrored) or over machines (multiworker).

tf.distribute is TensorFlow-only, so it stays here at the edge: the training code builds and
compiles its model as usual, and the CLI runs it inside `strategy_scope(name)`. Keras 3 binds a
model to the strategy it was created under and splits each (global) batch across the replicas.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

from textrec_cli.errors import TextrecError

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str | None) -> Any | None:
    """The tf.distribute strategy for `name`, or None for Keras's default (one device)."""
    if name in (None, "", "default"):
        return None
    if name not in STRATEGIES:
        raise TextrecError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {name!r}")
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise TextrecError(
            f"--strategy {name} uses tf.distribute and needs the tensorflow Keras backend, "
            f"not {backend}"
        )
    import tensorflow as tf

    if name == "mirrored":
        # every GPU; without one, every logical CPU (tests split the CPU in two)
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    _check_tf_config()
    return tf.distribute.MultiWorkerMirroredStrategy()


def _check_tf_config() -> None:
    """MultiWorkerMirroredStrategy reads the cluster from TF_CONFIG; say clearly when it's off."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise TextrecError(
            "--strategy multiworker needs TF_CONFIG on every machine, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}'
        )
    try:
        config = json.loads(raw)
        workers = config["cluster"]["worker"]
        index = int(config["task"]["index"])
    except (ValueError, KeyError, TypeError):
        raise TextrecError(
            "TF_CONFIG is not valid: it needs cluster.worker (host:port list) and task.index"
        ) from None
    if not 0 <= index < len(workers):
        raise TextrecError(f"TF_CONFIG task.index {index} is outside cluster.worker")


@contextlib.contextmanager
def strategy_scope(name: str | None) -> Iterator[Any | None]:
    """Build models inside this block to train them with `name`'s strategy (None: no-op)."""
    strategy = make_strategy(name)
    if strategy is None:
        yield None
        return
    with strategy.scope():
        yield strategy
