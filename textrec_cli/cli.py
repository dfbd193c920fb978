"""The `textrec` command: a thin Typer root over command modules that live beside their code.

Each command module has `register(app)`; COMMANDS says which module registers which command, so
`textrec predict` imports `inference/commands.py` and no other command module (nor rich, nor
the trainers): a `predict` is one model's start-up, not the whole CLI's
(benchmarks/cli_startup.py). Listing the commands (`--help`) loads them all.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from typing import Annotated, Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import typer  # noqa: E402
from typer.core import TyperCommand, TyperGroup  # noqa: E402

from textrec_cli import __version__  # noqa: E402
from textrec_cli.cli_support import out  # noqa: E402

# Command (or command group) name -> the module whose `register(app)` adds it. A new command
# group is one line here.
COMMANDS: dict[str, str] = {
    "download": "textrec_cli.data.commands",
    "synth-lines": "textrec_cli.data.commands",
    "synth-chars": "textrec_cli.data.commands",
    "pack": "textrec_cli.data.commands",
    "train": "textrec_cli.training.commands",
    "sweep": "textrec_cli.training.commands",
    "adapt": "textrec_cli.training.adapt_commands",
    "evaluate": "textrec_cli.evaluation.commands",
    "predict": "textrec_cli.inference.commands",
    "read": "textrec_cli.reading.commands",
    "export": "textrec_cli.serving.commands",
    "serve": "textrec_cli.serving.commands",
    "monitor": "textrec_cli.monitoring.commands",
    "label-export": "textrec_cli.labeling.commands",
    "label-import": "textrec_cli.labeling.commands",
    "lm": "textrec_cli.language.commands",
    "forms": "textrec_cli.forms.commands",
}


def commands_of(module: str) -> dict[str, TyperCommand | TyperGroup]:
    """The click commands that `module.register` adds, by name."""
    holder = typer.Typer(pretty_exceptions_enable=False)
    importlib.import_module(module).register(holder)
    return dict(typer.main.get_group(holder).commands)


class _LazyCommands(TyperGroup):
    """`app`'s group: a command's module is imported and its commands built only when that
    command is asked for; listing (--help) or an unknown name (for click's "did you mean")
    loads every module. So a `predict` never pays for the trainers', evaluators' or rich
    tables' imports."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: set[str] = set()

    def get_command(self, ctx: typer.Context, cmd_name: str) -> TyperCommand | TyperGroup | None:
        self._load([COMMANDS[cmd_name]] if cmd_name in COMMANDS else COMMANDS.values())
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: typer.Context) -> list[str]:
        self._load(COMMANDS.values())
        order = {name: rank for rank, name in enumerate(COMMANDS)}
        return sorted(super().list_commands(ctx), key=lambda name: order.get(name, len(order)))

    def _load(self, modules: Iterable[str]) -> None:
        for module in [m for m in dict.fromkeys(modules) if m not in self._loaded]:
            self._loaded.add(module)
            for name, command in commands_of(module).items():
                self.commands.setdefault(name, command)


app = typer.Typer(
    cls=_LazyCommands,
    name="textrec",
    help="Handwriting recognition: download, synthesize, train, evaluate, predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"textrec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """textrec: read handwriting from images."""


def main() -> None:
    from textrec_cli.inference.quiet import quiet_tensorflow_imports

    quiet_tensorflow_imports()  # no TensorFlow/absl/CUDA lines on stderr, whichever command
    app()


if __name__ == "__main__":
    sys.exit(main())
