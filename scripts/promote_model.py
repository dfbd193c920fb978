"""Promote a trained run to the bundled model that ships in the wheel.

Re-saves the weights without optimizer state (a third of the size), and writes the run's
metadata plus the evaluation reports given, so the bundle says how it was made and how good it is.
Then exports the bundle's LiteRT form into its `litert/` folder (`textrec export`, no LM: the
bundled LM is attached at load), which `textrec predict` reads without TensorFlow.

    python scripts/promote_model.py runs/cnn-synthetic_chars-... --kind char \\
        --report reports/eval-synthetic_chars-test.json --note "trained with: textrec train ..."
    python scripts/promote_model.py --kind line --litert-only  # re-export the bundled model
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from textrec_cli import settings  # noqa: E402
from textrec_cli.fileio import atomic_dir  # noqa: E402
from textrec_cli.inference.litert import LITERT_DIR  # noqa: E402
from textrec_cli.models.store import load_model, save_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, nargs="?")
    parser.add_argument("--kind", choices=("char", "line", "detector"), required=True)
    parser.add_argument("--report", type=Path, action="append", default=[])
    parser.add_argument("--note", default="")
    parser.add_argument(
        "--litert-only", action="store_true", help="Only re-export the bundled model's LiteRT form."
    )
    args = parser.parse_args()
    target = {"line": settings.BUNDLED_LINE_MODEL, "detector": settings.BUNDLED_DETECTOR}.get(
        args.kind, settings.BUNDLED_CHAR_MODEL
    )
    if args.litert_only:
        print(json.dumps(export_litert(target)))
        return
    if args.run_dir is None:
        parser.error("run_dir is required (unless --litert-only)")
    saved = load_model(args.run_dir)
    metadata = dict(saved.metadata)
    # a campaign checkpoint carries no "created": the promotion date names the version then
    metadata.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    created = str(metadata["created"])[:10]
    metadata["version"] = f"{target.name}-{created}" if created else target.name
    step = (metadata.get("metrics") or {}).get("step")
    if step is not None:  # a campaign checkpoint: two promotions on one day stay apart
        metadata["version"] += f"-s{step}"
    metadata["bundled_from"] = str(args.run_dir)
    metadata["how_trained"] = args.note
    metadata["evaluations"] = [json.loads(p.read_text()) for p in args.report]
    for evaluation in metadata["evaluations"]:
        evaluation.pop("worst", None)
        evaluation.pop("per_class", None)
    with atomic_dir(target) as tmp:
        save_model(saved.model, tmp, metadata)
    litert = export_litert(target)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    print(json.dumps({"bundled": str(target), "bytes": size, "version": metadata.get("version"),
                      "litert": litert}))  # fmt: skip


def export_litert(target: Path) -> dict:
    """`textrec export` of the bundled model into target/litert (skipped for models LiteRT cannot
    run: the attention decoder stays on Keras); serving's exports add the LM and drift reference
    from the bundle (`serving/export.py` cached_export)."""
    from textrec_cli.errors import TextrecError
    from textrec_cli.serving.export import export_model

    try:
        folder = export_model(target, target / LITERT_DIR)
    except TextrecError as exc:
        return {"skipped": str(exc)}
    (folder / "reference.json").unlink(missing_ok=True)  # the model folder's own is the one read
    return {"folder": str(folder), "bytes": sum(f.stat().st_size for f in folder.iterdir())}


if __name__ == "__main__":
    main()
