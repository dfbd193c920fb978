"""Save a transformer's encoder + CTC head as a stand-alone CTC line model (a line_tcn).

Joint CTC-attention training leaves a complete CTC recognizer inside every transformer run;
saved alone it exports to LiteRT, decodes with `--lm` and averages with other CTC models in an
ensemble, none of which the autoregressive decoder can.

    python scripts/ctc_head.py runs/transformer-... runs/transformer-ctc
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from textrec_cli.models.store import load_model, save_model  # noqa: E402
from textrec_cli.models.transformer import ctc_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    saved = load_model(args.run_dir)
    metadata = dict(saved.metadata)
    metadata.update(
        model="line_tcn", decoder="ctc", version=f"{saved.version}-ctc",
        ctc_head_of=str(args.run_dir),
    )  # fmt: skip
    metadata.pop("metrics", None)
    save_model(ctc_model(saved.model), args.output, metadata)
    print(json.dumps({"output": str(args.output), "version": metadata["version"]}))


if __name__ == "__main__":
    main()
