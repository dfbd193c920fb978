"""Summarise a fast-recipe run from its state file: print JSON and write RUN/campaign.json.

campaign.json is the committed, human-readable record of a campaign (lines seen, CPU hours,
sessions, the validation curve), so a diff shows what each session added.

    python -m textrec_cli.training.campaign_summary campaigns/line
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from textrec_cli.fileio import write_json
from textrec_cli.training.run_state import STATE_FILE, read_header


def summary(run_dir: Path) -> dict[str, Any]:
    config, counters = read_header(run_dir / STATE_FILE)
    return {
        "run": str(run_dir),
        "model": config.get("model"),
        "model_options": config.get("model_options"),
        "steps": counters.step,
        "lines_seen": counters.lines_seen,
        "cpu_hours": round(counters.cpu_seconds / 3600, 3),
        "wall_hours": round(counters.wall_seconds / 3600, 3),
        "sessions": counters.sessions,
        "best_val_cer": counters.best_val_cer,
        "best_step": counters.best_step,
        "last": counters.history[-1] if counters.history else None,
        "curve": counters.history,
    }


def main(argv: list[str] | None = None) -> None:
    run_dir = Path((argv or sys.argv[1:] or ["campaigns/line"])[0])
    if not (run_dir / STATE_FILE).is_file():
        print(json.dumps({"run": str(run_dir), "state": "none yet"}))
        return
    result = summary(run_dir)
    write_json(run_dir / "campaign.json", result)
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}))


if __name__ == "__main__":
    main()
