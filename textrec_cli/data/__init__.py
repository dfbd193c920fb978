"""Dataset registry: adding a dataset is one module (NAME, processed_path, prepare) + one line."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from textrec_cli.data.h5store import CharDataset, read_dataset
from textrec_cli.errors import TextrecError

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
    return read_dataset(path, splits)
