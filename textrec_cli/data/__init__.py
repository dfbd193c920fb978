"""Dataset registry: adding a dataset is one module (NAME, processed_path, prepare) + one line.

h5py loads only when a character dataset is read (`CharDataset`, `read_dataset`, through the
module `__getattr__` below): importing any submodule (page_xml on the serving path) imports this
package, and the serving images install no h5py.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from textrec_cli.errors import TextrecError

if TYPE_CHECKING:
    from textrec_cli.data.h5store import CharDataset

_H5STORE_NAMES = ("CharDataset", "read_dataset")

DATASETS: dict[str, str] = {
    "emnist": "textrec_cli.data.emnist",
    "synthetic_chars": "textrec_cli.data.synthetic_chars",
    "emnist_lines": "textrec_cli.data.emnist_lines",
    "iam_lines": "textrec_cli.data.iam",
    "corpus": "textrec_cli.data.corpus",
}

# Page datasets (images + line geometry) for the line detector; `train --model line_detector`.
PAGE_DATASETS: dict[str, str] = {
    "real_pages": "textrec_cli.data.real_pages",
    "synthetic_pages": "textrec_cli.data.synthetic_pages",
}

# Datasets made locally (no download) are built on first use; downloads need an explicit command.
BUILT_ON_DEMAND = {"synthetic_chars"}


def dataset_module(name: str) -> ModuleType:
    if name not in DATASETS:
        raise TextrecError(f"unknown dataset {name!r}; choose from: {', '.join(sorted(DATASETS))}")
    return importlib.import_module(DATASETS[name])


def load_char_dataset(
    name: str, data_dir: Path, splits: tuple[str, ...] = ("train", "val", "test")
) -> CharDataset:
    """Load a processed dataset, building it first when that needs no download."""
    module = dataset_module(name)
    path = module.processed_path(data_dir)
    if not path.exists():
        if name not in BUILT_ON_DEMAND:
            raise TextrecError(
                f"dataset {name!r} is not prepared in {data_dir}: run `textrec download {name}` "
                "(or `textrec download {name} --from ARCHIVE` offline)".format(name=name)
            )
        module.prepare(data_dir)
    from textrec_cli.data.h5store import read_dataset

    return read_dataset(path, splits)


def __getattr__(name: str) -> Any:
    """`from textrec_cli.data import CharDataset` still works, importing h5py only then."""
    if name in _H5STORE_NAMES:
        from textrec_cli.data import h5store

        return getattr(h5store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
