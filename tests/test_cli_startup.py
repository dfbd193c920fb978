"""The CLI imports only the module of the invoked command (benchmarks/cli_startup.py times it):
`predict` loads no other command module and no rich, yet every command in cli.COMMANDS is
registered by the module named there and `--help` lists them all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cli_helpers import run_cli

from textrec_cli.cli import COMMANDS, commands_of

ROOT = Path(__file__).resolve().parents[1]
LINE = ROOT / "docs" / "examples" / "line_ms.png"


def test_every_command_is_registered_by_its_module_and_help_lists_all() -> None:
    package = ROOT / "textrec_cli"
    command_modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in package.rglob("*.py")
        if "\ndef register(" in path.read_text(encoding="utf-8")
    }
    assert command_modules == set(COMMANDS.values())  # no command module left out of the map
    registered = {name: module for module in command_modules for name in commands_of(module)}
    assert registered == COMMANDS  # each named module adds exactly its commands, no others
    result = run_cli("--help")
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ ")]
    listed = [row.split()[1] for row in rows if row[2:3].isalpha()]  # not options, not wraps
    assert listed == list(COMMANDS)


def test_commands_load_on_demand() -> None:
    assert run_cli("label-import", "--help").exit_code == 0
    typo = run_cli("label-imprt")  # an unknown name loads all, so click can suggest
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
    assert "textrec_cli.inference.commands" in modules
    assert not modules & (set(COMMANDS.values()) - {"textrec_cli.inference.commands"})
    assert not {m for m in modules if m == "rich" or m.startswith("rich.")}
    assert done.stderr == ""
