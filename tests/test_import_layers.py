"""Imports run only downhill: the package's structure, drawn from its imports, has layers.

The import graph of `textrec_cli` is read with `ast` (module-level and function-level imports,
`if TYPE_CHECKING` ones included: a lazy import is still a dependency). Each module belongs to
the layer of the longest prefix in LAYERS (docs/architecture.md explains the layers); a module
may import its own layer or lower ones. Within a layer, packages may import each other but not
in a cycle. `python tests/test_import_layers.py --draw docs/architecture.png` redraws the picture.
"""

from __future__ import annotations

import ast
import functools
import graphlib
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "textrec_cli"

# Lowest first. A prefix names a module or a package (and all below it).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("ground floor", (
        "textrec_cli", "textrec_cli.errors", "textrec_cli.settings", "textrec_cli.fileio",
        "textrec_cli.containers", "textrec_cli.progress", "textrec_cli.image_io",
        "textrec_cli.stems",
    )),
    ("data", ("textrec_cli.data",)),
    ("models", ("textrec_cli.models",)),
    ("decoding", ("textrec_cli.decoding",)),
    ("inference", ("textrec_cli.inference",)),
    ("evaluation", ("textrec_cli.evaluation",)),
    ("training, LM building", ("textrec_cli.training", "textrec_cli.language")),
    ("monitoring", ("textrec_cli.monitoring",)),
    ("serving, labeling", ("textrec_cli.serving", "textrec_cli.labeling")),
    ("reading, forms", ("textrec_cli.reading", "textrec_cli.forms")),
    ("command modules", (
        "textrec_cli.cli_support", "*.commands", "textrec_cli.training.adapt_commands",
    )),
    ("root command", ("textrec_cli.cli", "textrec_cli.__main__")),
]  # fmt: skip


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the textrec_cli modules it imports anywhere in its body."""
    files = {module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - node.level + 1]
                    base = ".".join(here + ([base] if base else []))
                for alias in node.names:  # `from pkg import module` imports the module
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in files else base)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def layer(module: str) -> int:
    best, best_len = -1, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if prefix.startswith("*"):
                hit = module.endswith(prefix[1:])
                length = 10**6 if hit else -1  # a role beats any package prefix
            else:
                hit = module == prefix or module.startswith(prefix + ".")
                length = len(prefix)
            if hit and length > best_len:
                best, best_len = rank, length
    return best


def unit(module: str) -> str:
    """The node of the package graph: a top-level package or module, or a command module."""
    if LAYERS[layer(module)][0] in ("command modules", "root command"):
        return module
    return ".".join(module.split(".")[:2])


def uphill(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{src} ({LAYERS[layer(src)][0]}) -> {dst} ({LAYERS[layer(dst)][0]})"
        for src, targets in graph.items() for dst in targets if layer(dst) > layer(src)
    )  # fmt: skip


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = defaultdict(set)
    for src, targets in graph.items():
        packages[unit(src)].update(unit(t) for t in targets if unit(t) != unit(src))
    return packages


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in import_graph() if layer(m) < 0)
    assert not unplaced, f"add these modules to LAYERS: {unplaced}"


def test_no_import_runs_uphill() -> None:
    violations = uphill(import_graph())
    assert not violations, "imports running uphill:\n" + "\n".join(violations)


def test_no_cycle_among_packages() -> None:
    try:
        graphlib.TopologicalSorter(package_graph(import_graph())).prepare()
    except graphlib.CycleError as error:
        raise AssertionError(
            f"import cycle among packages: {' -> '.join(reversed(error.args[1]))}"
        ) from None


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """A data module importing inference is both uphill and (with inference -> data) a cycle."""
    pkg = tmp_path / "textrec_cli"
    for sub, body in {
        "data": "from textrec_cli.inference import reader\n",
        "inference": "def f():\n    from ..data import x\n",
    }.items():
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
        (pkg / sub / ("x.py" if sub == "data" else "reader.py")).write_text(body)
    (pkg / "__init__.py").write_text("")
    graph = import_graph(pkg)
    assert graph["textrec_cli.data.x"] == {"textrec_cli.inference.reader"}
    assert graph["textrec_cli.inference.reader"] == {"textrec_cli.data.x"}
    assert uphill(graph) == [
        "textrec_cli.data.x (data) -> textrec_cli.inference.reader (inference)"
    ]
    try:
        graphlib.TopologicalSorter(package_graph(graph)).prepare()
    except graphlib.CycleError:
        return
    raise AssertionError("the cycle data <-> inference was not found")


def draw(out: Path) -> None:
    """The package graph, one row per layer (lowest at the bottom), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    packages = package_graph(import_graph())
    nodes = sorted(set(packages) | {t for ts in packages.values() for t in ts})
    commands = [n for n in nodes if LAYERS[layer(n)][0] == "command modules"]
    nodes = [n for n in nodes if n not in commands] + ["commands"]
    rank = {n: layer(n) for n in nodes if n != "commands"}
    rank["commands"] = len(LAYERS) - 2
    rows: dict[int, list[str]] = defaultdict(list)
    for n in nodes:
        rows[rank[n]].append(n)
    pos = {}
    for r, members in rows.items():
        shift = 0.0 if len(members) > 1 else (0.15 if r % 2 else -0.15)  # keep arrows apart
        for i, n in enumerate(sorted(members)):
            pos[n] = ((i + 1) / (len(members) + 1) + shift, r)
    short = {
        n: n.removeprefix("textrec_cli.").removeprefix("textrec_cli") or "textrec_cli"
        for n in nodes
    }
    fig, ax = plt.subplots(figsize=(16, 11))
    for src, targets in packages.items():
        s = "commands" if src in commands else src
        for t in targets:
            t = "commands" if t in commands else t
            if s == t:
                continue
            (x0, y0), (x1, y1) = pos[s], pos[t]
            ground = rank[t] == 0  # everything uses the ground floor: draw those faint
            style = {"arrowstyle": "-|>", "alpha": 0.12 if ground else 0.45, "lw": 0.8}
            style |= {"connectionstyle": "arc3,rad=0.08", "shrinkA": 9, "shrinkB": 9}
            ax.annotate("", (x1, y1), (x0, y0), arrowprops=style)
    for n, (x, y) in pos.items():
        ax.text(
            x,
            y,
            short[n],
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round", "fc": "#e8f0ff"},
        )
    for r, (name, _) in enumerate(LAYERS):
        ax.text(-0.02, r, name, ha="right", va="center", fontsize=9, style="italic")
    ax.set_xlim(-0.25, 1.02)
    ax.set_ylim(-0.7, len(LAYERS) - 0.3)
    ax.axis("off")
    ax.set_title("textrec_cli: packages by layer, arrows are imports (all point down or sideways)")
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--draw":
        draw(Path(sys.argv[2]))
    else:
        print("\n".join(uphill(import_graph())) or "no import runs uphill")
