"""Run the real `textrec` Typer app in-process (TensorFlow loads once per test session)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from textrec_cli.cli import app

_runner = CliRunner()


def run_cli(*args: str):
    """Invoke `textrec ARGS`; the result has exit_code, stdout and stderr."""
    return _runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip().startswith("{")]
