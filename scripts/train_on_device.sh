#!/usr/bin/env bash
# Train a line model under JAX on a lent GPU machine (no TensorFlow, no network there) and leave a
# textrec model folder in $OUT: model.keras (no optimizer state), metadata.json, metrics.json,
# history.csv, train.log. See README "Training on a lent GPU" for preparing and promoting.
#
#   bash scripts/train_on_device.sh [extra `textrec train` options]
#
# Environment (defaults in brackets): OUT (required), PACK [.travel/lines.h5], FONTS
# [.travel/fonts], CORPUS [.travel/corpus], BUDGET seconds of training [420], MODEL [line_tcn],
# MIX [synthetic_handwriting=0.35,real_lines=0.65], BATCH [64], STEPS per epoch [200],
# WORKERS drawing batches [14].
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder that comes back}"
PACK=${PACK:-.travel/lines.h5}
FONTS=${FONTS:-.travel/fonts}
CORPUS=${CORPUS:-.travel/corpus}
BUDGET=${BUDGET:-420}
MODEL=${MODEL:-line_tcn}
MIX=${MIX:-synthetic_handwriting=0.35,real_lines=0.65}
BATCH=${BATCH:-64}
STEPS=${STEPS:-200}
MAX_FILE=$((16 * 1024 * 1024))  # what may come back per file
python=${PYTHON:-python3}

# keras, namex, optree travel as wheels (.whl/); textrec itself runs from this checkout, and
# its other needs (numpy, pillow, h5py, scipy, rich, typer, pyyaml) are already installed there
site=${SITE_DIR:-/tmp/textrec-site}
if compgen -G ".whl/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" .whl/*.whl
  export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 WANDB_MODE=disabled TF_CPP_MIN_LOG_LEVEL=3
# batches are drawn by worker processes: synthesis is ~30 lines per CPU-second
export TEXTREC_DATA_WORKERS=${WORKERS:-14} COLUMNS=${COLUMNS:-160}  # wide log lines
export TEXTREC_DATA_DIR=${TEXTREC_DATA_DIR:-/tmp/textrec-data} TEXTREC_CORPUS_DIR=$CORPUS
for need in "$PACK" "$FONTS" "$CORPUS"; do
  [ -e "$need" ] || { echo "error: $need is missing (carry it; README: Training on a lent GPU)" >&2; exit 2; }
done

run=${RUN_DIR:-/tmp/textrec-run}
mkdir -p "$OUT"
"$python" - <<'PY' | tee "$OUT/train.log"
import jax
print("jax", jax.__version__, "devices:", jax.devices())
PY
"$python" -m textrec_cli.cli train --backend jax --model "$MODEL" --dataset mix --mix "$MIX" \
  --lines-dir "$PACK" --fonts-dir "$FONTS" --time-budget "$BUDGET" --batch-size "$BATCH" \
  --steps-per-epoch "$STEPS" --no-wandb --output "$run" --json "$@" 2>&1 | tee -a "$OUT/train.log"

# model.keras without optimizer state (a third of the size), as scripts/promote_model.py does
"$python" - "$run" "$OUT" "$MAX_FILE" <<'PY'
import json, shutil, sys
from pathlib import Path

import keras

run, out, limit = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
model = keras.saving.load_model(run / "model.keras", compile=False)
model.save(out / "model.keras")
metadata = json.loads((run / "metadata.json").read_text())
(out / "metadata.json").write_text(json.dumps(metadata, indent=2, ensure_ascii=False))
(out / "metrics.json").write_text(json.dumps(metadata.get("metrics", {}), indent=2))
if (run / "history.csv").is_file():
    shutil.copy(run / "history.csv", out / "history.csv")
for path in out.iterdir():
    if path.stat().st_size > limit:
        sys.exit(f"error: {path} is {path.stat().st_size} bytes, over the 16 MiB that come back")
print(json.dumps({p.name: p.stat().st_size for p in sorted(out.iterdir())}))
PY
