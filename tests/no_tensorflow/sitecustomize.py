"""Put this folder on PYTHONPATH to run Python as on the lent GPU machine: no TensorFlow, no W&B.

Keras imports TensorFlow whenever it is installed (`tf.available` checks in seeding and saving),
so "the JAX path never needs TensorFlow" can only be shown by making it unimportable.
"""

import importlib.abc
import sys

BLOCKED = ("tensorflow", "wandb")


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked like on the GPU machine)")
        return None


sys.meta_path.insert(0, _Blocker())
