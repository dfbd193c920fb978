"""The evaluation gate's comparison: a regression fails, so does a missing metric or a bad file.

The real gate (bundled models on held-out data) runs as `nox -s evaluate` in CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from textrec_cli.errors import TextrecError
from textrec_cli.evaluation import gate

REPO = Path(__file__).resolve().parents[1]
RULES = {"cer": {"max": 0.4}, "accuracy": {"min": 0.75}, "ms_per_line": {"max": 200}}


def test_within_thresholds_passes() -> None:
    outcomes = gate.compare("c", {"cer": 0.35, "accuracy": 0.75, "ms_per_line": 80.0}, RULES)
    assert [o.passed for o in outcomes] == [True, True, True]  # the threshold itself passes


@pytest.mark.parametrize(
    ("measured", "failing"),
    [
        ({"cer": 0.41, "accuracy": 0.8, "ms_per_line": 80}, "cer"),  # worse CER
        ({"cer": 0.3, "accuracy": 0.74, "ms_per_line": 80}, "accuracy"),  # worse accuracy
        ({"cer": 0.3, "accuracy": 0.8, "ms_per_line": 201}, "ms_per_line"),  # slower
        ({"cer": 0.3, "accuracy": 0.8}, "ms_per_line"),  # not measured
        ({"cer": float("nan"), "accuracy": 0.8, "ms_per_line": 1}, "cer"),
        ({"cer": 0.3, "accuracy": True, "ms_per_line": 1}, "accuracy"),
    ],
)
def test_a_regression_fails(measured: dict, failing: str) -> None:
    outcomes = gate.compare("c", measured, RULES)
    assert [o.metric for o in outcomes if not o.passed] == [failing]


def test_main_exits_non_zero_on_regression(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(
        "checks:\n"
        "  - {name: lines, model: line, dataset: real_lines, metrics: {cer: {max: 0.4}}}\n"
        "  - {name: chars, model: char, dataset: synthetic_chars,\n"
        "     metrics: {accuracy: {min: 0.7}}}\n"
    )
    scores = {"lines": {"cer": 0.3}, "chars": {"accuracy": 0.8}}
    monkeypatch.setattr(gate, "measure", lambda check, data_dir: scores[check["name"]])
    out = tmp_path / "gate.json"
    assert gate.main([str(path), "--output", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "gate: 2 passed, 0 failed"
    scores["lines"]["cer"] = 0.5
    assert gate.main([str(path), "--output", str(out)]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == "gate: 1 passed, 1 failed"
    result = json.loads(out.read_text())
    assert result == json.loads(printed[-2]) and result["passed"] is False
    assert [o["check"] for o in result["outcomes"] if not o["passed"]] == ["lines"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("checks: []", "needs `checks:`"),
        ("checks: [{name: a, model: page, metrics: {cer: {max: 1}}}]", "model: char or line"),
        ("checks: [{name: a, model: line}]", "needs metrics"),
        ("checks: [{name: a, model: line, metrics: {cer: {below: 1}}}]", "one of min: X, max: X"),
        ("checks: [{name: a, model: line, metrics: {cer: {min: 1, max: 2}}}]", "one of min"),
    ],
)
def test_bad_gate_files_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(text)
    with pytest.raises(TextrecError, match=message):
        gate.load_gate(path)


def test_the_repo_gate_checks_both_bundled_models() -> None:
    checks = gate.load_gate(REPO / "benchmarks" / "gate.yaml")
    assert {c["model"] for c in checks} == {"char", "line"}
    metrics = {m for c in checks for m in c["metrics"]}
    assert {"accuracy", "cer", "ms_per_line"} <= metrics
    for check in checks:  # held-out splits only
        assert check.get("split") in ("val", "test")
