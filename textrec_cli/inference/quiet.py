"""Keep native libraries' log lines (TensorFlow, absl, CUDA, LiteRT) off a command's stderr.

They write to file descriptor 2 from C++ before any Python setting applies (absl prints "All log
messages before absl::InitializeLog()" even at TF_CPP_MIN_LOG_LEVEL=3, and TensorFlow logs a
failed `cuInit` on every machine without a GPU), so the descriptor itself is pointed at
/dev/null while they load. Python exceptions raised inside still reach stderr afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Iterator, Sequence


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


class _SilentLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run with fd 2 silenced, then its devices listed (cuInit)."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        with native_stderr_silenced():
            self._loader.exec_module(module)  # type: ignore[attr-defined]
            module.config.list_physical_devices()


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once and hands back its spec with a silenced loader: every command
    (train, evaluate, export, monitor, ...) imports TensorFlow through Keras somewhere deep
    down, and this keeps its native log lines off stderr without each of them knowing."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _SilentLoader(spec.loader)
        return spec


def quiet_tensorflow_imports() -> None:
    """From now on, TensorFlow's first import in this process happens with fd 2 silenced."""
    if "tensorflow" not in sys.modules and not any(
        isinstance(finder, _QuietTensorFlow) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietTensorFlow())
