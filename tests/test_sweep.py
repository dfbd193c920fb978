"""Sweeps: config checks, grid/random expansion, a real offline sweep, the W&B wiring (faked)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from cli_helpers import run_cli

from textrec_cli.errors import TextrecError
from textrec_cli.training import sweep
from textrec_cli.training.sweep import Trial, expand_trials, load_sweep, rank_trials, run_sweep


def _config(method: str = "grid", **parameters) -> dict:
    return {
        "name": "t",
        "method": method,
        "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": parameters,
    }


def test_grid_is_the_cartesian_product() -> None:
    config = _config(
        lr={"values": [1e-3, 3e-3, 1e-2]}, augment={"values": [0, 0.5]}, model={"value": "mlp"}
    )
    trials = expand_trials(config)
    assert len(trials) == 6
    assert {(t["lr"], t["augment"]) for t in trials} == {
        (lr, a) for lr in (1e-3, 3e-3, 1e-2) for a in (0, 0.5)
    }
    assert all(t["model"] == "mlp" and set(t) == {"lr", "augment", "model"} for t in trials)
    assert expand_trials(config, count=4) == trials[:4]


def test_grid_refuses_distributions() -> None:
    config = _config(lr={"distribution": "uniform", "min": 0.1, "max": 0.2})
    with pytest.raises(TextrecError, match="grid needs `values`"):
        expand_trials(config)


def test_random_draws_are_seeded_and_within_bounds() -> None:
    config = _config(
        "random",
        lr={"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
        augment={"distribution": "uniform", "min": 0, "max": 1.5},
        epochs={"min": 1, "max": 3},  # ints without a distribution: int_uniform, as in W&B
        batch_size={"distribution": "q_uniform", "min": 32, "max": 256, "q": 32},
        balance={"values": ["sampling", "weights", "none"]},
        model={"value": "mlp"},
    )
    trials = expand_trials(config, count=300, seed=1)
    assert len(trials) == 300
    assert trials == expand_trials(config, count=300, seed=1)
    assert trials != expand_trials(config, count=300, seed=2)
    lrs = [t["lr"] for t in trials]
    assert all(1e-4 <= v <= 1e-2 for v in lrs)
    # log-uniform: about a half of the draws below the geometric middle (1e-3)
    assert 0.35 < sum(v < 1e-3 for v in lrs) / len(lrs) < 0.65
    assert all(0 <= t["augment"] <= 1.5 for t in trials)
    assert {t["epochs"] for t in trials} == {1, 2, 3}
    assert all(isinstance(t["epochs"], int) for t in trials)
    sizes = {t["batch_size"] for t in trials}
    assert sizes <= {32, 64, 96, 128, 160, 192, 224, 256} and len(sizes) > 4
    assert all(isinstance(s, int) for s in sizes)
    assert {t["balance"] for t in trials} == {"sampling", "weights", "none"}
    assert {t["model"] for t in trials} == {"mlp"}


def test_random_count_defaults_to_run_cap() -> None:
    config = _config("random", lr={"values": [1, 2]})
    assert len(expand_trials(config)) == 10
    assert len(expand_trials({**config, "run_cap": 3})) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("method: grid\nparameters: [\n", "not valid YAML at line"),
        ("- just\n- a list\n", "a sweep config is a mapping"),
        ("method: hyperband\nmetric: {name: m}\nparameters: {lr: {value: 1}}", "method must be"),
        ("method: grid\nparameters: {lr: {value: 1}}", "needs `metric:"),
        ("method: grid\nmetric: {name: m, goal: up}\nparameters: {lr: {value: 1}}", "goal"),
        ("method: grid\nmetric: {name: m}\nparameters: {}", "needs `parameters:`"),
        ("method: grid\nmetric: {name: m}\nparameters: {output: {value: x}}", "set by the sweep"),
        ("method: grid\nmetric: {name: m}\nparameters: {lr: 0.1}", "needs value, values"),
        (
            "method: random\nmetric: {name: m}\nparameters: {lr: {distribution: beta}}",
            "unknown distribution 'beta'",
        ),
        (
            "method: random\nmetric: {name: m}\n"
            "parameters: {lr: {distribution: uniform, min: 2, max: 1}}",
            "min is above max",
        ),
        ("method: bayes\nmetric: {name: m}\nparameters: {lr: {value: 1}}", "needs the W&B sweep"),
    ],
)
def test_bad_configs_give_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(TextrecError, match=message) as info:
        load_sweep(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_file_and_good_file(tmp_path: Path) -> None:
    with pytest.raises(TextrecError, match="sweep config not found"):
        load_sweep(tmp_path / "nope.yaml")
    path = tmp_path / "lr-search.yaml"
    path.write_text("method: grid\nmetric: {name: val_accuracy}\nparameters: {lr: {value: 1}}\n")
    assert load_sweep(path)["name"] == "lr-search"  # named after the file unless it says


def test_example_sweep_loads() -> None:
    example = Path(__file__).resolve().parents[1] / "docs" / "sweep.example.yaml"
    config = load_sweep(example)
    assert config["parameters"]["model"]["value"] == "crnn"
    assert len(expand_trials(config)) == 9


def test_parameters_become_train_options() -> None:
    args = sweep.train_args(
        {"lr": 0.001, "batch_size": 64, "wandb": False, "lines-dir": ["a", "b"], "mix": None}
    )
    assert args == ["--lr", "0.001", "--batch-size", "64", "--no-wandb"] + [
        "--lines-dir", "a", "--lines-dir", "b",
    ]  # fmt: skip


def test_workers_spread_over_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    gpus = sweep.gpu_ids()
    assert gpus == ["2", "3"]
    envs = [sweep.worker_env(slot, 3, gpus) for slot in range(3)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["2", "3", "2"]
    assert envs[0]["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"  # 3 workers share 2 GPUs
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setattr(sweep.shutil, "which", lambda name: None)
    assert sweep.gpu_ids() == []
    assert "CUDA_VISIBLE_DEVICES" not in sweep.worker_env(0, 2, [])


def test_ranking_puts_crashes_last() -> None:
    trials = [
        Trial("a", {}, "failed", error="boom"),
        Trial("b", {}, "ok", metric=0.2),
        Trial("c", {}, "ok", metric=None),
        Trial("d", {}, "ok", metric=0.9),
    ]
    assert [t.name for t in rank_trials(trials, "maximize")] == ["d", "b", "c", "a"]
    assert [t.name for t in rank_trials(trials, "minimize")] == ["b", "d", "c", "a"]
    assert [t.rank for t in rank_trials(trials, "minimize")] == [1, 2, 3, 4]


def test_offline_sweep_runs_ranks_and_survives_a_crash(workdir: Path, emnist_zip: Path) -> None:
    assert run_cli("download", "emnist", "--from", emnist_zip).exit_code == 0
    config = _config(
        model={"values": ["mlp", "no_such_model"]},
        lr={"values": [0.003, 0.03]},
        dataset={"value": "emnist"},
        epochs={"value": 1},
        augment={"value": 0},
    )
    results = run_sweep(
        config,
        workers=2,
        data_dir=workdir / "data",
        runs_root=workdir / "runs",
        extra_args=["--max-train-samples", "100"],
        online=False,
    )
    trials = results["trials"]
    assert len(trials) == 4
    assert results == json.loads((workdir / "runs" / "sweep-t" / "results.json").read_text())
    ok, failed = trials[:2], trials[2:]
    assert [t["status"] for t in ok] == ["ok", "ok"]
    assert {t["params"]["model"] for t in ok} == {"mlp"}
    assert {t["params"]["lr"] for t in ok} == {0.003, 0.03}
    for t in ok:  # each trial's own record agrees with the sweep's
        metadata = json.loads((Path(t["run_dir"]) / "metadata.json").read_text())
        assert metadata["metrics"]["val_accuracy"] == pytest.approx(t["metric"])
        assert metadata["config"]["learning_rate"] == t["params"]["lr"]
        assert metadata["config"]["max_train_samples"] == 100
    assert ok[0]["metric"] >= ok[1]["metric"]
    assert results["best"] == ok[0]
    for t in failed:
        assert t["status"] == "failed" and t["params"]["model"] == "no_such_model"
        assert "unknown model" in t["error"] and t["metric"] is None
    assert [t["rank"] for t in trials] == [1, 2, 3, 4]
    assert results["completed"] == 2 and results["failed"] == 2


class _FakeRun:
    def __init__(self, run_id: str, state: str, lr: float, acc: float | None) -> None:
        self.id, self.state, self.url = run_id, state, f"https://wandb.ai/x/{run_id}"
        self.config = {"lr": lr, "model": "mlp"}
        self.summary_metrics = {} if acc is None else {"val_accuracy": acc, "epochs_run": 1}


class _FakeProc:
    def __init__(self, cmd, env, **kwargs) -> None:
        _FakeProc.started.append((cmd, env))

    def poll(self) -> int:
        return 0


def test_online_sweep_goes_through_wandb_agents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: dict = {}
    runs = [_FakeRun("r1", "finished", 0.01, 0.4), _FakeRun("r2", "crashed", 0.1, None)]
    runs.append(_FakeRun("r3", "finished", 0.001, 0.7))
    api = types.SimpleNamespace(
        default_entity="me", sweep=lambda path: types.SimpleNamespace(runs=runs)
    )
    fake_wandb = types.SimpleNamespace(
        sweep=lambda config, project, entity: (
            created.update(config=config, project=project) or "abc123"
        ),
        Api=lambda: api,
    )
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    _FakeProc.started = []
    monkeypatch.setattr(sweep.subprocess, "Popen", _FakeProc)
    config = _config("bayes", lr={"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1})
    results = run_sweep(
        config, 2, tmp_path / "data", tmp_path / "runs", count=5, extra_args=["--epochs", "1"],
        online=True,
    )  # fmt: skip
    sent = created["config"]
    assert sent["run_cap"] == 5 and sent["parameters"] == config["parameters"]
    assert sent["command"][3:] == [
        "textrec_cli.training.sweep", "t", "${args_json}", "--epochs", "1",
    ]  # fmt: skip
    assert len(_FakeProc.started) == 2
    for slot, (cmd, env) in enumerate(_FakeProc.started):
        assert cmd[1:] == ["-m", "wandb", "agent", "--count", "3", "me/textrec/abc123"]
        assert env["CUDA_VISIBLE_DEVICES"] == str(slot)
        assert env["TEXTREC_DATA_DIR"] == str(tmp_path / "data")
    assert results["sweep_id"] == "me/textrec/abc123"
    assert [t["name"] for t in results["trials"]] == ["trial-r3", "trial-r1", "trial-r2"]
    assert results["trials"][2]["status"] == "failed"


def test_agent_trial_runs_train_in_its_own_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEXTREC_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("WANDB_RUN_ID", "xyz")
    calls = []
    monkeypatch.setattr(sweep.os, "execv", lambda exe, argv: calls.append(argv))
    sweep.agent_trial(["t", json.dumps({"lr": 0.01, "batch_size": 64}), "--epochs", "1"])
    argv = calls[0]
    assert argv[1:4] == ["-m", "textrec_cli", "train"]
    assert argv[4:10] == ["--lr", "0.01", "--batch-size", "64", "--epochs", "1"]
    assert argv[argv.index("--output") + 1] == str(tmp_path / "runs" / "sweep-t" / "trial-xyz")
