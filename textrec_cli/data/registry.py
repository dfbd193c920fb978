"""Every dataset textrec knows, in one table: adding a dataset is its module plus one line here.

`download`, `train`, `evaluate`, their help texts and the loaders all read `REGISTRY`, so a name
can no longer be known to one command and missing from another. This module imports nothing
heavy (the dataset modules load only when used), so the CLI's start-up and serving stay light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from textrec_cli.errors import TextrecError

Kind = Literal["char", "line", "page", "text"]
# download: fetched (or --from ARCHIVE) by `textrec download`; synth: built by a textrec command;
# on_demand: built locally on first use; folder: the user's own folder (--lines-dir);
# generated: drawn on the fly while training or evaluating, never stored.
Prepared = Literal["download", "synth", "on_demand", "folder", "generated"]


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: Kind
    prepared: Prepared
    how: str  # what makes it ready, quoted by errors
    help: str
    module: str = ""  # under textrec_cli.data; default: the name
    download_as: tuple[str, ...] = ()  # names `textrec download` accepts (default: the name)
    fetch: str = "prepare"  # the module's function `download` calls: fetch(data_dir, source, ...)
    options: tuple[str, ...] = ()  # `download` options passed on to `fetch` as keywords

    def load(self) -> ModuleType:
        return importlib.import_module(f"textrec_cli.data.{self.module or self.name}")


_GENERATED = "generated during training"
ENTRIES = (
    Dataset("emnist", "char", "download", "textrec download emnist", "EMNIST characters",
            options=("subset",)),
    Dataset("synthetic_chars", "char", "on_demand", "textrec synth-chars",
            "font-drawn characters"),
    Dataset("synthetic_handwriting", "line", "generated", _GENERATED, "corpus text in fonts"),
    Dataset("real_lines", "line", "folder", "--lines-dir FOLDER (images + labels.tsv) or a "
            "`textrec pack` file", "your line images + labels.tsv"),
    Dataset("emnist_lines", "line", "synth", "textrec synth-lines", "EMNIST glyphs set in lines"),
    Dataset("iam_lines", "line", "download", "textrec download iam --from ARCHIVE", "IAM lines",
            module="iam", download_as=("iam", "iam_lines")),
    Dataset("real_pages", "page", "folder", "--lines-dir PAGE_FOLDER (default "
            "../shared/data/copiste/pages)", "page images + ALTO/PAGE-XML"),
    Dataset("synthetic_pages", "page", "generated", _GENERATED, "pages composed of line images"),
    Dataset("corpus", "text", "download", "textrec download corpus", "text for synthesis",
            fetch="download_corpus", options=("name",)),
)  # fmt: skip
REGISTRY: dict[str, Dataset] = {d.name: d for d in ENTRIES}


def names(kind: Kind) -> tuple[str, ...]:
    """Dataset names of one kind, in table order (the order help texts list them in)."""
    return tuple(name for name, d in REGISTRY.items() if d.kind == kind)


def get(name: str, kind: Kind | None = None) -> Dataset:
    """The entry for `name`; a clear error for a name unknown, or known but of another kind."""
    choices = ", ".join(sorted(names(kind) if kind else REGISTRY))
    if name not in REGISTRY:
        raise TextrecError(f"unknown dataset {name!r}; choose from: {choices}")
    if kind and REGISTRY[name].kind != kind:
        raise TextrecError(
            f"{name!r} is a {REGISTRY[name].kind} dataset, not a {kind} one; choose from: {choices}"
        )
    return REGISTRY[name]


def for_download(name: str) -> Dataset:
    """The entry `textrec download NAME` prepares; datasets made otherwise say how."""
    for dataset in REGISTRY.values():
        if name in (dataset.download_as or (dataset.name,)):
            if dataset.prepared != "download":
                raise TextrecError(f"{name} is not downloaded: it is {_made(dataset)}")
            return dataset
    raise TextrecError(f"unknown dataset {name!r}; choose {', '.join(download_names())}")


def download_names() -> tuple[str, ...]:
    """What `textrec download` takes (iam for iam_lines: the archive's name)."""
    return tuple(
        (d.download_as or (d.name,))[0] for d in REGISTRY.values() if d.prepared == "download"
    )


def download_help() -> str:
    """`emnist (EMNIST characters), iam (IAM lines), …` for `textrec download --help`."""
    return ", ".join(f"{n} ({for_download(n).help})" for n in download_names())


def _made(dataset: Dataset) -> str:
    if dataset.prepared == "folder":
        return f"your own folder, given with {dataset.how}"
    if dataset.prepared == "generated":
        return dataset.how
    return f"made locally: `{dataset.how}`"
