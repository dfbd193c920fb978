"""Drift monitoring on a simulated stream: false-alarm rate and detection delay per shift.

The bundled line model reads synthetic handwriting lines (the reference and the unshifted
stream), then four shifted streams (darker ink, inverted polarity, 3x larger images, Cyrillic).
Writes benchmarks/results/drift_detection.json.

    python benchmarks/drift_detection.py [--window 50] [--null-windows 100] [--check-every 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textrec_cli.fileio import write_json  # noqa: E402
from textrec_cli.inference.recognizer import Recognizer  # noqa: E402
from textrec_cli.monitoring.detection_trial import run_trial  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fonts-dir", type=Path, default=ROOT.parent / "shared" / "fonts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-size", type=int, default=500)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--null-windows", type=int, default=100)
    parser.add_argument("--check-every", type=int, default=1)
    parser.add_argument("--shift-requests", type=int, default=150)
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "drift_detection.json"
    )
    args = parser.parse_args()
    result = run_trial(
        Recognizer(None, "line"), args.fonts_dir, seed=args.seed,
        reference_size=args.reference_size, window=args.window, null_windows=args.null_windows,
        check_every=args.check_every, shift_requests=args.shift_requests,
    )  # fmt: skip
    result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count()}
    write_json(args.output, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
