"""Character-dataset loading; every dataset is named once, in `registry.py`.

h5py loads only when a character dataset is read (`CharDataset`, `read_dataset`, through the
module `__getattr__` below): importing any submodule (page_xml on the serving path) imports this
package, and the serving images install no h5py.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textrec_cli.data import registry
from textrec_cli.errors import TextrecError

if TYPE_CHECKING:
    from textrec_cli.data.h5store import CharDataset

_H5STORE_NAMES = ("CharDataset", "read_dataset")


def load_char_dataset(
    name: str, data_dir: Path, splits: tuple[str, ...] = ("train", "val", "test")
) -> CharDataset:
    """Load a processed dataset, building it first when that needs no download."""
    dataset = registry.get(name, "char")
    module = dataset.load()
    path = module.processed_path(data_dir)
    if not path.exists():
        if dataset.prepared != "on_demand":
            raise TextrecError(
                f"dataset {name!r} is not prepared in {data_dir}: run `textrec download {name}` "
                f"(or `textrec download {name} --from ARCHIVE` offline)"
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
