"""The dataset registry: one table that download, train, evaluate and the loaders all read."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli

from textrec_cli.data import registry
from textrec_cli.errors import TextrecError


@pytest.mark.parametrize("dataset", registry.ENTRIES, ids=lambda d: d.name)
def test_every_entry_names_a_module_that_can_prepare_it(dataset: registry.Dataset) -> None:
    module = dataset.load()
    assert getattr(module, "NAME", dataset.name) == dataset.name
    if dataset.prepared in ("download", "synth", "on_demand") and dataset.kind != "text":
        assert callable(module.processed_path)  # where loaders look for the prepared file
    if dataset.prepared == "download":
        fetch = inspect.signature(getattr(module, dataset.fetch)).parameters
        assert {"data_dir", "source", *dataset.options} <= set(fetch)


def test_kinds_list_every_dataset_once_in_table_order() -> None:
    lines = ("synthetic_handwriting", "real_lines", "emnist_lines", "iam_lines")
    assert registry.names("line") == lines
    assert registry.names("char") == ("emnist", "synthetic_chars")
    assert registry.names("page") == ("real_pages", "synthetic_pages")
    assert registry.download_names() == ("emnist", "iam", "corpus")
    assert registry.for_download("iam_lines").name == "iam_lines"


def test_wrong_kind_and_unknown_names_are_clear_errors(workdir: Path) -> None:
    from textrec_cli.data import load_char_dataset

    with pytest.raises(TextrecError, match="'iam_lines' is a line dataset, not a char one"):
        load_char_dataset("iam_lines", workdir / "data")
    with pytest.raises(
        TextrecError, match="unknown dataset 'klingon'; choose from: emnist, synthetic_chars$"
    ):
        registry.get("klingon", "char")


def test_download_says_how_each_local_dataset_is_made(workdir: Path) -> None:
    for name, hint in (
        ("synthetic_chars", "textrec synth-chars"),
        ("synthetic_handwriting", "generated during training"),
        ("real_lines", "--lines-dir"),
        ("real_pages", "--lines-dir"),
    ):
        result = run_cli("download", name)
        assert result.exit_code == 1 and hint in result.stderr, (name, result.stderr)
    result = run_cli("download", "nope")
    assert "unknown dataset 'nope'; choose emnist, iam, corpus" in result.stderr


def test_help_texts_list_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # rich would cut long names at 80 columns
    train_help = " ".join(run_cli("train", "--help").stdout.split())
    evaluate_help = " ".join(run_cli("evaluate", "--help").stdout.split())
    download_help = " ".join(run_cli("download", "--help").stdout.split())
    for kind in ("char", "line", "page"):
        assert all(name in train_help for name in registry.names(kind))
    assert all(name in evaluate_help for name in registry.names("line"))
    assert "iam (IAM lines)" in download_help


def test_synthetic_handwriting_built_once_as_before(
    workdir: Path, shared_fonts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The evaluator's and the trainer's generators draw exactly what their own code drew."""
    import zipfile

    from textrec_cli.data import synthetic_handwriting
    from textrec_cli.data.charsets import LINE_CHARSET
    from textrec_cli.data.corpus import TextSampler, corpus_zips, load_sentences
    from textrec_cli.evaluation.line_eval import line_pairs
    from textrec_cli.training.line_train import LineTrainConfig, build_sources

    corpus = workdir / "corpus"  # a tiny corpus: the full ones take seconds to read
    corpus.mkdir()
    with zipfile.ZipFile(corpus / "inaugural.zip", "w") as zf:
        zf.writestr("inaugural/1789.txt", "Fellow citizens of the Senate. We met here today.\n" * 5)
    monkeypatch.setenv("TEXTREC_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("TEXTREC_CORPORA", "inaugural")
    sentences = load_sentences(corpus_zips(corpus))
    old_eval = synthetic_handwriting.for_split(
        "test", shared_fonts, TextSampler(sentences, min_chars=4, max_chars=64), 40
    )
    rng = np.random.default_rng((2024, 2))
    want = [old_eval.sample(rng) for _ in range(3)]
    images, texts = line_pairs("synthetic_handwriting", "test", workdir, 40, None, shared_fonts, 3)
    assert texts == [t for _, t in want]
    assert all(np.array_equal(a, b) for a, (b, _) in zip(images, want, strict=True))

    config = LineTrainConfig(mix={"synthetic_handwriting": 1.0}, val_lines=2, seed=3)
    old_texts = TextSampler(sentences, LINE_CHARSET, min_chars=4, max_chars=64, seed=3)
    old_val = synthetic_handwriting.for_split("val", shared_fonts, old_texts, config.height)
    rng = np.random.default_rng(12345)
    want = [old_val.sample(rng) for _ in range(2)]
    train, val = build_sources(config, workdir, shared_fonts)
    assert [t for _, t in val["synthetic_handwriting"]] == [t for _, t in want]
    assert (
        train["synthetic_handwriting"].fonts
        == synthetic_handwriting.for_split("train", shared_fonts, old_texts).fonts
    )
    with pytest.raises(TextrecError, match="needs fonts"):
        build_sources(config, workdir, None)


def test_detector_train_gets_every_page_folder_and_init_from(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textrec_cli.training import detector_train

    seen = []
    monkeypatch.setattr(
        detector_train, "train_detector", lambda config, *args: seen.append(config) or {}
    )
    args = "--model line_detector --dataset real_pages --lines-dir a --lines-dir b --init-from x"
    result = run_cli("train", *args.split(), "--no-wandb", "--json")
    assert result.exit_code == 0, result.stderr
    assert seen[0].pages_dirs == ["a", "b"] and seen[0].init_from == "x"
