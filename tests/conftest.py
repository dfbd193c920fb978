"""Shared fixtures: an isolated data/runs dir per test and a tiny EMNIST prepared from a fixture."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("WANDB_SILENT", "true")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_FONTS = SHARED / "fonts"


def pytest_report_header() -> str:
    """Say which Keras backend runs (`nox -s tests_jax` sets KERAS_BACKEND=jax)."""
    return f"keras backend: {os.environ.get('KERAS_BACKEND', 'tensorflow')}"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a temp dir with textrec's data and runs redirected there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEXTREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TEXTREC_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    return tmp_path


@pytest.fixture(scope="session")
def emnist_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emnist_fixture import make_emnist_matlab_zip

    path = tmp_path_factory.mktemp("emnist") / "matlab.zip"
    return make_emnist_matlab_zip(path, n_per_class_train=8, n_per_class_test=3)


@pytest.fixture(scope="session")
def shared_fonts() -> Path:
    if not SHARED_FONTS.is_dir():
        pytest.fail(f"../shared/fonts is missing (expected at {SHARED_FONTS}); tests need it")
    return SHARED_FONTS


@pytest.fixture
def shared_corpus(monkeypatch: pytest.MonkeyPatch) -> Path:
    corpus = SHARED / "corpus"
    if not corpus.is_dir():
        pytest.fail(f"../shared/corpus is missing (expected at {corpus}); tests need it")
    monkeypatch.setenv("TEXTREC_CORPUS_DIR", str(corpus))
    return corpus


def _validating(write):
    """`write` (to_alto / to_pagexml) whose every document is checked against the official XSD."""
    import functools

    @functools.wraps(write)
    def wrapper(*args, **kwargs):
        from xml_schemas import assert_valid

        data = write(*args, **kwargs)
        assert_valid(data)
        return data

    return wrapper


# Every ALTO / PAGE-XML document a test writes in-process (fixtures, `predict --format` through
# run_cli, write_page_file) goes through these; subprocess runs validate their files explicitly.
from textrec_cli.data import page_xml as _page_xml  # noqa: E402

_page_xml.to_alto = _validating(_page_xml.to_alto)
_page_xml.to_pagexml = _validating(_page_xml.to_pagexml)
