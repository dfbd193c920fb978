"""benchmarks/common.py: the one timing loop, latency stats and the stamped, atomic result file.

Every benchmark's numbers pass through these, so a wrong percentile or a lost machine block
would mislabel every published result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_helpers import load_benchmark

from textrec_cli.stems.line import HEIGHT

common = load_benchmark("common")


def test_time_each_times_only_the_call_and_keeps_order() -> None:
    produced = []

    def items():  # producing an item is not part of the timed call
        for i in range(3):
            produced.append(i)
            yield i

    advanced = []
    results, seconds = common.time_each(lambda i: i * 10, items(), advanced.append)
    assert results == [0, 10, 20]
    assert len(seconds) == 3 and all(s >= 0 for s in seconds)
    assert produced == [0, 1, 2] and advanced == [1, 1, 1]


def test_latency_is_per_item_over_calls() -> None:
    # three batches: 32 lines in 0.32 s, 32 in 0.64 s, 16 in 0.16 s -> 10, 20, 10 ms/line
    stats = common.latency([0.32, 0.64, 0.16], [32, 32, 16])
    assert stats["p50_ms"] == 10.0
    assert stats["p95_ms"] == pytest.approx(19.0)
    assert stats["per_second"] == pytest.approx(80 / 1.12, abs=0.1)
    assert stats["calls"] == 3
    assert common.latency([0.5, 0.5], 1)["p50_ms"] == 500.0
    with pytest.raises(ValueError):
        common.latency([], 1)


def test_run_writes_a_stamped_result_and_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = common.argument_parser("demo", "Demo benchmark.\n\nMore text.").parse_args(
        ["--output", str(tmp_path / "out" / "demo.json"), "--note", "quiet"]
    )
    run = common.Run("demo", args.output, args.note)
    written = run.finish({"value": 1.5}, litert_threads=2)

    on_disk = json.loads(args.output.read_text())
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert on_disk == printed == written
    assert on_disk["benchmark"] == "demo" and on_disk["value"] == 1.5
    machine = on_disk["machine"]
    assert machine["note"] == "quiet" and machine["litert_threads"] == 2
    assert len(machine["load_average_before"]) == 3 and len(machine["load_average_after"]) == 3
    assert not list(args.output.parent.glob(".*tmp*"))  # the atomic write left no temp file


def test_defaults_come_from_the_code() -> None:
    args = common.argument_parser("demo", None).parse_args([])
    assert args.output == common.RESULTS / "demo.json"
    assert common.LINE_HEIGHT == HEIGHT
