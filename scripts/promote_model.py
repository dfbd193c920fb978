"""Promote a trained run to the bundled model that ships in the wheel.

Re-saves the weights without optimizer state (a third of the size), and writes the run's
metadata plus the evaluation reports given, so the bundle says how it was made and how good it is.

    python scripts/promote_model.py runs/cnn-synthetic_chars-... --kind char \\
        --report reports/eval-synthetic_chars-test.json --note "trained with: textrec train ..."
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from textrec_cli import settings  # noqa: E402
from textrec_cli.fileio import atomic_dir  # noqa: E402
from textrec_cli.models.store import load_model, save_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--kind", choices=("char", "line", "detector"), required=True)
    parser.add_argument("--report", type=Path, action="append", default=[])
    parser.add_argument("--note", default="")
    args = parser.parse_args()

    saved = load_model(args.run_dir)
    target = {"line": settings.BUNDLED_LINE_MODEL, "detector": settings.BUNDLED_DETECTOR}.get(
        args.kind, settings.BUNDLED_CHAR_MODEL
    )
    metadata = dict(saved.metadata)
    created = str(metadata.get("created", ""))[:10]
    metadata["version"] = f"{target.name}-{created}" if created else target.name
    metadata["bundled_from"] = str(args.run_dir)
    metadata["how_trained"] = args.note
    metadata["evaluations"] = [json.loads(p.read_text()) for p in args.report]
    for evaluation in metadata["evaluations"]:
        evaluation.pop("worst", None)
        evaluation.pop("per_class", None)
    with atomic_dir(target) as tmp:
        save_model(saved.model, tmp, metadata)
    size = sum(f.stat().st_size for f in target.iterdir())
    print(json.dumps({"bundled": str(target), "bytes": size, "version": metadata.get("version")}))


if __name__ == "__main__":
    main()
