"""CI evaluation gate: the bundled models must stay as good and as fast as the repo says.

`benchmarks/gate.yaml` lists checks (model, held-out data, metric thresholds with a direction);
`python -m textrec_cli.evaluation.gate benchmarks/gate.yaml` (`nox -s evaluate`) scores the
models that are about to ship, prints a table and JSON, and exits 1 on any regression, so a
worse model cannot be promoted into the package unnoticed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from textrec_cli import settings
from textrec_cli.errors import TextrecError
from textrec_cli.fileio import write_json

MODELS = {"char": "BUNDLED_CHAR_MODEL", "line": "BUNDLED_LINE_MODEL"}  # names in settings.py
BOUNDS = ("min", "max")


@dataclass
class Outcome:
    check: str
    metric: str
    value: float | None
    bound: str  # min (higher is better) | max (lower is better)
    threshold: float
    passed: bool


def load_gate(path: str | Path) -> list[dict[str, Any]]:
    """The checks of a gate file; every problem is one line naming the file."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TextrecError(f"cannot read gate file {path}: {exc}") from None
    checks = config.get("checks") if isinstance(config, dict) else None
    if not isinstance(checks, list) or not checks:
        raise TextrecError(f"{path}: needs `checks:` (a list)")
    for check in checks:
        name = check.get("name", "?") if isinstance(check, dict) else "?"
        if not isinstance(check, dict) or check.get("model") not in MODELS:
            raise TextrecError(f"{path}: check {name!r} needs model: char or line")
        metrics = check.get("metrics")
        if not isinstance(metrics, dict) or not metrics:
            raise TextrecError(f"{path}: check {name!r} needs metrics: {{NAME: {{min|max: X}}}}")
        for metric, rule in metrics.items():
            ok = isinstance(rule, dict) and len(rule) == 1 and next(iter(rule)) in BOUNDS
            if not ok or not isinstance(next(iter(rule.values())), (int, float)):
                raise TextrecError(f"{path}: {name}.{metric} needs exactly one of min: X, max: X")
    return checks


def compare(check: str, measured: dict[str, Any], rules: dict[str, dict[str, float]]) -> list:
    """One Outcome per rule; a missing or non-finite value fails (never a pass by accident)."""
    outcomes = []
    for metric, rule in rules.items():
        bound, threshold = next(iter(rule.items()))
        value = measured.get(metric)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            outcomes.append(Outcome(check, metric, None, bound, threshold, False))
            continue
        passed = value >= threshold if bound == "min" else value <= threshold
        outcomes.append(Outcome(check, metric, float(value), bound, float(threshold), passed))
    return outcomes


def measure(check: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    """Evaluate the bundled model a check names on its held-out data; the evaluation report."""
    model = Path(getattr(settings, MODELS[check["model"]]))
    dataset, split = check["dataset"], check.get("split", "test")
    if check["model"] == "char":
        from textrec_cli.data import synthetic_chars
        from textrec_cli.evaluation.evaluate import evaluate

        if dataset == "synthetic_chars" and not synthetic_chars.processed_path(data_dir).exists():
            # only the held-out fonts matter: one training glyph per class keeps this quick
            per_eval = int(check.get("per_class_eval", 30))
            synthetic_chars.prepare(data_dir, settings.fonts_dir(), 1, per_eval, 0, 1, False)
        return evaluate(model, dataset, split, data_dir)
    from textrec_cli.evaluation.line_eval import evaluate_lines
    from textrec_cli.inference.line_reader import LineReader
    from textrec_cli.inference.recognizer import load_reader

    reader = load_reader(model)
    if not isinstance(reader, LineReader):
        raise TextrecError(f"{model} is not a line model")
    lines_dirs = [Path(p) for p in _as_list(check.get("lines_dir"))]
    for folder in lines_dirs:
        if not (folder / "labels.tsv").is_file():
            raise TextrecError(f"gate check {check['name']}: no labels.tsv in {folder}")
    return evaluate_lines(
        reader, dataset, split, data_dir, lines_dirs, settings.fonts_dir(), check.get("limit")
    )


def _as_list(value: Any) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def run_gate(checks: list[dict[str, Any]], data_dir: Path) -> dict[str, Any]:
    outcomes: list[Outcome] = []
    for check in checks:
        report = measure(check, data_dir)
        outcomes += compare(check["name"], report, check["metrics"])
    return {
        "passed": all(o.passed for o in outcomes),
        "failed": sum(not o.passed for o in outcomes),
        "models": {kind: str(getattr(settings, attr)) for kind, attr in MODELS.items()},
        "outcomes": [asdict(o) for o in outcomes],
    }


def print_table(result: dict[str, Any]) -> None:
    from rich.table import Table

    from textrec_cli.progress import stderr_console

    table = Table(title="evaluation gate")
    for column in ("check", "metric", "value", "must be", "result"):
        table.add_column(column)
    for o in result["outcomes"]:
        value = "missing" if o["value"] is None else f"{o['value']:.4g}"
        must = f"{'≥' if o['bound'] == 'min' else '≤'} {o['threshold']:g}"
        verdict = "[green]pass[/green]" if o["passed"] else "[bold red]FAIL[/bold red]"
        table.add_row(o["check"], o["metric"], value, must, verdict)
    stderr_console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gate", type=Path, help="gate file, e.g. benchmarks/gate.yaml")
    parser.add_argument("--output", type=Path, default=Path("reports/gate.json"))
    parser.add_argument("--data-dir", type=Path, help="held-out data (default: a temp dir)")
    args = parser.parse_args(argv)
    try:
        checks = load_gate(args.gate)
        with tempfile.TemporaryDirectory(prefix="textrec-gate-") as tmp:
            result = run_gate(checks, args.data_dir or Path(tmp))
    except TextrecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_json(args.output, result)
    print_table(result)
    print(json.dumps(result, ensure_ascii=False))
    passed = len(result["outcomes"]) - result["failed"]
    print(f"gate: {passed} passed, {result['failed']} failed")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
