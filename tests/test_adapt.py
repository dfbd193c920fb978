"""`textrec adapt`: a tiny line model fine-tuned on a tiny labeled folder, end to end.

The base model is a small line_tcn built here (not trained: adapting must work mechanically on
any CTC line model); the lines are PIL-rendered (tests/line_fixture.py) plus lines with a
character no base model has, so the charset extension is exercised.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import json_lines, run_cli
from line_fixture import make_lines_folder, render

from textrec_cli.data.charsets import LINE_CHARSET
from textrec_cli.errors import InputError

NEW_CHAR = "Ξ"  # Berlioz's underline mark: in no bundled charset


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    from textrec_cli.models import build_model
    from textrec_cli.models.store import save_model

    keras.utils.set_random_seed(0)
    model = build_model("line_tcn", (40, None, 1), len(LINE_CHARSET), units=32, blocks=2)
    folder = tmp_path_factory.mktemp("base") / "tiny_tcn"
    metadata = {
        "version": "tiny_tcn", "task": "line", "model": "line_tcn", "charset": LINE_CHARSET,
        "input_shape": [40, None, 1], "decoder": "ctc",
        "preprocessing": "textrec_cli.stems.line.line_stem",
    }  # fmt: skip
    return save_model(model, folder, metadata)


def lines_with_new_char(folder: Path) -> Path:
    """The fixture folder (12 lines, 2 of them `val`) plus 3 train lines holding NEW_CHAR."""
    make_lines_folder(folder)
    rows = (folder / "labels.tsv").read_text(encoding="utf-8").splitlines()
    for k in range(3):
        name = f"lines/new_{k}.png"
        render(f"mot {k}").save(folder / name)
        rows.append(f"{name}\ttrain\t{NEW_CHAR}mot {k}{NEW_CHAR}")
    (folder / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_adapt_writes_a_model_folder_that_predict_reads(workdir: Path, base_model: Path) -> None:
    lines = lines_with_new_char(workdir / "mine")
    run = workdir / "adapted"
    result = run_cli(
        "adapt", lines, "--base", base_model, "--output", run, "--max-steps", "3",
        "--batch-size", "4", "--minutes", "5", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json_lines(result.stdout)[-1]
    assert report["added_chars"] == [NEW_CHAR]
    assert report["steps"] == 3 and report["stopped"] == "max_steps"
    # the fixture's two `val` rows are the held-back slice; the other 13 lines train
    assert report["held_back_lines"] == 2 and report["train_lines"] == 13
    assert all(name.startswith("val:") for name in report["held_back"])
    metadata = json.loads((run / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["charset"] == LINE_CHARSET + [NEW_CHAR]
    assert metadata["adapted_from"]["version"] == "tiny_tcn"
    assert metadata["adaptation"]["cpu_minutes"] > 0

    from textrec_cli.models.store import load_model

    saved = load_model(run)
    assert saved.model.output_shape[-1] == len(LINE_CHARSET) + 2  # + the new char + blank

    image = lines / "lines/new_0.png"
    for lm_flag in ("--no-lm", "--lm"):  # greedy, and beam search with the bundled LM
        result = run_cli("predict", image, "--model", run, "--mode", "line", "--json", lm_flag)
        assert result.exit_code == 0, result.stderr
        (prediction,) = json_lines(result.stdout)
        assert prediction["model_version"] == "adapted"
        assert isinstance(prediction["text"], str) and 0 <= prediction["confidence"] <= 1

    again = run_cli("adapt", lines, "--base", base_model, "--output", run, "--max-steps", "1")
    assert again.exit_code != 0 and "already holds a model" in again.stderr


def test_adapt_refuses_too_few_lines(workdir: Path, base_model: Path) -> None:
    folder = workdir / "few"
    (folder / "lines").mkdir(parents=True)
    rows = ["file\ttext"]
    for k in range(4):
        render(f"ligne {k}").save(folder / f"lines/{k}.png")
        rows.append(f"lines/{k}.png\tligne {k}")
    (folder / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_cli("adapt", folder, "--base", base_model, "--output", workdir / "run")
    assert result.exit_code == 2
    assert "4 usable labeled line(s)" in result.stderr and "at least 5" in result.stderr
    assert not (workdir / "run").exists()


def test_held_back_split_is_deterministic_and_prefers_val_rows() -> None:
    from textrec_cli.training.adapt import held_back_split

    ids = [f"lines/{k:03d}.png" for k in range(40)]
    train, held = held_back_split(ids, 0.2)
    assert len(held) == 8 and sorted(train + held) == list(range(40))
    reordered = ids[::-1]
    _, held_reordered = held_back_split(reordered, 0.2)
    # the same lines, whatever the order of labels.tsv
    assert {reordered[i] for i in held_reordered} == {ids[i] for i in held}
    marked = ids[:37] + ["val:a.png", "val:b.png", "val:c.png"]
    _, held_marked = held_back_split(marked, 0.2)
    assert held_marked == [37, 38, 39]
    with pytest.raises(InputError, match="at least 5"):
        held_back_split(ids[:4], 0.2)
    assert len(held_back_split(ids[:5], 0.2)[1]) == 2


def test_new_rows_leave_the_base_readings_unchanged(base_model: Path) -> None:
    """New output classes start rare: greedy paths over the old classes are the base model's."""
    from textrec_cli.models.store import load_model
    from textrec_cli.training.adapt import NEW_ROW_LOG_PRIOR, with_new_classes

    base = load_model(base_model).model
    extended = with_new_classes(base, 2)
    x = np.random.default_rng(0).integers(0, 255, (2, 40, 96, 1), dtype=np.uint8)
    before = np.asarray(base(x, training=False))
    after = np.asarray(extended(x, training=False))
    assert after.shape[-1] == before.shape[-1] + 2
    np.testing.assert_array_equal(after[..., :-2].argmax(-1), before.argmax(-1))
    assert (after[..., -2:].max(-1) < after[..., :-2].max(-1)).all()
    head = extended.layers[-1].get_weights()
    old = base.layers[-1].get_weights()
    np.testing.assert_allclose(head[1][-1], old[1][1:].mean() + NEW_ROW_LOG_PRIOR, rtol=1e-6)


def test_budget_frozen_layers_replay_and_average(workdir: Path, base_model: Path) -> None:
    """The budget ends a run; replay lines come only from `train` rows the charset spells;
    a frozen front end and (freeze_norm) the BatchNorm statistics stay the base model's while
    the rest trains; the weight average is what is kept."""
    import keras

    from textrec_cli.models.store import load_model
    from textrec_cli.training.adapt import (
        AdaptConfig,
        _ema_update,
        adapt_lines,
        read_lines_folder,
        read_replay_lines,
    )

    lines = read_lines_folder(make_lines_folder(workdir / "mine"), 40, show_progress=False)
    spent = AdaptConfig(minutes=1e-6, batch_size=4)
    _, metadata = adapt_lines(lines, base_model, None, spent, show_progress=False)
    assert metadata["adaptation"]["steps"] == 0 and metadata["adaptation"]["stopped"] == "budget"

    replay_dir = lines_with_new_char(workdir / "replay")  # 3 lines with NEW_CHAR, 2 `val`
    replay = read_replay_lines([replay_dir], 40, LINE_CHARSET, count=100)
    assert len(replay.texts) == 15 - 2 - 3
    assert all(set(t) <= set(LINE_CHARSET) for t in replay.texts)
    assert len(read_replay_lines([replay_dir], 40, LINE_CHARSET, count=4).texts) == 4
    with pytest.raises(InputError, match="no train lines"):
        read_replay_lines([replay_dir], 40, ["x"], count=4)

    frozen = AdaptConfig(minutes=5, batch_size=4, max_steps=4, eval_every=2, learning_rate=1e-2,
                         freeze_frontend=True, freeze_norm=True, replay=0.5, replay_lines=6,
                         ema=0.9)  # fmt: skip
    model, metadata = adapt_lines(
        lines, base_model, None, frozen, show_progress=False, replay_dirs=[replay_dir]
    )
    adaptation = metadata["adaptation"]
    assert adaptation["frozen_params"] > 0 and adaptation["replay_lines"] == 6
    assert adaptation["steps"] == 4 and adaptation["best_step"] > 0
    base = load_model(base_model).model
    first_conv = next(layer for layer in base.layers if layer.weights)
    same = model.get_layer(first_conv.name).get_weights()[0]
    np.testing.assert_array_equal(same, first_conv.get_weights()[0])
    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms
    for layer in norms:  # gamma, beta, moving mean and variance: untouched
        for kept, was in zip(model.get_layer(layer.name).get_weights(), layer.get_weights(),
                             strict=True):  # fmt: skip
            np.testing.assert_array_equal(kept, was)
    head = model.layers[-1].get_weights()[0]
    assert not np.array_equal(head, base.layers[-1].get_weights()[0])  # the rest did train

    ema = _ema_update(None, [np.ones(3, np.float32)], 0.9)
    ema = _ema_update(ema, [np.zeros(3, np.float32)], 0.9)
    np.testing.assert_allclose(ema[0], 0.9)


def test_adapted_lm_holds_the_collection_text(workdir: Path) -> None:
    from textrec_cli import settings
    from textrec_cli.training.adapt_lm import build_adapted_lm, repeats_for_share

    assert repeats_for_share(100, 9_700, 0.03) == 3
    assert repeats_for_share(0, 9_700, 0.03) == 0
    base_text = make_lines_folder(workdir / "base")
    meta = build_adapted_lm(
        ["Monsieur le Maire", "Veuillot écrit"], workdir / "lm", LINE_CHARSET,
        settings.BUNDLED_LM, base_lines_dirs=[base_text], use_corpus=False, share=0.3,
        show_progress=False,
    )  # fmt: skip
    assert (workdir / "lm" / "char_lm.binary").is_file()
    assert meta["sources"]["collection"]["lines"] == 2 * meta["adapted"]["repeats"]
    bundled = json.loads((settings.BUNDLED_LM / "lm.json").read_text(encoding="utf-8"))
    assert meta["lm_weight"] == bundled["lm_weight"]

    from textrec_cli.decoding.lm import load_lm_decoder

    decoder = load_lm_decoder(workdir / "lm", LINE_CHARSET)  # KenLM reads what was written
    assert decoder.lm_weight == bundled["lm_weight"]


def test_an_adapted_models_own_lm_replaces_the_bundled_one(tmp_path, monkeypatch):
    """`predict --model RUN` decodes with RUN/lm (from `adapt --lm-text`) wherever the bundled
    LM would have been used; an explicit --lm PATH or --no-lm still wins."""
    from textrec_cli import settings
    from textrec_cli.decoding.lm import own_lm

    run = tmp_path / "run"
    run.mkdir()
    assert own_lm(run, None) is None and own_lm(run, True) is True  # nothing of its own
    (run / "lm").mkdir()
    (run / "lm" / "lm.json").write_text("{}")
    monkeypatch.setattr(settings, "USE_LM", True)
    assert own_lm(run, None) == run / "lm"
    assert own_lm(run, True) == run / "lm"
    assert own_lm(run, False) is False
    assert own_lm(run, "other_lm") == "other_lm"
    monkeypatch.setattr(settings, "USE_LM", False)
    assert own_lm(run, None) is None  # LM decoding off by default: still off
