"""The sweep configs shipped in docs/sweeps load, expand to real trials and name real options."""

from __future__ import annotations

from pathlib import Path

import pytest

from textrec_cli.models import LINE_MODELS
from textrec_cli.training.sweep import expand_trials, load_sweep, train_args

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "docs" / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_sweep_config_is_runnable(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from textrec_cli.cli import COMMANDS, commands_of

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    config = load_sweep(path)
    trials = expand_trials(config)
    assert len(trials) >= 8
    options = {o for p in commands_of(COMMANDS["train"])["train"].params for o in p.opts}
    options |= {f"--no-{o[2:]}" for o in options}
    for trial in trials:
        assert trial["model"] in LINE_MODELS
        assert {a for a in train_args(trial) if a.startswith("--")} <= options
        # the line trainer reports val_cer and val_cer_<source> for every source in the mix
        sources = {part.split("=")[0] for part in trial["mix"].split(",")}
        assert config["metric"]["name"] in {"val_cer", *(f"val_cer_{s}" for s in sources)}
