"""`--lm`, `ensemble:` and attention models through predict, evaluate, export and serving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import json_lines, run_cli
from line_fixture import TEXTS, make_lines_folder, render

from textrec_cli import settings
from textrec_cli.errors import TextrecError
from textrec_cli.inference.line_reader import LineReader
from textrec_cli.inference.recognizer import load_reader
from textrec_cli.models import build_model
from textrec_cli.models.store import load_model, save_model
from textrec_cli.serving.export import export_model
from textrec_cli.serving.runtime import LineRuntime, load_exported
from textrec_cli.stems.line import line_stem

BUNDLED = settings.BUNDLED_LINE_MODEL


@pytest.fixture(scope="module")
def stems() -> list[np.ndarray]:
    return [line_stem(render(t)) for t in TEXTS]


def _texts(results: list[tuple[str, float]]) -> list[str]:
    return [t for t, _ in results]


def test_bundled_lm_is_tuned_and_changes_decoding_only_through_beam_search(stems) -> None:
    import json

    meta = json.loads((settings.BUNDLED_LM / "lm.json").read_text())
    assert meta["lm_weight"] is not None and meta["tuned_on"]["split"] == "val"
    plain = LineReader(load_model(BUNDLED))
    with_lm = load_reader(BUNDLED, lm=True)
    assert with_lm.lm is not None and plain.lm is None
    assert len(with_lm.read_stems(stems)) == len(stems)
    # weight 0 through the same decoder: plain greedy's texts
    from textrec_cli.decoding.lm import load_lm_decoder

    plain_lm = LineReader(load_model(BUNDLED), lm=load_lm_decoder(
        settings.BUNDLED_LM, plain.charset, lm_weight=0.0, word_score=0.0))  # fmt: skip
    assert _texts(plain_lm.read_stems(stems)) == _texts(plain.read_stems(stems))


def test_ctc_ensemble_exports_to_one_litert_graph(tmp_path: Path, stems) -> None:
    export = export_model(f"ensemble:{BUNDLED},{BUNDLED}", tmp_path / "ens")
    runtime = load_exported(export)
    assert isinstance(runtime, LineRuntime) and runtime.dynamic
    assert runtime.metadata["model"] == "ensemble" and len(runtime.metadata["members"]) == 2
    # the same runtime (numerics) on the single model: averaging identical posteriors is a no-op
    single = load_exported(export_model(BUNDLED, tmp_path / "single")).read_stems(stems)
    assert _texts(runtime.read_stems(stems)) == _texts(single)


def test_export_with_lm_decodes_like_the_keras_reader(tmp_path: Path, stems) -> None:
    export = export_model(BUNDLED, tmp_path / "lm_export", lm=settings.BUNDLED_LM)
    runtime = load_exported(export)
    assert runtime.lm is not None and (export / "lm" / "lm.json").is_file()
    keras_lm = load_reader(BUNDLED, lm=True)
    assert _texts(runtime.read_stems(stems)) == _texts(keras_lm.read_stems(stems))


def test_attention_models_refuse_litert_export_and_lm(tmp_path: Path) -> None:
    from textrec_cli.data.charsets import LINE_CHARSET

    model = build_model("transformer", (40, None, 1), len(LINE_CHARSET), units=16, blocks=1,
                        d_model=16, heads=2, ff=32, decoder_layers=1, max_len=16)  # fmt: skip
    meta = {"task": "line", "charset": LINE_CHARSET, "input_shape": [40, None, 1],
            "decoder": "attention", "version": "tiny-transformer"}  # fmt: skip
    source = save_model(model, tmp_path / "tr", meta)
    with pytest.raises(TextrecError, match="decodes by attention"):
        export_model(source, tmp_path / "out")
    with pytest.raises(TextrecError, match="--lm applies to CTC"):
        load_reader(source, lm=True)
    with pytest.raises(TextrecError, match="only CTC ensembles"):
        export_model(f"ensemble:{BUNDLED},{source}", tmp_path / "out2")


def test_cli_predict_and_evaluate_take_lm_and_ensembles(workdir: Path) -> None:
    image = workdir / "line.png"
    render("the cat sat").save(image)
    plain = json_lines(run_cli("predict", image, "--json", "--no-lm").stdout)[0]
    with_lm = run_cli("predict", image, "--json", "--lm")
    assert with_lm.exit_code == 0, with_lm.stderr
    assert json_lines(with_lm.stdout)[0]["mode"] == "line"
    ens = run_cli("predict", image, "--json", "--no-lm", "--model", f"ensemble:{BUNDLED},{BUNDLED}")
    assert ens.exit_code == 0, ens.stderr
    row = json_lines(ens.stdout)[0]
    assert row["text"] == plain["text"] and row["model_version"].startswith("ensemble(")

    lines = make_lines_folder(workdir / "lines", repeats=1)
    report = run_cli(
        "evaluate", f"ensemble:{BUNDLED},{BUNDLED}", "--dataset", "real_lines", "--lines-dir",
        lines, "--split", "train", "--lm", "--json", "--output", workdir / "r.json",
    )  # fmt: skip
    assert report.exit_code == 0, report.stderr
    assert json_lines(report.stdout)[0]["lines"] == len(TEXTS) - 1

    bad = run_cli("predict", image, "--model", "ensemble:line_tcn")
    assert bad.exit_code != 0 and "at least two" in bad.stderr
