#!/usr/bin/env bash
# The shipped line model's training campaign (campaigns/line): a fast-recipe run that never ends.
#   bash scripts/campaign.sh start    # resume it (or begin it) in the background, niced
#   bash scripts/campaign.sh stop     # SIGTERM: it finishes the step, saves state.h5, exits
#   bash scripts/campaign.sh status   # steps, lines seen, CPU hours, last validation
# Commit campaigns/line/state.h5 and campaign.json before a session ends; promote a bundle only
# when `nox -s evaluate` improves (README, "Training campaign").
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=campaigns/line
# the checkout's venv when the shell has none active (a fresh login after `pip install -e .`)
if [ -z "${TEXTREC:-}" ] && ! command -v textrec >/dev/null 2>&1 && [ -x .venv/bin/textrec ]; then
  TEXTREC=.venv/bin/textrec
fi
TEXTREC=${TEXTREC:-textrec}
case "${1:-status}" in
  start)
    if [ -f "$RUN/pid" ] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
      echo "campaign already running (pid $(cat "$RUN/pid"))"; exit 0
    fi
    if [ -f "$RUN/state.h5" ]; then
      args=(--resume --output "$RUN")
    else  # the campaign's recipe, fixed at its start and kept in state.h5 from then on
      args=(--model line_tcn --dataset mix --recipe fast --schedule rsqrt --warmup-steps 1000
        --mix synthetic_handwriting=0.25,real_lines=0.75 --lr 2e-3 --batch-size 32
        --lines-dir ../shared/data/copiste --lines-dir ../shared/data/htr_united
        --lines-dir ../shared/data/htr_united_more --synthetic-lines 10000
        --model-option frontend=strided --epochs 100000 --steps-per-epoch 500 --val-lines 150
        --patience 100000 --output "$RUN")
    fi
    nohup nice -n 10 "$TEXTREC" train "${args[@]}" --no-wandb >> "$RUN/train.log" 2>&1 &
    echo $! > "$RUN/pid"
    echo "campaign started (pid $!), log $RUN/train.log"
    ;;
  stop)
    if [ -f "$RUN/pid" ] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
      pid=$(cat "$RUN/pid")
      kill -TERM "$pid"
      while kill -0 "$pid" 2>/dev/null; do sleep 2; done
      echo "campaign stopped; state in $RUN/state.h5"
    else
      echo "campaign not running"
    fi
    rm -f "$RUN/pid"
    "$(dirname "$(command -v "$TEXTREC")")/python" -m textrec_cli.training.campaign_summary "$RUN"
    ;;
  status)
    "$(dirname "$(command -v "$TEXTREC")")/python" -m textrec_cli.training.campaign_summary "$RUN"
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
