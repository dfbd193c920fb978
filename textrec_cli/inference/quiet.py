"""Keep native libraries' log lines (TensorFlow, absl, CUDA, LiteRT) off a command's stderr.

They write to file descriptor 2 from C++ before any Python setting applies (absl prints "All log
messages before absl::InitializeLog()" even at TF_CPP_MIN_LOG_LEVEL=3, and TensorFlow logs a
failed `cuInit` on every machine without a GPU), so the descriptor itself is pointed at
/dev/null while they load. Python exceptions raised inside still reach stderr afterwards.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """fd 2 -> /dev/null for the block (a no-op where there is no fd 2)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def load_keras_quietly() -> None:
    """Import Keras and start its backend's devices silently, before a model loads."""
    with native_stderr_silenced():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # where TensorFlow logs cuInit's failure
