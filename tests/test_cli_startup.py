"""The CLI builds and imports only what the invoked command needs (benchmarks/cli_startup.py
times it): `predict` loads no other command module and no rich, yet every command still runs
and `--help` lists them all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cli_helpers import run_cli

from textrec_cli.cli import COMMAND_MODULES, _app_for, app

ROOT = Path(__file__).resolve().parents[1]
LINE = ROOT / "docs" / "examples" / "line_ms.png"


def _names(typer_app) -> list[str]:
    return [c.name or c.callback.__name__.replace("_", "-") for c in typer_app.registered_commands]


def test_only_the_invoked_core_command_is_built() -> None:
    assert _names(_app_for(["predict", "--json", "x.png"])) == ["predict"]
    assert _names(_app_for(["--version"])) == _names(app)  # no command: the whole app
    assert _app_for(["label-export", "out"]) is app  # a module's command: loaded on demand
    assert _app_for(["no-such-command"]) is app  # click names it (and suggests)


def test_module_commands_load_on_demand_and_help_lists_all() -> None:
    result = run_cli("--help")
    assert result.exit_code == 0
    for command in ("predict", "serve", "label-import", "monitor", "read"):
        assert command in result.stdout
    assert run_cli("label-import", "--help").exit_code == 0
    typo = run_cli("label-imprt")
    assert typo.exit_code != 0 and "label-import" in typo.output


def test_predict_imports_no_other_command_and_no_rich() -> None:
    script = (
        "import sys; sys.argv = ['textrec', 'predict', '--json', '--mode', 'line', sys.argv[1]]\n"
        "from textrec_cli.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(__import__('json').dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", script, str(LINE)], capture_output=True,
                          text=True, cwd=ROOT, check=True, timeout=120)  # fmt: skip
    first, last = done.stdout.splitlines()[0], done.stdout.splitlines()[-1]
    assert json.loads(first)["text"]
    modules = set(json.loads(last))
    assert not modules & set(COMMAND_MODULES)
    assert not {m for m in modules if m == "rich" or m.startswith("rich.")}
    assert done.stderr == ""
