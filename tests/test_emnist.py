"""EMNIST preparation from a fixture archive in the real `matlab.zip` layout."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from emnist_fixture import BAR_COLS, blob_origin, make_emnist_matlab_zip

from textrec_cli.data import emnist
from textrec_cli.data.charsets import EMNIST_BYCLASS
from textrec_cli.data.h5store import read_dataset
from textrec_cli.errors import InputError
from textrec_cli.fileio import sha256_file


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("emnist") / "matlab.zip"
    return make_emnist_matlab_zip(path, subsets=("byclass", "letters"))


def _prepare(data_dir: Path, source: Path, **kwargs: object) -> Path:
    return emnist.prepare(data_dir, source=source, show_progress=False, **kwargs)


def test_paths(tmp_path: Path) -> None:
    assert emnist.raw_path(tmp_path) == tmp_path / "raw" / "emnist" / "matlab.zip"
    assert emnist.processed_path(tmp_path) == tmp_path / "processed" / "emnist.h5"


def test_prepare_fixture_roundtrip(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _prepare(tmp_path, archive)
    assert out == emnist.processed_path(tmp_path)
    err = capsys.readouterr().err
    assert "not the published EMNIST archive" in err and len(err.splitlines()) == 1
    ds = read_dataset(out)
    assert ds.name == "emnist"
    assert ds.mapping == EMNIST_BYCLASS
    assert ds.input_shape == (28, 28, 1)
    sizes = {name: len(split.y) for name, split in ds.splits.items()}
    assert sizes == {"train": 62 * 5, "val": 62, "test": 62 * 2}
    for split in ds.splits.values():
        assert split.x.shape[1:] == (28, 28) and split.x.dtype == np.uint8
    # Stratified: every class keeps 5 training and gives exactly 1 validation image.
    assert np.bincount(ds.splits["val"].y, minlength=62).tolist() == [1] * 62
    assert np.bincount(ds.splits["train"].y, minlength=62).tolist() == [5] * 62
    assert ds.metadata["subset"] == "byclass"
    assert ds.metadata["archive_sha256"] == sha256_file(archive)
    assert ds.metadata["published_sha256_ok"] is False


def test_images_are_untransposed_and_match_labels(archive: Path, tmp_path: Path) -> None:
    ds = read_dataset(_prepare(tmp_path, archive))
    for split in ds.splits.values():
        # The constant bar runs along the top row, not down the left column.
        assert (split.x[:, 0, :BAR_COLS] == 255).all()
        assert (split.x[:, 5:BAR_COLS, 0] < 40).all()
        for image, label in zip(split.x, split.y, strict=True):
            row, col = blob_origin(int(label))
            assert image[row : row + 3, col : col + 3].min() >= 200
            if row != col:  # the transposed position stays dark
                assert image[col : col + 3, row : row + 3].max() < 40


def test_val_and_train_are_disjoint_and_seeded(archive: Path, tmp_path: Path) -> None:
    first = read_dataset(_prepare(tmp_path / "a", archive, seed=3))
    again = read_dataset(_prepare(tmp_path / "b", archive, seed=3))
    other = read_dataset(_prepare(tmp_path / "c", archive, seed=4))
    train = {img.tobytes() for img in first.splits["train"].x}
    val = {img.tobytes() for img in first.splits["val"].x}
    assert len(train) == 62 * 5 and len(val) == 62
    assert not train & val
    assert np.array_equal(first.splits["val"].x, again.splits["val"].x)
    assert not np.array_equal(first.splits["val"].x, other.splits["val"].x)


def test_labels_offset_from_one_map_to_indices(archive: Path, tmp_path: Path) -> None:
    ds = read_dataset(_prepare(tmp_path, archive, subset="letters"))
    assert ds.mapping == list("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert ds.splits["test"].y.min() == 0 and ds.splits["test"].y.max() == 25


def test_download_path_uses_mirrors_and_checksum(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = sha256_file(archive)
    monkeypatch.setattr(emnist, "URLS", [(tmp_path / "gone.zip").as_uri(), archive.as_uri()])
    monkeypatch.setattr(emnist, "SHA256", sha)
    out = emnist.prepare(tmp_path, show_progress=False)
    assert emnist.raw_path(tmp_path).read_bytes() == archive.read_bytes()
    ds = read_dataset(out)
    assert ds.metadata["published_sha256_ok"] is True
    assert ds.metadata["archive_sha256"] == sha


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="EMNIST archive not found"):
        _prepare(tmp_path, tmp_path / "nope.zip")


def test_not_a_zip(tmp_path: Path) -> None:
    bogus = tmp_path / "matlab.zip"
    bogus.write_text("<html>404 Not Found</html>")
    with pytest.raises(InputError, match="not a valid zip") as exc:
        _prepare(tmp_path, bogus)
    assert "\n" not in str(exc.value)


def test_truncated_zip(archive: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "matlab.zip"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(InputError, match="not a valid zip"):
        _prepare(tmp_path, truncated)


def test_missing_member_lists_subsets(archive: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no matlab/emnist-digits.mat") as exc:
        _prepare(tmp_path, archive, subset="digits")
    assert "subsets in it: byclass, letters" in str(exc.value)


def test_unreadable_mat(tmp_path: Path) -> None:
    bad = tmp_path / "matlab.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("matlab/emnist-byclass.mat", b"MATLAB 5.0 MAT-file, but then garbage" * 10)
    with pytest.raises(InputError, match="unreadable matlab/emnist-byclass.mat") as exc:
        _prepare(tmp_path, bad)
    assert "\n" not in str(exc.value)


def test_bad_val_fraction(archive: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="val_fraction"):
        _prepare(tmp_path, archive, val_fraction=1.0)


def test_failed_prepare_keeps_existing_output(archive: Path, tmp_path: Path) -> None:
    out = _prepare(tmp_path, archive)
    before = out.read_bytes()
    truncated = tmp_path / "bad.zip"
    truncated.write_bytes(archive.read_bytes()[:1000])
    with pytest.raises(InputError):
        _prepare(tmp_path, truncated)
    with pytest.raises(InputError):
        _prepare(tmp_path, archive, subset="balanced")
    assert out.read_bytes() == before
    leftovers = sorted(p.name for p in out.parent.iterdir())
    assert leftovers == ["emnist.h5"]
